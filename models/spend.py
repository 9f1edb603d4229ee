"""Spend read from the daily rollups and priced at each usage's own date."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy import bindparam, text

from models.db import get_engine
from models.prices import Catalog, get_catalog
from models.rollups import daily_table
from models.tables import USAGE_COUNTERS

MICRO = Decimal("0.000001")

# `--by` names and the rollup column each one reads; week and month derive from the day.
BY_COLUMNS = {
    "day": "day",
    "week": "day",
    "month": "day",
    "org": "org_id",
    "provider": "provider",
    "project": "project_id",
    "api_key": "api_key_id",
    "user": "user_id",
    "model": "model",
    "service_tier": "service_tier",
    "batch": "batch",
}
FILTER_COLUMNS = {k: v for k, v in BY_COLUMNS.items() if k not in ("day", "week", "month")}
PRICE_COLUMNS = ("provider", "model", "service_tier", "batch", "context_band", "price_date")


class SpendQueryError(ValueError):
    """A spend query asked for something that does not exist."""


@dataclass(frozen=True)
class SpendQuery:
    org_ids: tuple[str, ...]
    start: date  # inclusive, in each org's time zone
    end: date  # exclusive
    by: tuple[str, ...] = ()
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def make(cls, org_ids: Iterable[str] | str, start: date, end: date, by: Sequence[str] = (), filters=None):
        org_ids = (org_ids,) if isinstance(org_ids, str) else tuple(org_ids)
        unknown = [b for b in by if b not in BY_COLUMNS]
        if unknown:
            raise SpendQueryError(f"unknown grouping {unknown[0]!r}; choose from {', '.join(BY_COLUMNS)}")
        if end <= start:
            raise SpendQueryError(f"end {end} must be after start {start} (end is exclusive)")
        items = []
        for name, values in sorted((filters or {}).items()):
            if name not in FILTER_COLUMNS:
                raise SpendQueryError(f"unknown filter {name!r}; choose from {', '.join(FILTER_COLUMNS)}")
            if values:
                items.append((name, tuple(sorted(str(v) for v in values))))
        return cls(org_ids, start, end, tuple(dict.fromkeys(by)), tuple(items))


@dataclass
class SpendRow:
    keys: dict[str, object]
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(USAGE_COUNTERS, 0))
    cost: Decimal = Decimal(0)
    unpriced_requests: int = 0
    unpriced_tokens: int = 0

    @property
    def cost_micros(self) -> int:
        return int((self.cost / MICRO).to_integral_value(ROUND_HALF_EVEN))


def key_value(name: str, day: date | None, value):
    if name == "day":
        return day.isoformat()
    if name == "week":
        return (day - timedelta(days=day.weekday())).isoformat()
    if name == "month":
        return day.strftime("%Y-%m")
    if name == "batch":
        return bool(value)
    return value


def spend(query: SpendQuery, catalog: Catalog | None = None) -> list[SpendRow]:
    """Rows per `query.by` key, each with counters, exact cost and what could not be priced."""
    if not query.org_ids:
        return []
    catalog = catalog or get_catalog()
    group_cols = list(dict.fromkeys([BY_COLUMNS[b] for b in query.by] + list(PRICE_COLUMNS)))
    where = ["org_id IN :orgs", "day >= :start", "day < :end"]
    params: dict[str, object] = {"orgs": list(query.org_ids), "start": query.start, "end": query.end}
    binds = [bindparam("orgs", expanding=True)]
    for i, (name, values) in enumerate(query.filters):
        column = FILTER_COLUMNS[name]
        if column == "batch":
            params[f"f{i}"] = [v in ("1", "true", "True", "yes") for v in values]
        else:
            params[f"f{i}"] = list(values)
        where.append(f"{column} IN :f{i}")
        binds.append(bindparam(f"f{i}", expanding=True))
    table = daily_table(group_cols + [FILTER_COLUMNS[name] for name, _ in query.filters])
    sql = (
        f"SELECT {', '.join(group_cols)}, {', '.join(f'SUM({c}) AS {c}' for c in USAGE_COUNTERS)} "
        f"FROM {table} WHERE {' AND '.join(where)} GROUP BY {', '.join(group_cols)}"
    )
    with get_engine().connect() as conn:
        result = conn.execute(text(sql).bindparams(*binds), params).all()
    # Plain tuples and positions, and one price lookup per price key: this loop runs once per
    # (group, price key) row, thousands of times for a page's day-by-project series.
    at = {column: i for i, column in enumerate(group_cols)}
    day_at, by_at, n = at.get("day"), [at[BY_COLUMNS[b]] for b in query.by], len(group_cols)
    price_at = [at[c] for c in PRICE_COLUMNS]
    prices: dict[tuple, object] = {}
    out: dict[tuple, SpendRow] = {}
    for rec in result:
        day = _as_date(rec[day_at]) if day_at is not None else None
        key = tuple(key_value(b, day, rec[i]) for b, i in zip(query.by, by_at))
        row = out.get(key)
        if row is None:
            row = out[key] = SpendRow(dict(zip(query.by, key)))
        counts = dict(zip(USAGE_COUNTERS, (int(v or 0) for v in rec[n:])))
        totals = row.counters
        for c, v in counts.items():
            totals[c] += v
        price_key = tuple(rec[i] for i in price_at)
        price = prices.get(price_key, _UNSEEN)
        if price is _UNSEEN:
            provider, model, tier, batch, band, price_date = price_key
            price = prices[price_key] = catalog.resolve(provider, model, _as_date(price_date), tier, bool(batch),
                                                        int(band or 0))
        if price is None:
            row.unpriced_requests += counts["requests"]
            row.unpriced_tokens += counts["input_tokens"] + counts["output_tokens"]
        else:
            row.cost += price.cost(counts)
    return [out[k] for k in sorted(out, key=_sort_key)]


_UNSEEN = object()


def _sort_key(key: tuple) -> tuple:
    return tuple((v is None, str(v)) for v in key)


def _as_date(value) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def unpriced_models(org_ids: Iterable[str], start: date, end: date, catalog: Catalog | None = None) -> list[dict]:
    """Models with usage but no price in the catalog, with their token counts."""
    rows = spend(SpendQuery.make(org_ids, start, end, by=("provider", "model")), catalog)
    return [
        {"provider": r.keys["provider"], "model": r.keys["model"], "requests": r.counters["requests"],
         "input_tokens": r.counters["input_tokens"], "output_tokens": r.counters["output_tokens"]}
        for r in rows
        if r.unpriced_requests or r.unpriced_tokens
    ]
