"""Daily spend series of many kinds for judging the month-end forecast, from fixed seeds.

Two disjoint seed ranges: TUNING (what the method's few constants were chosen on) and HELD_OUT
(what bench/forecast_accuracy.py and tests/models/budgets/test_forecast_accuracy.py report; never tuned on).
Each kind is a function of a numpy Generator; real traces come from bench/data/forecast/
(README.md there says where each comes from and under which licence).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data" / "forecast"
START = date(2024, 1, 1)
DAYS = 456  # 2024-01-01 .. 2025-03-31: 15 complete months
TUNING = range(1_000, 1_100)  # seeds the method was tuned on
HELD_OUT = range(90_000, 90_100)  # seeds it was only ever scored on

Series = dict[date, float]


def _calendar(n: int = DAYS, start: date = START) -> tuple[list[date], np.ndarray, np.ndarray]:
    days = [start + timedelta(days=i) for i in range(n)]
    weekday = np.array([d.weekday() for d in days])
    dom = np.array([d.day for d in days])
    return days, weekday, dom


def _level(rng: np.random.Generator) -> float:
    return float(math.exp(rng.uniform(math.log(3), math.log(3000))))  # $3 to $3,000 a day


def _weekly(rng: np.random.Generator, weekday: np.ndarray, strength: float | None = None) -> np.ndarray:
    """Quieter weekends (between 'none' and 'office hours only')."""
    weekend = rng.uniform(0.3, 1.0) if strength is None else strength
    return np.where(weekday >= 5, weekend, 1.0)


def _noise(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    return np.exp(rng.normal(-sigma * sigma / 2, sigma, n))


def _drift(rng: np.random.Generator, n: int, step: float = 0.01, keep: float = 0.98) -> np.ndarray:
    """A slowly wandering level (AR(1) in log space)."""
    out, x = np.empty(n), 0.0
    for i in range(n):
        x = keep * x + rng.normal(0, step)
        out[i] = x
    return np.exp(out)


def _pack(days: list[date], values: np.ndarray, first: int = 0) -> Series:
    return {d: round(float(v), 2) for d, v in zip(days[first:], values[first:])}


# --- kinds -------------------------------------------------------------------------------------


def calm(rng):
    """A steady internal tool: wandering level, modest noise, little weekly rhythm."""
    days, weekday, _ = _calendar()
    v = _level(rng) * _drift(rng, DAYS) * _weekly(rng, weekday, rng.uniform(0.85, 1.0))
    return _pack(days, v * _noise(rng, DAYS, rng.uniform(0.05, 0.25)))


def weekly(rng):
    """Office-hours B2B use: weekends at 5-50%, a quieter Friday, slow growth."""
    days, weekday, _ = _calendar()
    shape = np.where(weekday >= 5, rng.uniform(0.05, 0.5), np.where(weekday == 4, rng.uniform(0.7, 1.0), 1.0))
    v = _level(rng) * np.exp(rng.uniform(0, 0.0015) * np.arange(DAYS)) * shape
    return _pack(days, v * _noise(rng, DAYS, rng.uniform(0.05, 0.2)))


def growth(rng):
    """A product finding users: exponential or S-shaped adoption."""
    days, weekday, _ = _calendar()
    t = np.arange(DAYS)
    if rng.random() < 0.5:
        trend = np.exp(rng.uniform(0.003, 0.012) * t)
    else:
        mid, width = rng.uniform(100, 350), rng.uniform(30, 80)
        trend = 1 + rng.uniform(4, 20) / (1 + np.exp(-(t - mid) / width))
    v = _level(rng) / 4 * trend * _weekly(rng, weekday)
    return _pack(days, v * _noise(rng, DAYS, rng.uniform(0.05, 0.2)))


def decline(rng):
    """A feature being retired or a cheaper model taking over gradually: decay toward a floor."""
    days, weekday, _ = _calendar()
    t = np.arange(DAYS)
    floor = rng.uniform(0.05, 0.4)
    trend = floor + (1 - floor) * np.exp(-rng.uniform(0.003, 0.012) * t)
    v = _level(rng) * trend * _weekly(rng, weekday)
    return _pack(days, v * _noise(rng, DAYS, rng.uniform(0.05, 0.2)))


def step_up(rng):
    """A launch: volume jumps 1.5-4x overnight, once or twice."""
    days, weekday, _ = _calendar()
    v = _level(rng) * np.ones(DAYS)
    for _ in range(rng.integers(1, 3)):
        v[rng.integers(60, DAYS - 20) :] *= rng.uniform(1.5, 4)
    v *= _weekly(rng, weekday) * _drift(rng, DAYS, 0.005)
    return _pack(days, v * _noise(rng, DAYS, rng.uniform(0.05, 0.2)))


def step_down(rng):
    """A migration to a cheaper model (25-70% left) or a key revoked (2-10% left)."""
    days, weekday, _ = _calendar()
    v = _level(rng) * np.ones(DAYS)
    for _ in range(rng.integers(1, 3)):
        left = rng.uniform(0.02, 0.1) if rng.random() < 0.3 else rng.uniform(0.25, 0.7)
        v[rng.integers(60, DAYS - 20) :] *= left
    v *= _weekly(rng, weekday) * _drift(rng, DAYS, 0.005)
    return _pack(days, v * _noise(rng, DAYS, rng.uniform(0.05, 0.2)))


def spiky(rng):
    """Runaway jobs: on 2-6% of days spend multiplies 3-10x for 1-3 days."""
    days, weekday, _ = _calendar()
    v = _level(rng) * _weekly(rng, weekday) * _noise(rng, DAYS, rng.uniform(0.05, 0.15))
    rate, i = rng.uniform(0.02, 0.06), 0
    while i < DAYS:
        if rng.random() < rate:
            length, factor = rng.integers(1, 4), rng.uniform(3, 10)
            v[i : i + length] *= factor
            i += length
        i += 1
    return _pack(days, v)


def heavy_tailed(rng):
    """Day-to-day spend with a heavy upper tail (Student-t in log space, 2-4 degrees of freedom)."""
    days, weekday, _ = _calendar()
    scale = rng.uniform(0.2, 0.45)
    shocks = np.clip(rng.standard_t(rng.uniform(2, 4), DAYS) * scale, -3, 4)
    v = _level(rng) * _weekly(rng, weekday) * _drift(rng, DAYS, 0.005) * np.exp(shocks)
    return _pack(days, v)


def sparse(rng):
    """Occasional use: spend on 8-45% of days (more often on weekdays), sizes vary 2-5x."""
    days, weekday, _ = _calendar()
    p = rng.uniform(0.08, 0.45)
    active = rng.random(DAYS) < np.where(weekday >= 5, p / 2, p)
    sizes = _level(rng) * _noise(rng, DAYS, rng.uniform(0.4, 1.0))
    return _pack(days, np.where(active, sizes, 0.0))


def short(rng):
    """A new org: 35-100 days of history of a steady, weekly or growing kind."""
    make = (calm, weekly, growth)[rng.integers(0, 3)]
    full = make(rng)
    keep = int(rng.integers(35, 101))
    return dict(list(full.items())[-keep:])


def month_start(rng):
    """Batch jobs on the first 1-3 days of each month (2-8x a normal day), steady otherwise."""
    days, weekday, dom = _calendar()
    length, factor = rng.integers(1, 4), rng.uniform(2, 8)
    v = _level(rng) * _weekly(rng, weekday) * _drift(rng, DAYS, 0.005)
    v = v * np.where(dom <= length, factor, 1.0)
    return _pack(days, v * _noise(rng, DAYS, rng.uniform(0.05, 0.2)))


@cache
def _azure_minutes(name: str) -> np.ndarray:
    with (DATA / f"azure-{name}-per-minute.csv").open() as handle:
        values = np.array([float(r["cost_usd"]) for r in csv.DictReader(handle)])
    return values / values.mean()


def _azure(rng, name: str, surge: bool = False) -> Series:
    """A real priced trace's minute-to-minute variation used as day-to-day variation.

    The trace covers one hour, so it cannot give a month's shape; what it has is real burstiness
    (the code service: 13 of 56 minutes empty, the busiest 4x the mean). Days take the priced
    spend of consecutive minutes, in runs of 7 from seeded starting points, so bursts keep their
    length; a weekly rhythm, a level and (for `surge`) a month-start batch are laid over it.
    """
    days, weekday, dom = _calendar()
    minutes = _azure_minutes(name)
    starts = rng.integers(0, len(minutes), size=-(-DAYS // 7))
    index = ((starts[:, None] + np.arange(7)) % len(minutes)).ravel()[:DAYS]
    v = _level(rng) * _weekly(rng, weekday) * (0.15 + 0.85 * minutes[index])  # a floor: some use every day
    if surge:
        v = v * np.where(dom <= rng.integers(1, 4), rng.uniform(2, 5), 1.0)
    return _pack(days, v)


def azure_code(rng):
    return _azure(rng, "code")


def azure_conv(rng):
    return _azure(rng, "conv")


def azure_code_month_start(rng):
    return _azure(rng, "code", surge=True)


@cache
def _wiki(name: str) -> tuple[list[date], np.ndarray]:
    with (DATA / f"wiki-{name}-daily.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    return [date.fromisoformat(r["date"]) for r in rows], np.array([float(r["views"]) for r in rows])


def _wiki_window(rng, held_out: bool) -> Series:
    """456 days of real Wikipedia page views ($10 per 1,000), relabelled to 2024-01-01 on the same
    weekdays. Tuning windows start in 2008-2011, held-out windows in 2012-2014 (no overlap)."""
    name = ("peyton-manning", "r-language")[rng.integers(0, 2)]
    dates, views = _wiki(name)
    first = dates.index(date(2012, 1, 2) if held_out else date(2008, 1, 7))
    last = dates.index(date(2014, 10, 1) if held_out else date(2010, 7, 1))  # window starts up to here
    start = first + 7 * int(rng.integers(0, (last - first) // 7))  # whole weeks: weekdays line up
    shift = (START - dates[start]).days
    shift -= dates[start].weekday() - START.weekday()  # keep Mondays on Mondays
    out: Series = {}
    for i in range(DAYS + 7):
        d = dates[start + i] + timedelta(days=shift)
        if START <= d < START + timedelta(days=DAYS):
            out[d] = round(float(views[start + i]) * 0.01, 2)
    return out


KINDS: dict[str, Callable] = {
    "calm": calm,
    "weekly": weekly,
    "growth": growth,
    "decline": decline,
    "step-up": step_up,
    "step-down": step_down,
    "spiky": spiky,
    "heavy-tailed": heavy_tailed,
    "sparse": sparse,
    "short": short,
    "month-start": month_start,
    "azure-code": azure_code,
    "azure-conv": azure_conv,
    "azure-code-month-start": azure_code_month_start,
    "wiki": None,
}


def make(kind: str, seed: int) -> Series:
    """One series of `kind` from `seed` (the same seed always gives the same series)."""
    rng = np.random.default_rng([seed, list(KINDS).index(kind)])
    if kind == "wiki":
        return _wiki_window(rng, held_out=seed in HELD_OUT)
    return KINDS[kind](rng)


def collection(seeds: range, per_kind: int, kinds=None) -> list[tuple[str, int, Series]]:
    """(kind, seed, series) for the first `per_kind` seeds of `seeds` and every kind."""
    return [(kind, seed, make(kind, seed)) for kind in (kinds or KINDS) for seed in list(seeds)[:per_kind]]
