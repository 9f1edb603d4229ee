"""The forecast's track record on an org's (or project's) own past months, next to the run-rate's.

For each complete month in the history and as-of days 7, 10, 14 and 21: what the forecast said
then (seeing only the days up to that day, as `spendsight backtest` does), how far its p50 was from
the month's actual total, whether p10-p90 held it, and the same error for the naive run-rate. It is
computed in one batch with the forecast's own scoring of earlier months, so it costs about as much
as one forecast and is cached per series and day.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any  # the track record is JSON for the CLI and the page

from models.budgets import billing
from models.budgets.forecast_ensemble import DEFAULT_TUNING, HISTORY_DAYS, Tuning, evaluate, history

AS_OF_DAYS = (7, 10, 14, 21)
MONTHS = 12  # past months shown
# Each past forecast saw HISTORY_DAYS before its as-of day, as the live one does: the oldest shown
# month needs that much before it.
READ_DAYS = HISTORY_DAYS + 31 * MONTHS


def _usd(x: float) -> float:
    return float(Decimal(repr(float(x))).quantize(Decimal("0.01")))


def _pct(forecast: float, actual: float) -> float | None:
    return None if actual <= 0 else round(100 * (forecast - actual) / actual, 1)


def track_record(
    daily: Mapping[date, Decimal | float],
    as_of: date,
    today_fraction: float | None = None,
    params: Tuning = DEFAULT_TUNING,
) -> dict[str, Any]:
    """{"as_of_days", "months": [{"month", "actual_usd", "runs": [...]}, ...], "summary": {...}}.

    Months are the complete ones with spend before the month of `as_of` (at most twelve); a run is
    {"as_of_day", "p10_usd", "p50_usd", "p90_usd", "error_pct", "in_band", "run_rate_usd",
    "run_rate_error_pct"}, errors signed (positive: forecast too high), null for a month without spend.
    """
    end = as_of if today_fraction is None else as_of - timedelta(days=1)
    end = min(end, as_of.replace(day=1) - timedelta(days=1))  # the month in progress has no actual yet
    start, values = history(daily, end, READ_DAYS)
    by_month: dict[date, dict[str, Any]] = {}
    if len(values):
        for day, result in evaluate(values, start, AS_OF_DAYS, current=False, tuning=params).items():
            for i, month in enumerate(result.months):
                entry = by_month.setdefault(
                    month,
                    {
                        "month": billing.month_label(month.year, month.month),
                        "actual_usd": _usd(result.actual[i]),
                        "runs": [],
                    },
                )
                actual = float(result.actual[i])
                entry["runs"].append(
                    {
                        "as_of_day": day,
                        "p10_usd": _usd(result.p10[i]),
                        "p50_usd": _usd(result.p50[i]),
                        "p90_usd": _usd(result.p90[i]),
                        "error_pct": _pct(result.p50[i], actual),
                        "in_band": bool(result.p10[i] - 0.005 <= actual <= result.p90[i] + 0.005),
                        "run_rate_usd": _usd(result.run_rate[i]),
                        "run_rate_error_pct": _pct(result.run_rate[i], actual),
                    }
                )
    months = [by_month[m] for m in sorted(by_month) if by_month[m]["actual_usd"] > 0][-MONTHS:]  # months with spend
    for entry in months:
        entry["runs"].sort(key=lambda r: r["as_of_day"])
    return {"as_of_days": list(AS_OF_DAYS), "months": months, "summary": summarize(months)}


def summarize(months: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean absolute error of p50 and of the run-rate (percent of the actual), their ratio, how often
    the band held the actual, and whether the forecast beat the run-rate."""
    runs = [r for m in months for r in m["runs"]]
    scored = [r for r in runs if r["error_pct"] is not None and r["run_rate_error_pct"] is not None]
    mape = sum(abs(r["error_pct"]) for r in scored) / len(scored) if scored else None
    naive = sum(abs(r["run_rate_error_pct"]) for r in scored) / len(scored) if scored else None
    return {
        "months": len(months),
        "runs": len(runs),
        "mape_pct": None if mape is None else round(mape, 2),
        "run_rate_mape_pct": None if naive is None else round(naive, 2),
        "ratio": round(mape / naive, 3) if mape is not None and naive else None,
        "band_hit_rate": round(sum(r["in_band"] for r in runs) / len(runs), 3) if runs else None,
        "beats_run_rate": bool(mape is not None and naive is not None and mape < naive),
    }
