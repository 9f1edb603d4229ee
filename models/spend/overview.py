"""The home page's numbers for one org: month to date, daily spend, top drivers, unpriced usage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
from sqlalchemy import text

from models.db import get_engine
from models.spend.queries import SpendQuery, SpendRow, spend
from models.units import month_start


@dataclass
class Overview:
    org_id: str
    today: date
    month_start: date
    mtd_cost: Decimal
    mtd_requests: int
    prev_month_cost: Decimal
    daily: pd.DataFrame  # day, cost_usd (float for charts), requests
    top_models: pd.DataFrame  # model, provider, cost_usd, requests, share
    top_projects: pd.DataFrame  # project, cost_usd, requests, share
    unpriced: list[dict[str, object]] = field(default_factory=list)
    last_usage_day: date | None = None


def previous_month(day: date) -> tuple[date, date]:
    first = month_start(day)
    return month_start(first - timedelta(days=1)), first


def overview(org_id: str, today: date, history_days: int = 60) -> Overview:
    first = month_start(today)
    end = today + timedelta(days=1)
    prev_start, prev_end = previous_month(today)
    hist_start = min(first, today - timedelta(days=history_days))
    # One read per grouping the page shows; the month's total, last month's and the unpriced models
    # are sums of those rows (exact Decimals), not more scans of the same rollup rows.
    by_day = spend(SpendQuery.make(org_id, min(prev_start, hist_start), end, by=("day",)))
    models = spend(SpendQuery.make(org_id, first, end, by=("model", "provider")))
    projects = spend(SpendQuery.make(org_id, first, end, by=("project",)))
    days = [(date.fromisoformat(str(r.keys["day"])), r) for r in by_day]
    daily = pd.DataFrame(
        [
            {"day": day, "cost_usd": float(r.cost), "requests": r.counters["requests"]}
            for day, r in days
            if day >= hist_start
        ],
        columns=["day", "cost_usd", "requests"],
    )
    mtd_cost = sum((r.cost for r in models), Decimal(0))
    unpriced = sorted(
        (r for r in models if r.unpriced_requests or r.unpriced_tokens),
        key=lambda r: (str(r.keys["provider"]), str(r.keys["model"])),
    )
    return Overview(
        org_id=org_id,
        today=today,
        month_start=first,
        mtd_cost=mtd_cost,
        mtd_requests=sum(r.counters["requests"] for r in models),
        prev_month_cost=sum((r.cost for day, r in days if prev_start <= day < prev_end), Decimal(0)),
        daily=daily,
        top_models=_top(models, ("model", "provider"), mtd_cost),
        top_projects=_top(projects, ("project",), mtd_cost),
        unpriced=[
            {
                "provider": r.keys["provider"],
                "model": r.keys["model"],
                "requests": r.counters["requests"],
                "input_tokens": r.counters["input_tokens"],
                "output_tokens": r.counters["output_tokens"],
            }
            for r in unpriced
        ],
        last_usage_day=last_usage_day(org_id),
    )


def _top(rows: Sequence[SpendRow], keys: tuple[str, ...], total: Decimal, limit: int = 8) -> pd.DataFrame:
    records = []
    for r in sorted(rows, key=lambda r: r.cost, reverse=True)[:limit]:
        record: dict[str, object] = {k: r.keys[k] or "(none)" for k in keys}
        record.update(
            cost_usd=float(r.cost),
            requests=r.counters["requests"],
            share=float(r.cost / total) if total else 0.0,
        )
        records.append(record)
    return pd.DataFrame(records, columns=[*keys, "cost_usd", "requests", "share"])


def last_usage_day(org_id: str) -> date | None:
    with get_engine().connect() as conn:
        value = conn.execute(
            text("SELECT MAX(day) FROM rollup_daily_project WHERE org_id = :o"), {"o": org_id}
        ).scalar()
    if value is None:
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
