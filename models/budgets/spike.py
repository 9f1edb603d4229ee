"""Spend spikes: is a day's spend far above a robust baseline of the four weeks before it?

Plain `statistics` on 28 floats, not numpy: every alert pass (and so every `spendsight ingest`)
checks spikes, and this keeps numpy's import (0.45 s, measured with -X importtime) off the command
line's path for orgs without limits. np.median and statistics.median agree bit for bit here (the
middle value, or the two middle values' sum halved).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from statistics import median

from models.units import MICRO

SPIKE_MIN_USD = Decimal(1)


@dataclass(frozen=True)
class Spike:
    day: date
    spend: Decimal
    baseline: Decimal  # typical spend for that weekday
    threshold: Decimal  # what counted as a spike

    @property
    def ratio(self) -> float:
        return float(self.spend / self.baseline) if self.baseline else float("inf")


def detect_spike(daily: Mapping[date, Decimal], day: date, baseline_days: int = 28) -> Spike | None:
    """Is `day`'s spend far above a robust baseline of the weeks before it?

    Baseline: the median of the previous `baseline_days` days, scaled by this weekday's usual share;
    a spike is more than max(2x baseline, baseline + 6 robust deviations) and at least $1. `day` may
    be today (partial): a day already past the bar counts.
    """
    before = [day - timedelta(days=k) for k in range(baseline_days, 0, -1)]
    values = [float(daily.get(d, 0)) for d in before]
    if sum(1 for v in values if v) < baseline_days // 2:
        return None  # a new or sporadic org has no baseline yet: its ramp-up is not a spike
    middle = median(values)
    same = [v for d, v in zip(before, values) if d.weekday() == day.weekday()]
    baseline = median(same) if len(same) >= 2 else middle
    baseline = max(baseline, middle * 0.25)
    mad = _mad_sigma([v / max(middle, 1e-9) for v in values]) * baseline
    bar = max(2.0 * baseline, baseline + 6.0 * mad)
    spend = Decimal(daily.get(day, 0))
    if spend < SPIKE_MIN_USD or float(spend) <= bar:
        return None
    return Spike(day, spend, _dec(baseline), _dec(bar))


def _mad_sigma(x: list[float]) -> float:
    """The median absolute deviation, scaled to a normal distribution's sigma."""
    if not x:
        return 0.0
    centre = median(x)
    return 1.4826 * median([abs(v - centre) for v in x])


def _dec(x: float) -> Decimal:
    return Decimal(repr(float(x))).quantize(MICRO)
