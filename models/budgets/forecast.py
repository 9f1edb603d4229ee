"""Month-end spend forecast: p10/p50/p90 of the month total and when the soft/hard limit is crossed.

The method is hand-written on purpose: it has to run for a thousand orgs every minute, so it fits
no per-series model iteratively. Everything is medians and a seeded simulation, in log space:

1. Weekday rhythm: each weekday's median distance from a centred 7-day rolling median over the
   last 8 weeks (shrunk toward zero when few weeks are known).
2. Trend: the Theil-Sen slope (median of pairwise slopes at least a week apart) of the
   de-seasonalized log spend over the last 4 weeks, damped and capped. Medians everywhere make a
   one-day spike move neither the level nor the slope.
3. Level: an exponentially weighted median of the de-trended values (recent days count most).
4. Spread: 500 seeded sample paths of the rest of the month, each with its own level and slope
   error, a random-walk drift measured from week-to-week changes in this series, and daily noise
   resampled from this series' own residuals (so a spiky history gives a fat upper tail).

The constants in `Params` were tuned on generated series separate from the saved backtest series;
docs/forecast.md has the evidence against the naive run-rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
from numpy.typing import ArrayLike

from models.access.orgs import get_org
from models.budgets import billing
from models.budgets.limits import get_limit
from models.db import session_scope
from models.units import MICRO

N_SIMS = 500
SEED = 20_251_104
HISTORY_DAYS = 56  # what the model looks at
MIN_HISTORY_DAYS = 7  # fewer days of history: the forecast is shown, but forecast alerts wait
FETCH_DAYS = 70  # what scope forecasts read from the database
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Params:
    fit_days: int = 42  # window for trend and level
    level_half_life: float = 14.0  # days
    min_gap: int = 7  # Theil-Sen pairs at least this far apart
    damping: float = 1.0  # per-day damping of the trend
    max_slope: float = 0.03  # |log change| per day
    trend_signal: float = 2.0  # shrink the slope by b^2 / (b^2 + (trend_signal x se)^2)
    clip_sigmas: float = 2.0  # winsorize de-seasonalized values this far from the local median
    local_window: int = 15  # days in the centred rolling median that defines the local level
    level_scale: float = 3.0  # multiplies the level standard error
    slope_scale: float = 2.0  # multiplies the slope standard error
    drift_scale: float = 1.5  # multiplies the measured random-walk drift
    drift_floor: float = 0.013  # minimum drift per day (log)
    offset_share: float = 0.05  # log(y + c), c = share x median positive day
    block_days: int = 7  # noise is resampled in runs of this many days (incidents last days)
    spike_keep: float = 0.5  # share of a deviation beyond clip_sigmas kept in the resampled noise


DEFAULT = Params()


@dataclass
class Fit:
    level: float  # log level at the last day, de-seasonalized
    slope: float  # log change per day
    weekday: np.ndarray  # additive log effect per weekday (Mon=0)
    offset: float
    noise: np.ndarray  # day-to-day deviations from the local level, spikes included
    sigma: float
    level_se: float
    slope_se: float
    drift: float  # random-walk standard deviation per day (log)
    n: int


def _rolling_median(x: np.ndarray, width: int = 7) -> np.ndarray:
    """Centred rolling median; positions without a full window are NaN."""
    out = np.full(x.shape, np.nan)
    if len(x) < width:
        return out
    half = width // 2
    windows = np.lib.stride_tricks.sliding_window_view(x, width)
    out[half : half + len(windows)] = np.median(windows, axis=1)
    return out


def _mad_sigma(x: np.ndarray) -> float:
    if len(x) == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def fit(values: np.ndarray, last_day: date, params: Params = DEFAULT) -> Fit | None:
    """Fit the history (consecutive days ending at `last_day`); None when there is nothing to fit."""
    values = np.asarray(values, dtype=float)[-HISTORY_DAYS:]
    n = len(values)
    positive = values[values > 0]
    if n == 0 or len(positive) == 0:
        return None
    offset = params.offset_share * float(np.median(positive[-params.fit_days :]))
    z = np.log(values + offset)
    weekdays = (last_day.weekday() - np.arange(n)[::-1]) % 7

    weekday = np.zeros(7)
    if n >= 14:
        dev = z - _rolling_median(z)
        known = ~np.isnan(dev)
        counts = np.zeros(7)
        for w in range(7):
            d = dev[(weekdays == w) & known]
            counts[w] = len(d)
            if len(d):
                weekday[w] = np.median(d)
        # Shrink each effect by how clearly it stands out of the noise (a flat series has none).
        spread = _mad_sigma(dev[known] - weekday[weekdays[known]])
        se = 1.2533 * spread / np.sqrt(np.maximum(counts, 1))
        centred = weekday - np.median(weekday)
        weekday = np.median(weekday) + centred * centred**2 / (centred**2 + se**2 + 1e-18)
        weekday -= weekday.mean()
    e = z - weekday[weekdays]

    # Local level and noise: deviations from a centred weekly median (edges: the nearest one).
    local = _rolling_median(e, params.local_window)
    if np.isnan(local).all():
        local[:] = np.median(e)
    else:
        valid = np.flatnonzero(~np.isnan(local))
        local[: valid[0]] = local[valid[0]]
        local[valid[-1] + 1 :] = local[valid[-1]]
    noise = e - local
    sigma = max(_mad_sigma(noise), 1e-3)
    clean = local + np.clip(noise, -params.clip_sigmas * sigma, params.clip_sigmas * sigma)

    # Drift: how much weekly levels moved beyond the overall slope and the daily noise.
    weeks = n // 7
    drift = params.drift_floor
    if weeks >= 3:
        blocks = clean[n - weeks * 7 :].reshape(weeks, 7).mean(axis=1)
        changes = np.diff(blocks)
        changes = changes - np.median(changes)
        excess = float(np.mean(changes**2)) - 2 * sigma**2 / 7
        drift = max(drift, float(np.sqrt(max(excess, 0.0) / 7)))

    m = min(n, params.fit_days)
    t = np.arange(-m + 1, 1, dtype=float)  # 0 is the last day
    y = clean[-m:]
    slope = 0.0
    if m >= 2 * params.min_gap:
        i, j = np.triu_indices(m, k=params.min_gap)
        slope = float(np.median((y[j] - y[i]) / (t[j] - t[i])))
        # What a slope fitted to pure noise plus a wandering level would look like.
        slope_se = float(np.sqrt(sigma**2 * 12.0 / m**3 + 1.2 * drift**2 / m))
        slope *= slope**2 / (slope**2 + (params.trend_signal * slope_se) ** 2 + 1e-18)
        slope = float(np.clip(slope, -params.max_slope, params.max_slope))
    else:
        slope_se = sigma / max(m, 1)  # little history: the trend is unknown, not zero
    weights = 0.5 ** (-t / params.level_half_life)
    level = float(np.sum(weights * (y - slope * t)) / weights.sum())
    level_se = sigma * float(np.sqrt((weights**2).sum()) / weights.sum())
    bar = params.clip_sigmas * sigma
    pool = np.where(np.abs(noise) > bar, np.sign(noise) * (bar + (np.abs(noise) - bar) * params.spike_keep), noise)
    return Fit(level, slope, weekday, offset, pool, sigma, level_se, slope_se, drift, n)


def _block_bootstrap(rng: np.random.Generator, pool: np.ndarray, n_sims: int, horizon: int, block: int) -> np.ndarray:
    """Runs of consecutive deviations from the history (circularly), so multi-day incidents and
    quiet spells keep their length."""
    n = len(pool)
    block = max(1, min(block, n))
    blocks = -(-horizon // block)
    starts = rng.integers(0, n, size=(n_sims, blocks, 1))
    index = (starts + np.arange(block)) % n
    return np.asarray(pool[index.reshape(n_sims, blocks * block)[:, :horizon]])  # (numpy types an index as Any)


def simulate(
    values: ArrayLike, last_day: date, horizon: int, params: Params = DEFAULT, n_sims: int = N_SIMS, seed: int = SEED
) -> np.ndarray:
    """Sample paths (n_sims x horizon) of daily spend for the `horizon` days after `last_day`."""
    if horizon <= 0:
        return np.zeros((n_sims, 0))
    model = fit(np.asarray(values, dtype=float), last_day, params)
    if model is None:
        return np.zeros((n_sims, horizon))
    rng = np.random.default_rng(seed)
    h = np.arange(1, horizon + 1, dtype=float)
    phi = params.damping
    trend_h = h if phi >= 1 else phi * (1 - phi**h) / (1 - phi)
    weekdays = (last_day.weekday() + np.arange(1, horizon + 1)) % 7
    base = model.level + model.slope * trend_h + model.weekday[weekdays]
    level_err = rng.normal(0, model.level_se * params.level_scale, (n_sims, 1))
    slope_err = rng.normal(0, model.slope_se * params.slope_scale, (n_sims, 1)) * trend_h
    drift = np.cumsum(rng.normal(0, model.drift * params.drift_scale, (n_sims, horizon)), axis=1)
    noise = _block_bootstrap(rng, model.noise, n_sims, horizon, params.block_days)
    paths = np.exp(base + level_err + slope_err + drift + noise) - model.offset
    return np.asarray(np.maximum(paths, 0.0))  # (numpy types a ufunc result as Any)


@dataclass
class MonthForecast:
    """The month of `as_of`: spent so far, the distribution of the total, and cumulative paths."""

    month: str  # YYYY-MM
    as_of: date
    spent: Decimal  # month start through as_of (what is recorded so far)
    p10: Decimal
    p50: Decimal
    p90: Decimal
    days: list[date] = field(default_factory=list)  # every day of the month
    actual_cum: list[Decimal | None] = field(default_factory=list)  # recorded, through as_of
    cum_p10: list[Decimal | None] = field(default_factory=list)  # projected, from as_of on
    cum_p50: list[Decimal | None] = field(default_factory=list)
    cum_p90: list[Decimal | None] = field(default_factory=list)
    history_days: int = 0

    def cross_date(self, limit: Decimal | None) -> date | None:
        """The day cumulative spend reached `limit`, or is projected (p50) to; None if not this month."""
        if limit is None:
            return None
        for day, actual, projected in zip(self.days, self.actual_cum, self.cum_p50):
            values = [v for v in (actual, projected) if v is not None]
            if values and max(values) >= limit:
                return day
        return None


def _dec(x: float, quantum: Decimal = MICRO) -> Decimal:
    return Decimal(repr(float(x))).quantize(quantum)


def forecast_month(
    daily: Mapping[date, Decimal | float], as_of: date, today_fraction: float | None = None, params: Params = DEFAULT
) -> MonthForecast:
    """Forecast the month of `as_of` from daily spend (days without an entry count as zero).

    `as_of` is complete unless `today_fraction` says how much of it has passed (the live case):
    then the model fits the days before it and expects the rest of that day too.
    """
    month_start = as_of.replace(day=1)
    last = billing.month_end(as_of)
    history_end = as_of if today_fraction is None else as_of - timedelta(days=1)
    first_known = min((d for d, v in daily.items() if v), default=None)
    start = max(history_end - timedelta(days=HISTORY_DAYS - 1), first_known or history_end + timedelta(days=1))
    n = (history_end - start).days + 1
    values = np.array([float(daily.get(start + timedelta(days=i), 0)) for i in range(max(n, 0))])
    month_days = [month_start + timedelta(days=i) for i in range((last - month_start).days + 1)]
    actual = [Decimal(daily.get(d, 0)) for d in month_days if d <= as_of]
    spent = sum(actual, Decimal(0))
    horizon = (last - history_end).days
    paths = simulate(values, history_end, horizon, params)
    if today_fraction is not None and horizon:
        paths[:, 0] *= max(0.0, 1.0 - today_fraction)  # what is still to come of today
    cum = float(spent) + np.cumsum(paths, axis=1)
    q = np.quantile(cum, [0.1, 0.5, 0.9], axis=0) if horizon else np.zeros((3, 0))
    out = MonthForecast(
        month=billing.month_label(as_of.year, as_of.month),
        as_of=as_of,
        spent=spent,
        p10=spent,
        p50=spent,
        p90=spent,
        days=month_days,
        history_days=len(values),
    )
    running = Decimal(0)
    offset = len(month_days) - horizon  # index of the first projected day
    for i, day in enumerate(month_days):
        if day <= as_of:
            running += actual[i]
            out.actual_cum.append(running)
        else:
            out.actual_cum.append(None)
        k = i - offset
        if k >= 0:
            out.cum_p10.append(max(spent, _dec(q[0, k])))
            out.cum_p50.append(max(spent, _dec(q[1, k])))
            out.cum_p90.append(max(spent, _dec(q[2, k])))
        elif k == -1 and horizon:
            start_value = out.actual_cum[i]  # the fan starts where the recorded line ends
            out.cum_p10.append(start_value)
            out.cum_p50.append(start_value)
            out.cum_p90.append(start_value)
        else:
            out.cum_p10.append(None)
            out.cum_p50.append(None)
            out.cum_p90.append(None)
    if horizon:
        p10, p50, p90 = out.cum_p10[-1], out.cum_p50[-1], out.cum_p90[-1]
        assert p10 is not None and p50 is not None and p90 is not None  # the last day is a projected one
        out.p10, out.p50, out.p90 = p10, p50, p90
    return out


# --- an org (or one of its projects) ----------------------------------------------------------


@dataclass
class ScopeForecast:
    org_id: str
    project: str | None
    timezone: str
    forecast: MonthForecast
    soft_limit: Decimal | None
    hard_limit: Decimal | None
    soft_cross: date | None
    hard_cross: date | None

    @property
    def p10(self) -> Decimal:
        return self.forecast.p10

    @property
    def p50(self) -> Decimal:
        return self.forecast.p50

    @property
    def p90(self) -> Decimal:
        return self.forecast.p90

    @property
    def spent(self) -> Decimal:
        return self.forecast.spent

    def as_json(self) -> dict[str, object]:
        """The `spendsight forecast --format json` contract, keys in this order."""
        return {
            "org": self.org_id,
            "month": self.forecast.month,
            "as_of": self.forecast.as_of.isoformat(),
            "spent_usd": float(self.spent.quantize(MICRO)),
            "p10_usd": float(self.p10.quantize(CENT)),
            "p50_usd": float(self.p50.quantize(CENT)),
            "p90_usd": float(self.p90.quantize(CENT)),
            "soft_limit_usd": None if self.soft_limit is None else float(self.soft_limit),
            "hard_limit_usd": None if self.hard_limit is None else float(self.hard_limit),
            "soft_cross_date": self.soft_cross.isoformat() if self.soft_cross else None,
            "hard_cross_date": self.hard_cross.isoformat() if self.hard_cross else None,
        }


def forecast_scope(
    org_id: str, project: str | None = None, as_of: date | None = None, now: datetime | None = None
) -> ScopeForecast:
    """The month-end forecast of an org (or one project) against its limits.

    Without `as_of` the month is the current one in the org's time zone and today counts as partly
    over; with it, `as_of` is taken as a complete day (what a backtest or a look back needs).
    """
    with session_scope() as session:
        timezone = get_org(session, org_id).timezone
    fraction = None
    if as_of is None:
        now = now or datetime.now(UTC)
        as_of = billing.local_today(timezone, now)
        fraction = billing.fraction_of_day_elapsed(timezone, now)
    daily = billing.daily_spend(org_id, as_of - timedelta(days=FETCH_DAYS), as_of + timedelta(days=1), project)
    result = forecast_month(daily, as_of, fraction)
    limit = get_limit(org_id, project)
    soft = limit.soft_usd if limit else None
    hard = limit.hard_usd if limit else None
    return ScopeForecast(
        org_id, project, timezone, result, soft, hard, result.cross_date(soft), result.cross_date(hard)
    )


# --- spikes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spike:
    day: date
    spend: Decimal
    baseline: Decimal  # typical spend for that weekday
    threshold: Decimal  # what counted as a spike

    @property
    def ratio(self) -> float:
        return float(self.spend / self.baseline) if self.baseline else float("inf")


SPIKE_MIN_USD = Decimal(1)


def detect_spike(daily: Mapping[date, Decimal], day: date, baseline_days: int = 28) -> Spike | None:
    """Is `day`'s spend far above a robust baseline of the weeks before it?

    Baseline: the median of the previous `baseline_days` days, scaled by this weekday's usual share;
    a spike is more than max(2x baseline, baseline + 6 robust deviations) and at least $1. `day` may
    be today (partial): a day already past the bar counts.
    """
    values = np.array([float(daily.get(day - timedelta(days=k), 0)) for k in range(baseline_days, 0, -1)])
    if np.count_nonzero(values) < baseline_days // 2:
        return None  # a new or sporadic org has no baseline yet: its ramp-up is not a spike
    weekdays = np.array([(day - timedelta(days=k)).weekday() for k in range(baseline_days, 0, -1)])
    median = float(np.median(values))
    same = values[weekdays == day.weekday()]
    baseline = float(np.median(same)) if len(same) >= 2 else median
    baseline = max(baseline, median * 0.25)
    mad = _mad_sigma(values / max(median, 1e-9)) * baseline
    bar = max(2.0 * baseline, baseline + 6.0 * mad)
    spend = Decimal(daily.get(day, 0))
    if spend < SPIKE_MIN_USD or float(spend) <= bar:
        return None
    return Spike(day, spend, _dec(baseline), _dec(bar))
