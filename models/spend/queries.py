"""Spend read from the daily rollups and priced at each usage's own date."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import BindParameter, bindparam, text

from models.db import get_engine
from models.pricing.catalog import Catalog, get_catalog
from models.spend.rollups import daily_table
from models.tables import PROJECT_DIMENSIONS, USAGE_COUNTERS, USAGE_DIMENSIONS

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
    def make(
        cls,
        org_ids: Iterable[str] | str,
        start: date,
        end: date,
        by: Sequence[str] = (),
        filters: Mapping[str, Iterable[object]] | None = None,
    ) -> SpendQuery:
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


def key_value(name: str, day: date | None, value: object) -> object:
    if day is not None:  # read whenever the grouping is by day, week or month
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
    binds: list[BindParameter[Any]] = [bindparam("orgs", expanding=True)]
    for i, (name, values) in enumerate(query.filters):
        column = FILTER_COLUMNS[name]
        if column == "batch":
            params[f"f{i}"] = [v in ("1", "true", "True", "yes") for v in values]
        else:
            params[f"f{i}"] = list(values)
        where.append(f"{column} IN :f{i}")
        binds.append(bindparam(f"f{i}", expanding=True))
    table = daily_table(group_cols + [FILTER_COLUMNS[name] for name, _ in query.filters])
    if set(group_cols) >= _ROW_KEYS[table]:
        # Grouped by the rollup's own key (the explorer's day-by-day series): each row is its own
        # group already, and the loop below adds up rows that share a key (several orgs'), where
        # SQLite's GROUP BY would first sort every row (a third of the series' time at 10M requests).
        sql = f"SELECT {', '.join(group_cols)}, {', '.join(USAGE_COUNTERS)} FROM {table} WHERE {' AND '.join(where)}"
    else:
        sql = (
            f"SELECT {', '.join(group_cols)}, {', '.join(f'SUM({c}) AS {c}' for c in USAGE_COUNTERS)} "
            f"FROM {table} WHERE {' AND '.join(where)} GROUP BY {', '.join(group_cols)}"
        )
    with get_engine().connect() as conn:
        result = conn.execute(text(sql).bindparams(*binds), params).all()
    # Plain tuples, positions and lists, and one price lookup per price key: this loop runs once per
    # (group, price key) row, tens of thousands of times for a 90-day page.
    at = {column: i for i, column in enumerate(group_cols)}
    day_at, by_at, n = at.get("day"), [at[BY_COLUMNS[b]] for b in query.by], len(group_cols)
    price_at = [at[c] for c in PRICE_COLUMNS]
    terms_of: dict[
        tuple[object, ...], list[tuple[int, Decimal]] | None
    ] = {}  # price key -> [(counter position, USD per unit)], None: unpriced
    sums: dict[tuple[object, ...], list[Any]] = {}  # group key -> [*counters, cost, unpriced requests, unpriced tokens]
    width = len(USAGE_COUNTERS)
    for rec in result:
        day = _as_date(rec[day_at]) if day_at is not None else None
        key = tuple(key_value(b, day, rec[i]) for b, i in zip(query.by, by_at))
        acc = sums.get(key)
        if acc is None:
            acc = sums[key] = [0] * width + [Decimal(0), 0, 0]
        counts = [int(v) if v else 0 for v in rec[n:]]
        for j, v in enumerate(counts):
            if v:
                acc[j] += v
        price_key = tuple(rec[i] for i in price_at)
        terms = terms_of.get(price_key, _UNSEEN)
        if terms is _UNSEEN:
            provider, model, tier, batch, band, price_date = price_key
            price = catalog.resolve(provider, model, _as_date(price_date), tier, bool(batch), int(band or 0))
            terms = terms_of[price_key] = (
                None
                if price is None
                else [(_COUNTER_AT[c], coefficient) for c, coefficient in price.coefficients.items()]
            )
        if terms is None:
            acc[width + 1] += counts[_REQUESTS]
            acc[width + 2] += counts[_INPUT] + counts[_OUTPUT]
        else:
            cost = Decimal(0)  # Price.cost(), term by term, on the row's counters
            for j, coefficient in terms:
                if counts[j]:
                    cost += coefficient * counts[j]
            acc[width] += cost
    out = []
    for key in sorted(sums, key=_sort_key):
        acc = sums[key]
        out.append(
            SpendRow(
                dict(zip(query.by, key)),
                dict(zip(USAGE_COUNTERS, acc[:width])),
                acc[width],
                acc[width + 1],
                acc[width + 2],
            )
        )
    return out


def merge(rows: Iterable[SpendRow], by: Sequence[str]) -> list[SpendRow]:
    """Rows of a finer grouping added up per `by` (a subset of their keys): what spend() with that
    `by` returns for the same query, without reading the rollup again. Decimal sums are exact."""
    out: dict[tuple[object, ...], SpendRow] = {}
    for row in rows:
        key = tuple(row.keys[b] for b in by)
        into = out.get(key)
        if into is None:
            into = out[key] = SpendRow(dict(zip(by, key)))
        for c, v in row.counters.items():
            into.counters[c] += v
        into.cost += row.cost
        into.unpriced_requests += row.unpriced_requests
        into.unpriced_tokens += row.unpriced_tokens
    return [out[k] for k in sorted(out, key=_sort_key)]


_COUNTER_AT = {c: i for i, c in enumerate(USAGE_COUNTERS)}
# What identifies a row of each daily rollup within one org (its unique key without org_id).
_ROW_KEYS = {
    "rollup_daily": {"day", "price_date", *USAGE_DIMENSIONS},
    "rollup_daily_project": {"day", "price_date", *PROJECT_DIMENSIONS},
}
_REQUESTS, _INPUT, _OUTPUT = (_COUNTER_AT[c] for c in ("requests", "input_tokens", "output_tokens"))
_UNSEEN: list[tuple[int, Decimal]] = []  # "not looked up yet" for terms_of.get, by identity (typed like its values)


def _sort_key(key: tuple[object, ...]) -> tuple[tuple[bool, str], ...]:
    return tuple((v is None, str(v)) for v in key)


def _as_date(value: object) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
