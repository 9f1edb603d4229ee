"""The home page's numbers for one org: month to date, daily spend, top drivers, unpriced usage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd

from models.spend import SpendQuery, spend, unpriced_models


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
    unpriced: list[dict] = field(default_factory=list)
    last_usage_day: date | None = None


def month_start(day: date) -> date:
    return day.replace(day=1)


def previous_month(day: date) -> tuple[date, date]:
    first = month_start(day)
    return month_start(first - timedelta(days=1)), first


def overview(org_id: str, today: date, history_days: int = 60) -> Overview:
    first = month_start(today)
    end = today + timedelta(days=1)
    mtd = spend(SpendQuery.make(org_id, first, end))
    prev_start, prev_end = previous_month(today)
    prev = spend(SpendQuery.make(org_id, prev_start, prev_end))
    hist_start = min(first, today - timedelta(days=history_days))
    daily_rows = spend(SpendQuery.make(org_id, hist_start, end, by=("day",)))
    daily = pd.DataFrame(
        [{"day": date.fromisoformat(r.keys["day"]), "cost_usd": float(r.cost), "requests": r.counters["requests"]}
         for r in daily_rows],
        columns=["day", "cost_usd", "requests"],
    )
    mtd_cost = mtd[0].cost if mtd else Decimal(0)
    models = spend(SpendQuery.make(org_id, first, end, by=("model", "provider")))
    projects = spend(SpendQuery.make(org_id, first, end, by=("project",)))
    return Overview(
        org_id=org_id,
        today=today,
        month_start=first,
        mtd_cost=mtd_cost,
        mtd_requests=mtd[0].counters["requests"] if mtd else 0,
        prev_month_cost=prev[0].cost if prev else Decimal(0),
        daily=daily,
        top_models=_top(models, ("model", "provider"), mtd_cost),
        top_projects=_top(projects, ("project",), mtd_cost),
        unpriced=unpriced_models([org_id], first, end),
        last_usage_day=last_usage_day(org_id),
    )


def _top(rows, keys, total: Decimal, limit: int = 8) -> pd.DataFrame:
    records = []
    for r in sorted(rows, key=lambda r: r.cost, reverse=True)[:limit]:
        record = {k: r.keys[k] or "(none)" for k in keys}
        record.update(
            cost_usd=float(r.cost), requests=r.counters["requests"],
            share=float(r.cost / total) if total else 0.0,
        )
        records.append(record)
    return pd.DataFrame(records, columns=[*keys, "cost_usd", "requests", "share"])


def last_usage_day(org_id: str) -> date | None:
    from sqlalchemy import text

    from models.db import get_engine

    with get_engine().connect() as conn:
        value = conn.execute(text("SELECT MAX(day) FROM rollup_daily WHERE org_id = :o"), {"o": org_id}).scalar()
    if value is None:
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
