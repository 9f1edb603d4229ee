"""Reconciliation: our estimate (token counts x catalog) next to what the provider billed, per UTC day and project.

Providers bill per UTC day, so both sides are cut by UTC date: estimates come from the daily rollup's
`price_date` (the UTC date the usage happened on), billed amounts from `billed_cost`. Only the
providers the org collects costs for (a source, or billed rows in the range) are compared.
`drift_pct` = (estimated - billed) / billed x 100: positive when we estimate more than was billed;
empty when nothing was billed that day for that project.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import TypedDict

from sqlalchemy import Connection, bindparam, text

from models.db import UTCDateTime, bind_time, get_engine
from models.pricing.catalog import Catalog, get_catalog
from models.tables import USAGE_COUNTERS
from models.units import MICRO

RECONCILE_COLUMNS = ("day", "provider", "project", "estimated_usd", "billed_usd", "drift_pct")
PCT = Decimal("0.01")


class ReconcileRow(TypedDict):
    day: str  # ISO date, UTC
    provider: str
    project: str
    estimated_usd: Decimal
    billed_usd: Decimal
    drift_pct: Decimal | None


class ReconcileTotals(TypedDict):
    estimated_usd: Decimal
    billed_usd: Decimal
    drift_pct: Decimal | None


class DayAmounts(TypedDict):
    day: str
    estimated_usd: Decimal
    billed_usd: Decimal


def drift_pct(estimated: Decimal, billed: Decimal) -> Decimal | None:
    if not billed:
        return None
    return ((estimated - billed) / billed * 100).quantize(PCT)


def _day(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _providers(conn: Connection, org_id: str) -> list[str]:
    rows = conn.execute(
        text(
            "SELECT DISTINCT provider FROM source WHERE org_id = :org "
            "UNION SELECT DISTINCT provider FROM billed_cost WHERE org_id = :org"
        ),
        {"org": org_id},
    ).all()
    return sorted(r[0] for r in rows)


def reconcile(org_id: str, start: date, end: date, catalog: Catalog | None = None) -> list[ReconcileRow]:
    """Rows of RECONCILE_COLUMNS for UTC days [start, end); amounts are Decimal USD."""
    catalog = catalog or get_catalog()
    est: dict[tuple[date, str, str], Decimal] = defaultdict(Decimal)
    billed: dict[tuple[date, str, str], Decimal] = defaultdict(Decimal)
    with get_engine().connect() as conn:
        providers = _providers(conn, org_id)
        if not providers:
            return []
        sums = ", ".join(f"SUM({c}) AS {c}" for c in USAGE_COUNTERS)
        usage = (
            conn.execute(
                text(
                    f"SELECT price_date, provider, project_id, model, service_tier, batch, context_band, {sums} "
                    "FROM rollup_daily WHERE org_id = :org AND price_date >= :start AND price_date < :end "
                    "AND provider IN :providers "
                    "GROUP BY price_date, provider, project_id, model, service_tier, batch, context_band"
                ).bindparams(bindparam("providers", expanding=True)),
                {"org": org_id, "start": start, "end": end, "providers": providers},
            )
            .mappings()
            .all()
        )
        bills = conn.execute(
            text(
                "SELECT bucket_start, provider, project_id, SUM(amount_micros) AS micros FROM billed_cost "
                "WHERE org_id = :org AND currency = 'USD' AND bucket_start >= :a AND bucket_start < :b "
                "GROUP BY bucket_start, provider, project_id"
            ).columns(bucket_start=UTCDateTime()),
            {
                "org": org_id,
                "a": bind_time(conn, datetime.combine(start, time(), UTC)),
                "b": bind_time(conn, datetime.combine(end, time(), UTC)),
            },
        ).all()
    for rec in usage:
        day = _day(rec["price_date"])
        price = catalog.resolve(
            rec["provider"], rec["model"], day, rec["service_tier"], bool(rec["batch"]), int(rec["context_band"] or 0)
        )
        key = (day, rec["provider"], rec["project_id"])
        est[key] += price.cost({c: int(rec[c] or 0) for c in USAGE_COUNTERS}) if price is not None else Decimal(0)
    for bucket_start, provider, project, micros in bills:
        billed[(bucket_start.date(), provider, project)] += Decimal(int(micros or 0)) * MICRO
    out: list[ReconcileRow] = []
    for key in sorted(set(est) | set(billed)):
        e, b = est.get(key, Decimal(0)).quantize(MICRO), billed.get(key, Decimal(0)).quantize(MICRO)
        out.append(
            {
                "day": key[0].isoformat(),
                "provider": key[1],
                "project": key[2],
                "estimated_usd": e,
                "billed_usd": b,
                "drift_pct": drift_pct(e, b),
            }
        )
    return out


def totals(rows: Sequence[ReconcileRow]) -> ReconcileTotals:
    """Estimated, billed and drift over the rows (for a page's headline numbers)."""
    e = sum((r["estimated_usd"] for r in rows), Decimal(0))
    b = sum((r["billed_usd"] for r in rows), Decimal(0))
    return {"estimated_usd": e, "billed_usd": b, "drift_pct": drift_pct(e, b)}


def by_day(rows: Sequence[ReconcileRow]) -> list[DayAmounts]:
    """Estimated and billed summed per day (for a chart), in day order."""
    days: dict[str, list[Decimal]] = {}
    for r in rows:
        acc = days.setdefault(r["day"], [Decimal(0), Decimal(0)])
        acc[0] += r["estimated_usd"]
        acc[1] += r["billed_usd"]
    return [{"day": d, "estimated_usd": e, "billed_usd": b} for d, (e, b) in sorted(days.items())]
