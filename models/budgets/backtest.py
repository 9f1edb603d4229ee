"""Backtest the month-end forecast on a daily spend series, against the naive run-rate.

For every complete calendar month in the series and each as-of day (7, 10, 14, 21) the forecast
sees only the days up to and including the as-of day (earlier months included) and predicts the
month total. The naive run-rate is month-to-date / as-of day x days in month.

Also here: the deterministic generators of the realistic series the docs report on
(tests/data/forecast/*.csv).
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypedDict

from models.budgets import billing
from models.budgets.forecast import DEFAULT, Params, forecast_month

AS_OF_DAYS = (7, 10, 14, 21)
DATE_COLUMNS = ("date", "day")  # `spendsight report --by day` writes "day"


class BacktestInputError(ValueError):
    """The daily CSV cannot be used; the message names the file, line and field."""


def read_daily_csv(path: Path | str) -> dict[date, Decimal]:
    """`date,cost_usd` rows (other columns ignored); days not listed count as zero spend."""
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise BacktestInputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    daily: dict[date, Decimal] = {}
    seen: dict[date, int] = {}
    with handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in reader.fieldnames or []]
        reader.fieldnames = header
        date_col = next((c for c in DATE_COLUMNS if c in header), None)
        if date_col is None or "cost_usd" not in header:
            missing = "date" if date_col is None else "cost_usd"
            raise BacktestInputError(f"{path}:1: {missing}: missing column (expected columns date,cost_usd)")
        for row in reader:
            line = reader.line_num
            raw_day = (row.get(date_col) or "").strip()
            try:
                day = date.fromisoformat(raw_day)
            except ValueError:
                raise BacktestInputError(f"{path}:{line}: {date_col}: {raw_day!r} is not a date YYYY-MM-DD") from None
            raw_cost = (row.get("cost_usd") or "").strip()
            try:
                cost = Decimal(raw_cost)
            except InvalidOperation:
                raise BacktestInputError(f"{path}:{line}: cost_usd: {raw_cost!r} is not a number") from None
            if not cost.is_finite() or cost < 0:
                raise BacktestInputError(f"{path}:{line}: cost_usd: {raw_cost!r} must be a non-negative amount")
            if day in seen:
                raise BacktestInputError(f"{path}:{line}: {date_col}: {day} already on line {seen[day]}")
            seen[day] = line
            daily[day] = cost
    if not daily:
        raise BacktestInputError(f"{path}: no rows (expected columns date,cost_usd)")
    return daily


def complete_months(daily: Mapping[date, Decimal]) -> list[tuple[int, int]]:
    """Months whose every day lies within the series' first and last date."""
    first, last = min(daily), max(daily)
    months = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        start, end = billing.month_bounds(year, month)
        if start >= first and end - timedelta(days=1) <= last:
            months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def naive_run_rate(daily: Mapping[date, Decimal], as_of: date) -> Decimal:
    start = as_of.replace(day=1)
    mtd = sum((daily.get(start + timedelta(days=i), Decimal(0)) for i in range(as_of.day)), Decimal(0))
    return mtd / as_of.day * billing.days_in_month(as_of)


class Run(TypedDict):
    month: str
    as_of_day: int
    p10: float
    p50: float
    p90: float
    actual: float


def backtest(
    daily: Mapping[date, Decimal], as_of_days: Sequence[int] = AS_OF_DAYS, params: Params = DEFAULT
) -> dict[str, Any]:
    """{"runs": [{"month", "as_of_day", "p10", "p50", "p90", "actual"}, ...], "summary": {...}}."""
    runs: list[Run] = []
    naive: list[float] = []
    for year, month in complete_months(daily):
        start, end = billing.month_bounds(year, month)
        actual = sum((v for d, v in daily.items() if start <= d < end), Decimal(0))
        for day in as_of_days:
            as_of = date(year, month, day)
            history = {d: v for d, v in daily.items() if d <= as_of}
            result = forecast_month(history, as_of, params=params)
            runs.append(
                {
                    "month": billing.month_label(year, month),
                    "as_of_day": day,
                    "p10": _num(result.p10),
                    "p50": _num(result.p50),
                    "p90": _num(result.p90),
                    "actual": _num(actual),
                }
            )
            naive.append(_num(naive_run_rate(daily, as_of)))
    return {"runs": runs, "summary": summarize(runs, naive)}


def summarize(runs: Sequence[Run], naive: Sequence[float]) -> dict[str, Any]:
    def stats(indices: list[int]) -> dict[str, Any]:
        scored = [i for i in indices if runs[i]["actual"] > 0]
        if not scored:
            return {"runs": len(indices), "mape_forecast": None, "mape_naive": None, "coverage_p10_p90": None}
        err = [abs(runs[i]["p50"] - runs[i]["actual"]) / runs[i]["actual"] for i in scored]
        err_naive = [abs(naive[i] - runs[i]["actual"]) / runs[i]["actual"] for i in scored]
        covered = [runs[i]["p10"] <= runs[i]["actual"] <= runs[i]["p90"] for i in scored]
        return {
            "runs": len(indices),
            "mape_forecast": round(100 * sum(err) / len(err), 2),
            "mape_naive": round(100 * sum(err_naive) / len(err_naive), 2),
            "coverage_p10_p90": round(sum(covered) / len(covered), 3),
        }

    summary = stats(list(range(len(runs))))
    summary["months"] = len({r["month"] for r in runs})
    summary["beats_naive"] = summary["mape_forecast"] is not None and summary["mape_forecast"] < summary["mape_naive"]
    summary["by_as_of_day"] = {
        str(day): stats([i for i, r in enumerate(runs) if r["as_of_day"] == day])
        for day in sorted({r["as_of_day"] for r in runs})
    }
    return summary


def _num(value: Decimal) -> float:
    return float(Decimal(value).quantize(Decimal("0.01")))


# --- realistic series, generated deterministically ---------------------------------------------

SERIES_START = date(2024, 1, 1)
SERIES_DAYS = 456  # 2024-01-01 .. 2025-03-31: 15 complete months


def _days(n: int = SERIES_DAYS) -> list[date]:
    return [SERIES_START + timedelta(days=i) for i in range(n)]


def _lognormal(rng: random.Random, sigma: float) -> float:
    return math.exp(rng.gauss(-sigma * sigma / 2, sigma))


def demo_shape(seed: int = 7) -> dict[date, float]:
    """demo.py's org-prod rhythm (weekends 45%, Tue/Wed 108%), steady growth and a runaway
    re-index now and then that quadruples the RAG share (35%) for a day. Growth is 0.25%/day, not the
    demo's 1.2%, so that fifteen months stay plausible."""
    rng = random.Random(seed)
    out = {}
    for i, day in enumerate(_days()):
        weekly = 0.45 if day.weekday() >= 5 else (1.08 if day.weekday() in (1, 2) else 1.0)
        value = 55 * 1.0025**i * weekly * _lognormal(rng, 0.06)
        if rng.random() < 1 / 40:
            value *= 1 + 0.35 * 3
        out[day] = value
    return out


def growing(seed: int = 11) -> dict[date, float]:
    """A product finding its users: S-shaped adoption from $15 to $400 a day, a launch that adds 30%
    overnight, prompt caching that later takes 20% off, quieter weekends."""
    rng = random.Random(seed)
    out = {}
    for i, day in enumerate(_days()):
        level = 15 + 385 / (1 + math.exp(-(i - 250) / 60))
        if i >= 120:
            level *= 1.3
        if i >= 330:
            level *= 0.8
        weekly = 0.75 if day.weekday() >= 5 else 1.0
        out[day] = level * weekly * _lognormal(rng, 0.1)
    return out


def flat_noisy(seed: int = 13) -> dict[date, float]:
    """An internal tool at a steady $150 a day: no weekly rhythm, a slowly wandering level and
    large day-to-day noise."""
    rng = random.Random(seed)
    out, drift = {}, 0.0
    for day in _days():
        drift = 0.97 * drift + rng.gauss(0, 0.02)
        out[day] = 150 * math.exp(drift) * _lognormal(rng, 0.25)
    return out


def spiky(seed: int = 17) -> dict[date, float]:
    """$80 a day with incidents: on 4% of days a runaway job multiplies spend 3-10x for 1-3 days."""
    rng = random.Random(seed)
    out, incident_left, factor = {}, 0, 1.0
    for day in _days():
        if incident_left == 0 and rng.random() < 0.04:
            incident_left, factor = rng.randint(1, 3), rng.uniform(3, 10)
        weekly = 0.8 if day.weekday() >= 5 else 1.0
        value = 80 * weekly * _lognormal(rng, 0.12)
        if incident_left:
            value *= factor
            incident_left -= 1
        out[day] = value
    return out


US_HOLIDAYS = {
    date(2024, 1, 1),
    date(2024, 1, 15),
    date(2024, 5, 27),
    date(2024, 7, 4),
    date(2024, 9, 2),
    date(2024, 11, 28),
    date(2024, 11, 29),
    date(2024, 12, 24),
    date(2024, 12, 25),
    date(2024, 12, 31),
    date(2025, 1, 1),
    date(2025, 1, 20),
    date(2025, 2, 17),
}


def b2b_weekday(seed: int = 19) -> dict[date, float]:
    """A B2B product used in office hours: weekends at 8%, public holidays at 10%, quieter Fridays,
    a month-end reporting run (1.8x on the last business day), 35% growth a year."""
    rng = random.Random(seed)
    out = {}
    days = _days()
    for i, day in enumerate(days):
        level = 300 * 1.35 ** (i / 365)
        if day.weekday() >= 5:
            factor = 0.08
        elif day in US_HOLIDAYS:
            factor = 0.10
        else:
            factor = 0.9 if day.weekday() == 4 else 1.0
            nxt = day + timedelta(days=1)
            while nxt.weekday() >= 5 or nxt in US_HOLIDAYS:
                nxt += timedelta(days=1)
            if nxt.month != day.month:
                factor *= 1.8
        out[day] = level * factor * _lognormal(rng, 0.08)
    return out


SERIES: dict[str, Callable[[], dict[date, float]]] = {
    "demo-shape": demo_shape,
    "growing": growing,
    "flat-noisy": flat_noisy,
    "spiky": spiky,
    "b2b-weekday": b2b_weekday,
}


def series_csv(daily: Mapping[date, float]) -> str:
    lines = ["date,cost_usd"]
    lines += [f"{d.isoformat()},{Decimal(repr(v)).quantize(Decimal('0.01'))}" for d, v in sorted(daily.items())]
    return "\n".join(lines) + "\n"
