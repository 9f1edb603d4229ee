"""Month-end forecast by per-series combination: candidate methods weighed by their record on the
series' own earlier months at the same day of the month, with conformal p10/p90.

For a forecast made after `done` complete days of a month, every candidate forecasts the rest of the
month; the same candidates are run as if it were the same day of each earlier month (seeing only
the days up to that day) and scored against what those months actually totalled. Candidates that
did well on this series weigh more; with no earlier month a prior weighting (the blend safest on
short series in the tuning set) decides. The p10/p90 come from the same past forecasts: quantiles
of their log errors, scaled by each origin's noise (normalized conformal), shrunk toward a prior
while few months are known.

Candidates (each the spend of the remaining days; all read only days up to the origin):

- run_rate:     month-to-date / days seen x days left (what owners compute by hand).
- level:        a step-aware level: the median of the last k de-seasonalized days, k the longest of
                3/7/14/28/56/91 whose median agrees with every shorter one (Lepski's rule) and no
                longer than the days since the last detected level shift, so a launch or a revoked
                key moves it within days while a runaway job of one to three days (out-voted in a
                7-day median) does not; times the series' mean-to-median allowance for spikes.
- trend:        the point part of the previous model (models/budgets/forecast.py before issue 15):
                weekday rhythm, Theil-Sen slope of weekly medians (shrunk by its noise, damped),
                robust level.
- intermittent: TSB (Teunter-Syntetos-Babai) for sparse spend: smoothed probability of a spending
                day times smoothed size of a spending day.
- pickup:       the share of a month's spend that usually comes after this day (earlier months'
                rest-of-month rate over their month-to-date rate), for month-start batch runs and
                month-end reporting.
- mean:         the de-seasonalized mean since the last level shift, for bursts that last days and
                come back.

Written with numpy over a batch of origins at once (a few milliseconds of CPU a series with a year
of history) rather than with a library model: statsforecast's ETS/Theta were measured as
candidates and cost far more than the alert pass's time budget allows (docs/forecast.md).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import numpy as np

METHODS = ("run_rate", "level", "trend", "intermittent", "pickup", "mean")
LOOKBACK = 91  # days the methods look at before an origin (13 weeks)
MAX_MONTHS = 12  # earlier months scored
HISTORY_DAYS = 520  # what the forecast reads: the month in progress, twelve before it, and the 91 + 14 days
# the earliest of those origins look back on (so a track record equals a backtest, origin for origin)
CACHE_SIZE = 4096  # forecasts kept: one per series and day (only today's partial day changes)


@dataclass(frozen=True)
class Tuning:
    """The few constants, chosen on the tuning seeds of bench/forecast_series.py only."""

    lepski: tuple[int, ...] = (3, 7, 14, 28, 56, 91)
    lepski_kappa: float = 3.0  # windows agree when their medians differ by < kappa x (se1 + se2)
    min_shift: float = 1.4  # smaller changes of level are wandering, not a launch or a migration
    shift_stat: float = 8.0  # standard errors a shift must stand out by
    up_window: int = 7  # the shortest window that may signal a rise
    allowance_days: int = 91  # days whose spikes set the allowance (incidents are rare: a long window)
    spike_cap: float = 2.0  # a day counts at most this many local medians in the spike allowance
    trend_signal: float = 1.0
    max_slope: float = 0.03  # |log change| per day
    damping: float = 0.95
    tsb_p: float = 0.02  # smoothing of the probability of a spending day
    tsb_z: float = 0.3  # smoothing of the size of a spending day
    pickup_months: int = 6
    pickup_cap: float = 4.0  # a day counts at most this many times the median of the 14 before it
    half_life: float = 6.0  # months: how fast an old month's score fades
    prior_months: float = 2.0  # pseudo-months of the prior score
    prior: tuple[float, ...] = (0.07, 0.04, 0.063, 0.059, 0.14, 0.14)  # relative error per method (METHODS order)
    power: float = 5.0  # weight ~ score ** -power
    prior_blend: float = 0.7  # the blend's prior error, relative to the candidates' pooled error
    power_blend: float = 8.0
    drift: float = 0.08  # month-scale level uncertainty (log) in the band's scale
    band_z: float = 1.2  # prior half-width of the band, in scale units
    band_months: float = 2.0  # pseudo-months of the band prior
    mean_half_life: float = 60.0  # days
    break_damp: float = 0.3  # weight left to a candidate reading days from before a level shift
    pool: tuple[int, ...] = (-2, 0, 2)  # days around the as-of day scored in earlier months (as good as 5, cheaper)


DEFAULT_TUNING = Tuning()


@dataclass
class Origins:
    """A batch of forecast origins in one series: after `done` complete days of a month."""

    end: np.ndarray  # index of the last day seen
    done: np.ndarray  # complete days of the month seen (the day of the month of `end`)
    ndays: np.ndarray  # days in the month
    mstart: np.ndarray  # index of the month's 1st day (negative: the series started later)
    month: np.ndarray  # position of the month in `months`


def _nanmedian(a: np.ndarray, axis: int) -> np.ndarray:
    """Median ignoring NaN (NaN where a slice has none): a sort and two picks, several times faster
    than np.nanmedian on the many small slices here, and silent on empty slices."""
    s = np.sort(a, axis=axis)  # NaN sorts last
    n = (~np.isnan(a)).sum(axis=axis, keepdims=True)
    if axis == a.ndim - 1 and s.size:
        # The picks by flat position: take_along_axis builds an index grid each call, and this runs
        # about twenty times a forecast (the same two elements either way).
        width, flat, count = s.shape[-1], s.reshape(-1), n.reshape(-1)
        at = np.arange(0, flat.size, width)
        lo = flat[at + np.maximum((count - 1) // 2, 0)].reshape(n.shape)
        hi = flat[at + np.maximum(count // 2 - (count == 0), 0)].reshape(n.shape)
    else:
        lo = np.take_along_axis(s, np.maximum((n - 1) // 2, 0), axis)
        hi = np.take_along_axis(s, n // 2 - (n == 0), axis)
    return np.squeeze(np.where(n > 0, (lo + hi) / 2, np.nan), axis=axis)


def _nanmean(a: np.ndarray, axis: int) -> np.ndarray:
    known = ~np.isnan(a)
    n = known.sum(axis=axis)
    return np.where(n > 0, np.where(known, a, 0.0).sum(axis=axis) / np.maximum(n, 1), np.nan)


def months_of(first: date, n: int) -> list[tuple[date, int, int]]:
    """(1st of month, index of the 1st in the series, days) for every month the series touches."""
    out, day = [], first.replace(day=1)
    last = first + timedelta(days=n - 1)
    while day <= last:
        nxt = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
        out.append((day, (day - first).days, (nxt - day).days))
        day = nxt
    return out


def _capped_cum(v: np.ndarray, cap: float) -> np.ndarray:
    """Cumulative spend with each day capped at `cap` x the median of the 14 days before it (a causal
    cap: it reads no later day), so a runaway day in the month so far is not extrapolated."""
    padded = np.concatenate([np.full(14, np.nan), v])
    before = _nanmedian(np.lib.stride_tricks.sliding_window_view(padded, 14)[:-1], 1)
    bar = np.where(before > 0, cap * before, np.inf)
    return np.concatenate([[0.0], np.cumsum(np.minimum(v, bar))])


def _methods(
    v: np.ndarray, cum: np.ndarray, o: Origins, months: list[tuple[date, int, int]], t: Tuning
) -> dict[str, np.ndarray]:
    """Remaining-days spend of every candidate at every origin (NaN where a candidate cannot say),
    plus the per-origin noise scale and weekday factors."""
    k = len(o.end)
    padded = np.concatenate([np.full(LOOKBACK, np.nan), v])
    w = np.lib.stride_tricks.sliding_window_view(padded, LOOKBACK)[o.end + 1]  # (k, L), last column = end
    capped = _capped_cum(v, t.pickup_cap)
    wc = np.lib.stride_tricks.sliding_window_view(
        np.concatenate([np.full(LOOKBACK, np.nan), np.diff(capped)]), LOOKBACK
    )[o.end + 1]
    rest = o.ndays - o.done  # remaining days
    seen_from = np.maximum(o.mstart, 0)
    seen = o.end - seen_from + 1
    mtd = cum[o.end + 1] - cum[seen_from]

    # Weekday factors: each day over the mean of its week (weeks end at the origin), median over 8 weeks.
    weeks = w[:, -56:].reshape(k, 8, 7)
    week_mean = _nanmean(weeks, 2)
    ratio = np.where(week_mean[..., None] > 0, weeks / np.where(week_mean > 0, week_mean, 1)[..., None], np.nan)
    f = _nanmedian(ratio, 1)  # (k, 7): column j is the j-th day of a week ending at the origin
    spread = _nanmedian(np.abs(ratio - f[:, None, :]), 1) * 1.4826
    nweeks = np.maximum((~np.isnan(ratio)).sum(1), 1)
    g = np.nan_to_num(f - 1.0)
    se = np.nan_to_num(1.2533 * spread / np.sqrt(nweeks), nan=1.0)
    g = g * g**2 / (g**2 + se**2 + 1e-12)
    f = np.maximum(1.0 + g, 0.05)
    f = f / f.mean(axis=1, keepdims=True)
    col = 6 - (np.arange(LOOKBACK)[::-1] % 7)  # weekday column of each window position
    y = w / f[:, col]

    # Local level (centred 7-day median), noise and the spike allowance (mean over local median).
    local = _nanmedian(np.lib.stride_tricks.sliding_window_view(y, 7, axis=1), 2)  # (k, L-6)
    local = np.concatenate([np.repeat(local[:, :1], 3, 1), local, np.repeat(local[:, -1:], 3, 1)], axis=1)
    positive = np.where(y > 0, y, np.nan)
    offset = 0.05 * np.nan_to_num(_nanmedian(positive[:, -56:], 1), nan=1.0) + 1e-9
    r = np.where(local > 0, y / np.where(local > 0, local, 1), np.nan)[:, -t.allowance_days :]
    allowance = np.clip(np.nan_to_num(_nanmean(np.minimum(r, t.spike_cap), 1), nan=1.0), 0.5, t.spike_cap)
    logdev = np.log(y[:, -56:] + offset[:, None]) - np.log(local[:, -56:] + offset[:, None])
    sigma = np.nan_to_num(_nanmedian(np.abs(logdev - _nanmedian(logdev, 1)[:, None]), 1) * 1.4826, nan=0.5)
    sigma = np.maximum(sigma, 0.01)

    # Where did the level last shift? The split of the window whose before and after means of
    # spike-clipped log spend differ most in standard errors, if by more than `min_shift` (runs of
    # up to three spike days are clipped against the centred 7-day median, so they cannot be one).
    zl, ll = np.log(y + offset[:, None]), np.log(local + offset[:, None])
    zc = ll + np.clip(zl - ll, -2 * sigma[:, None], 2 * sigma[:, None])
    okc = ~np.isnan(zc)
    s_post = np.cumsum(np.where(okc, zc, 0.0)[:, ::-1], 1)  # column m-1: the last m days
    n_post = np.cumsum(okc[:, ::-1], 1)
    s_pre, n_pre = s_post[:, -1:] - s_post, n_post[:, -1:] - n_post
    diff = s_post / np.maximum(n_post, 1) - s_pre / np.maximum(n_pre, 1)
    stat = np.abs(diff) / (
        np.maximum(sigma, 0.05)[:, None] * np.sqrt(1 / np.maximum(n_post, 1) + 1 / np.maximum(n_pre, 1))
    )
    stat = np.where((n_post >= 3) & (n_pre >= 3) & (np.abs(diff) > np.log(t.min_shift)), stat, 0.0)
    stat[:, :2] = 0.0
    best = stat.argmax(1)
    mostly_spending = (w > 0).sum(1) >= 0.8 * (~np.isnan(w)).sum(1)  # sparse spend has no level to shift
    shifted = (stat[np.arange(k), best] > t.shift_stat) & mostly_spending
    regime = np.where(shifted, best + 1, LOOKBACK)  # days since the shift
    recent = y[:, -56:]
    mean = _nanmean(recent, 1)
    cv = np.sqrt(_nanmean((recent - mean[:, None]) ** 2, 1)) / np.where(mean > 0, mean, np.nan)
    cv = np.clip(np.nan_to_num(cv, nan=1.0), 0.01, 5.0)

    horizon = int(rest.max()) if k else 0
    h = np.arange(1, horizon + 1)
    future = f[:, (h - 1) % 7] * (h[None, :] <= rest[:, None])  # weekday factors of the days left
    shape_sum = future.sum(1)

    # level: Lepski's rule over de-seasonalized medians.
    med = np.stack([_nanmedian(y[:, -n:], 1) for n in t.lepski], 1)  # (k, windows)
    count = np.stack([(~np.isnan(y[:, -n:])).sum(1) for n in t.lepski], 1)
    lm = np.log(np.nan_to_num(med) + offset[:, None])
    se_m = 1.2533 * sigma[:, None] / np.sqrt(np.maximum(count, 1))
    chosen = np.zeros(k, dtype=int)
    ok = np.ones(k, dtype=bool)
    short = np.array([n < t.up_window for n in t.lepski])
    for i in range(1, len(t.lepski)):
        gap = lm[:, :i] - lm[:, i : i + 1]  # shorter window's level minus this one's
        # A short window above a longer one is more often a runaway job of a day or three than a
        # launch: rises count only from `up_window` days on; falls (a revoked key) from 3.
        gap = np.where(short[None, :i] & (gap > 0), 0.0, np.abs(gap))
        bar = np.maximum(t.lepski_kappa * (se_m[:, i : i + 1] + se_m[:, :i]), np.log(t.min_shift))
        agree = np.all(gap <= bar, 1)
        ok &= agree & (count[:, i] >= count[:, i - 1] + 1)
        chosen = np.where(ok, i, chosen)
    window = np.minimum(np.array(t.lepski)[chosen], np.maximum(regime, 3))
    level = np.nan_to_num(_nanmedian(np.where(np.arange(LOOKBACK)[::-1][None, :] < window[:, None], y, np.nan), 1))
    level = level * allowance
    f_level = level * shape_sum

    # trend: Theil-Sen over six weekly medians of log spend.
    blocks = _nanmedian(np.log(y[:, -42:] + offset[:, None]).reshape(k, 6, 7), 2)  # (k, 6)
    centres = -3.0 - 7.0 * np.arange(5, -1, -1)
    first, second = np.triu_indices(6, 1)
    slopes = (blocks[:, second] - blocks[:, first]) / (centres[second] - centres[first])
    slope = np.nan_to_num(_nanmedian(slopes, 1))
    base = _nanmedian(blocks - slope[:, None] * centres, 1)
    resid = blocks - base[:, None] - slope[:, None] * centres
    s_b = np.nan_to_num(_nanmedian(np.abs(resid), 1) * 1.4826, nan=1.0) + sigma / np.sqrt(7)
    slope_se = 1.25 * s_b / np.sqrt(((centres - centres.mean()) ** 2).sum())
    slope = slope * slope**2 / (slope**2 + (t.trend_signal * slope_se) ** 2 + 1e-18)
    slope = np.clip(slope, -t.max_slope, t.max_slope)
    damped = (t.damping * (1 - t.damping**h) / (1 - t.damping) if t.damping < 1 else h.astype(float))[None, :]
    path = np.exp(np.nan_to_num(base, nan=-30.0)[:, None] + slope[:, None] * damped)
    path = np.maximum(path * allowance[:, None] - offset[:, None], 0.0)
    f_trend = (path * future).sum(1)

    # intermittent: TSB with exponentially weighted estimates over the window.
    age = np.arange(LOOKBACK)[::-1]
    known = ~np.isnan(w)
    spend = np.where(known, wc, 0.0)  # runaway days capped: a size estimate, not a spike detector
    active = (spend > 0) & known
    wp = (1 - t.tsb_p) ** age * known
    wz = (1 - t.tsb_z) ** age * active
    prob = (wp * active).sum(1) / np.maximum(wp.sum(1), 1e-12)
    size = np.where(wz.sum(1) > 0, (wz * spend).sum(1) / np.maximum(wz.sum(1), 1e-12), 0.0)
    f_tsb = prob * size * rest

    # run_rate and pickup.
    rate = mtd / np.maximum(seen, 1)
    f_run = np.where(seen > 0, rate * rest, np.nan)
    # pickup, for every origin at once: the (up to) `pickup_months` months before its own with a whole
    # history, oldest first; each month's head and tail rates added in that order (as a loop would).
    starts = np.array([s for _, s, _ in months])
    lengths = np.array([n for _, _, n in months])
    ok = (o.mstart >= 0) & (seen > 0)
    prev = o.month[:, None] - t.pickup_months + np.arange(t.pickup_months)[None, :]  # (k, months back)
    s = starts[np.maximum(prev, 0)]
    use = ok[:, None] & (prev >= 0) & (s >= 0)
    s = np.where(use, s, 0)
    n_m = np.where(use, lengths[np.maximum(prev, 0)], 2)
    d = np.where(use, o.done[:, None], 1)
    head_days = np.minimum(d, n_m)
    heads = (capped[s + head_days] - capped[s]) / head_days
    tails = (cum[s + n_m] - cum[s + head_days]) / np.maximum(n_m - head_days, 1)
    head, tail = np.zeros(k), np.zeros(k)
    for j in range(t.pickup_months):
        head = head + np.where(use[:, j], heads[:, j], 0.0)
        tail = tail + np.where(use[:, j], tails[:, j], 0.0)
    rate_now = (capped[o.end + 1] - capped[seen_from]) / np.where(ok, seen, 1)
    picked = ok & use.any(1) & (head > 0)
    f_pick = np.where(picked, rate_now * tail / np.where(picked, head, 1.0) * rest, np.nan)
    # mean: the de-seasonalized mean of the whole window (spikes included): when the level wanders
    # and comes back (bursts that last days), the long-run mean beats any recent estimate.
    # It counts only the days since the level's last shift (Lepski's window), so a launch or a
    # revoked key does not leave it averaging two regimes.
    ew = 0.5 ** (age / t.mean_half_life) * known * (age[None, :] < regime[:, None])
    f_mean = (ew * np.where(known, y, 0.0)).sum(1) / np.maximum(ew.sum(1), 1e-12) * shape_sum
    forecasts = np.stack([f_run, f_level, f_trend, f_tsb, f_pick, f_mean], 1)
    # After a shift, a candidate that reads days from before it is damped (its record is from the
    # old regime): the span of days each candidate reads, against the days since the shift.
    span = np.stack([seen, np.zeros(k), np.full(k, 42), np.full(k, 28), seen, np.zeros(k)], 1)
    damp = np.where((span > regime[:, None]) & (regime[:, None] < LOOKBACK), t.break_damp, 1.0)
    return {"forecasts": forecasts, "damp": damp, "mtd": mtd, "sigma": cv, "weekday": f, "rest": rest}


def _scale(sigma: np.ndarray, rest: np.ndarray, ndays: np.ndarray, t: Tuning) -> np.ndarray:
    """How uncertain the month total is at an origin, in log units (before calibration)."""
    left = np.maximum(rest, 1)
    return np.asarray(rest / ndays * np.sqrt(sigma**2 / left + sigma**2 / 14 + t.drift**2))


def _nanquantile(a: np.ndarray, q: float) -> np.ndarray:
    """Row-wise linear-interpolated quantile ignoring NaN (NaN for an empty row)."""
    s = np.sort(a, axis=1)
    n = (~np.isnan(a)).sum(1)
    pos = q * np.maximum(n - 1, 0)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
    rows = np.arange(len(a))
    frac = pos - lo
    out = s[rows, lo] * (1 - frac) + np.where(frac > 0, s[rows, hi], 0.0) * frac
    return np.where(n > 0, out, np.nan)


def _combine(
    forecasts: np.ndarray,
    damp: np.ndarray,
    mtd: np.ndarray,
    actual: np.ndarray,
    scale: np.ndarray,
    month_pos: np.ndarray,
    t: Tuning,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Months in order: each row's weights and band from the rows (months) before it only."""
    k, n_methods = forecasts.shape
    gap = month_pos[:, None] - month_pos[None, :]  # row j, earlier row i
    scored = ~np.isnan(actual) & (actual > 0)
    before = (gap > 0) & (gap <= MAX_MONTHS) & scored[None, :]
    fade = np.where(before, 0.5 ** (gap / t.half_life), 0.0) / len(t.pool)  # (k, k), a month weighs 1
    safe_actual = np.where(scored, actual, 0.0)
    err = np.abs(forecasts + mtd[:, None] - safe_actual[:, None])
    valid = ~np.isnan(err) & scored[:, None]
    miss = fade @ np.where(valid, err, 0.0)  # (k, methods)
    mass = fade @ (valid * safe_actual[:, None])
    typical = (fade @ safe_actual) / np.maximum(fade.sum(1), 1e-12)
    # The prior is relative (which candidate is safer a priori), scaled to how hard this series is:
    # the candidates' pooled error so far. A candidate without a record (pickup in the second
    # month) gets that scaled prior, not a flattering absolute one.
    prior = np.array(t.prior)[None, :]
    pooled = np.where(mass.sum(1) > 0, miss.sum(1) / np.maximum(mass.sum(1), 1e-12), prior.mean())
    pooled = np.maximum(pooled, 0.005)  # a series every candidate got right: the prior breaks the tie
    prior = prior / prior.mean() * pooled[:, None]
    pseudo = t.prior_months * typical[:, None]
    score = np.where(mass > 0, (pseudo * prior + miss) / (pseudo + mass + 1e-12), prior)
    avail = ~np.isnan(forecasts)
    u = np.where(avail, np.maximum(score, 1e-4) ** -t.power, 0.0) * damp
    none = u.sum(1) == 0
    u[none, METHODS.index("level")] = 1.0
    u = u / u.sum(1, keepdims=True)
    point = mtd + np.maximum(np.nansum(np.where(avail, forecasts, 0.0) * u, 1), 0.0)

    # Second stage: a safety net. Where the run-rate's record on this series is better than the
    # blend's (news-driven page views, bursts that last days: nothing reads the future better than
    # the month so far), the forecast moves toward the run-rate; otherwise the blend stands.
    run = mtd + forecasts[:, 0]
    has_run = ~np.isnan(run)
    blend_err = np.abs(point - safe_actual) * scored
    run_err = np.where(has_run & scored, np.abs(run - safe_actual), 0.0)
    both = scored & has_run
    mass2 = fade @ (both * safe_actual)
    s_blend = (pseudo[:, 0] * t.prior_blend * pooled + fade @ (blend_err * both)) / (pseudo[:, 0] + mass2 + 1e-12)
    s_run = (pseudo[:, 0] * prior[:, 0] + fade @ run_err) / (pseudo[:, 0] + mass2 + 1e-12)
    a = np.minimum(1.0, (np.maximum(s_blend, 1e-9) / np.maximum(s_run, 1e-9)) ** -t.power_blend)
    a = np.where(has_run & (mass2 > 0), a, 1.0)
    point = a * point + (1 - a) * np.where(has_run, run, 0.0)
    u = u * a[:, None]
    u[:, 0] += 1 - a

    # Conformal band: this series' own earlier errors, in units of each origin's noise scale.
    c = 0.01 * np.maximum(point, 1e-6)  # keeps logs finite for months without spend; a row's own
    z = np.where(scored, np.log((safe_actual + c) / (point + c)) / scale, np.nan)
    earlier = np.where(before, z[None, :], np.nan)  # (k, k)
    n = before.sum(1) / len(t.pool)  # months
    shrink = n / (t.band_months + n)
    z_lo = (1 - shrink) * -t.band_z + shrink * np.nan_to_num(_nanquantile(earlier, 0.1))
    z_hi = (1 - shrink) * t.band_z + shrink * np.nan_to_num(_nanquantile(earlier, 0.9))
    z_lo, z_hi = np.minimum(z_lo, 0.0), np.maximum(z_hi, 0.0)
    p50 = point  # a median correction from the same errors was tried: too noisy with a year of months
    p10 = np.maximum(mtd, (point + c) * np.exp(scale * z_lo) - c)
    p90 = np.maximum(p50, (point + c) * np.exp(scale * z_hi) - c)
    return p10, p50, p90, u


@dataclass
class DayResult:
    """Forecasts of every month of a series after `done` complete days (the last row may be the
    month in progress, actual None)."""

    done: int
    months: list[date]
    p10: np.ndarray
    p50: np.ndarray
    p90: np.ndarray
    actual: np.ndarray  # NaN for the month in progress
    run_rate: np.ndarray
    weights: np.ndarray
    weekday: np.ndarray  # of the last row: factor of each day after the origin, column (h - 1) % 7
    totals: np.ndarray  # each candidate's month total (rows x METHODS), NaN where it had none


def history(daily: Mapping[date, Decimal | float], end: date, days: int = HISTORY_DAYS) -> tuple[date, np.ndarray]:
    """Consecutive daily spend through `end`, from the first day with spend (at most `days` back)."""
    first_known = min((d for d, v in daily.items() if v and d <= end), default=None)
    start = max(end - timedelta(days=days - 1), first_known or end + timedelta(days=1))
    n = max((end - start).days + 1, 0)
    # By the entries (one date subtraction each) rather than by the days (a date built and looked up
    # each): the same floats, days without an entry 0.0.
    out = np.zeros(n)
    at = [((d - start).days, v) for d, v in daily.items()]
    out[[i for i, _ in at if 0 <= i < n]] = [float(v) for i, v in at if 0 <= i < n]
    return start, out


_CACHE: OrderedDict[tuple[bytes, date, tuple[int, ...], bool, Tuning], dict[int, DayResult]] = OrderedDict()


def evaluate(
    values: np.ndarray, first: date, days: tuple[int, ...], current: bool, tuning: Tuning = DEFAULT_TUNING
) -> dict[int, DayResult]:
    """For each `days` value d: the forecast of every complete month of the series as of its d-th
    day (the last day, for months shorter than d + 1 days).

    `values` are consecutive daily spend from `first`; the last value is the last day seen. With
    `current`, the month of the day after it is in progress and forecast as the last row under its
    number of complete days seen (0 on its 1st; `days` must include that number).
    Cached on the values themselves: a repeat within the day costs a hash.
    """
    values = np.ascontiguousarray(values, dtype=float)
    key = (values.tobytes(), first, tuple(days), current, tuning)
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    result = _evaluate(values, first, tuple(days), current, tuning)
    _CACHE[key] = result
    if len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return result


def _evaluate(values: np.ndarray, first: date, days: tuple[int, ...], current: bool, t: Tuning) -> dict[int, DayResult]:
    n = len(values)
    cum = np.concatenate([[0.0], np.cumsum(values)])
    months = months_of(first, n + 1 if current else n)  # with `current`, the month of the next day
    last = len(months) - 1
    complete = [i for i, (_, s, nd) in enumerate(months) if s >= 0 and s + nd <= n]
    complete = complete[-(2 * MAX_MONTHS) :]  # a backtest or a track record shows at most two years
    plans: list[
        tuple[int, list[tuple[int, int, float, bool]]]
    ] = []  # (d, rows: (month position, complete days seen, month total or NaN, a target row))
    for d in days:
        rows = []
        for i in complete:
            _, s, nd = months[i]
            total = cum[s + nd] - cum[s]
            for off in t.pool:  # neighbouring days of earlier months are scored too (not shown)
                seen = min(max(d + off, 0), nd - 1)
                if s + seen >= 1 and (off == 0 or seen != min(d, nd - 1)):
                    rows.append((i, seen, total, off == 0))
        if current and d == n - months[last][1]:
            rows.append((last, d, np.nan, True))
        plans.append((d, rows))
    flat = [r for _, rows in plans for r in rows]
    if not flat:
        return {}
    pos = np.array([r[0] for r in flat])
    done = np.array([r[1] for r in flat])
    mstart = np.array([months[p][1] for p in pos])
    ndays = np.array([months[p][2] for p in pos])
    o = Origins(end=mstart + done - 1, done=done, ndays=ndays, mstart=mstart, month=pos)
    m = _methods(values, cum, o, months, t)
    scale = _scale(m["sigma"], m["rest"], ndays, t)
    out: dict[int, DayResult] = {}
    at = 0
    for d, rows in plans:
        if not rows:
            continue
        sl = slice(at, at + len(rows))
        at += len(rows)
        actual = np.array([r[2] for r in rows])
        target = np.array([r[3] for r in rows])
        p10, p50, p90, weights = _combine(
            m["forecasts"][sl], m["damp"][sl], m["mtd"][sl], actual, scale[sl], pos[sl], t
        )
        totals = m["mtd"][sl][:, None] + m["forecasts"][sl]
        out[d] = DayResult(
            d,
            [months[p][0] for p, _, _, keep in rows if keep],
            p10[target],
            p50[target],
            p90[target],
            actual[target],
            totals[target, 0],
            weights[target],
            m["weekday"][sl][-1],
            totals[target],
        )
    return out
