"""Spike detection: the robust baseline's figures, and an alert pass that needs no numpy."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from models.access.roles import Actor
from models.budgets.limits import set_limit
from models.budgets.spike import detect_spike
from tests.factories import add_usage, make_org, usage

DAY = date(2026, 3, 20)  # a Friday


def _weeks(values_by_weekday: dict[int, str], days: int = 28) -> dict[date, Decimal]:
    out = {}
    for k in range(1, days + 1):
        d = DAY - timedelta(days=k)
        out[d] = Decimal(values_by_weekday.get(d.weekday(), "10"))
    return out


def test_a_day_far_above_its_weekday_baseline_is_a_spike_with_its_figures():
    daily = _weeks({5: "2", 6: "2"})  # quiet weekends: the median is 10, Fridays are 10
    daily[DAY] = Decimal("45")
    spike = detect_spike(daily, DAY)
    assert spike is not None
    # baseline: Fridays' median 10; deviations: 8 weekend days at 0.8 of the median, 20 at 0 -> MAD 0
    assert (spike.baseline, spike.threshold, spike.spend) == (Decimal("10"), Decimal("20"), Decimal("45"))
    assert f"{spike.ratio:.1f}" == "4.5"
    daily[DAY] = Decimal("19.99")
    assert detect_spike(daily, DAY) is None  # below 2x the baseline


def test_a_weekend_is_measured_against_weekends():
    daily = _weeks({5: "2", 6: "2"})
    saturday = DAY + timedelta(days=1)
    daily[DAY] = Decimal("10")
    daily[saturday] = Decimal("6")  # 3x a usual Saturday, below the weekday median
    spike = detect_spike(daily, saturday)
    # the weekend baseline (2) is floored at a quarter of the overall median (10 / 4 = 2.5)
    assert spike is not None and (spike.baseline, spike.threshold) == (Decimal("2.5"), Decimal("5"))


def test_no_baseline_no_spike_and_small_sums_never_spike():
    sparse = {DAY - timedelta(days=k): Decimal("10") for k in range(1, 14)}  # 13 of 28 days
    sparse[DAY] = Decimal("1000")
    assert detect_spike(sparse, DAY) is None
    tiny = _weeks({}, 28)
    tiny = {d: Decimal("0.01") for d in tiny}
    tiny[DAY] = Decimal("0.99")  # 99x, but under $1
    assert detect_spike(tiny, DAY) is None


def test_an_alert_pass_for_an_org_without_limits_does_not_load_numpy():
    """numpy's import is 0.45 s of every `spendsight ingest`; only forecasts (orgs with limits) need it."""
    make_org("org-n")
    now = datetime.now(UTC)
    add_usage(*(usage("org-n", at=now - timedelta(days=k), input_tokens=1000) for k in range(30)))
    code = "import sys, cli.store as s; s.after_usage(['org-n']); print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    set_limit(Actor.cli(), "org-n", soft=1)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"  # (the check itself can tell: with a limit, the forecast runs)
