"""Spend read from the smallest rollup that answers it and priced at each usage's own date."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from operator import add, itemgetter, mul
from typing import Any

from sqlalchemy import BindParameter, Connection, bindparam, text

from models.db import get_engine
from models.pricing.catalog import Catalog, get_catalog
from models.spend.rollups import DAILY_ROLLUPS, choose_rollup
from models.tables import USAGE_COUNTERS
from models.units import add_months, month_start

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
_PRICE_DIMS = PRICE_COLUMNS[:-1]  # what a month row keeps of a price key (it spans price dates)


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
    where: list[str] = ["org_id IN :orgs"]
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
    columns = group_cols + [FILTER_COLUMNS[name] for name, _ in query.filters]
    by_day = bool({"day", "week"} & set(query.by))
    rollup = choose_rollup(columns, (query.end - query.start).days, by_day, from_month_start=query.start.day == 1)
    # Daily rows' price dates can be any date from the day before the days read to their end (local
    # days of any time zone; month rows read days of their whole months); only these prices' change
    # dates split them (see _read_days).
    lo, hi = query.start, query.end
    if rollup.grain == "month":
        lo, hi = month_start(lo), add_months(month_start(hi), 1)
    lo, hi = lo - timedelta(days=2), hi + timedelta(days=2)
    changes = [d for d in catalog.change_dates if lo <= d <= hi]
    result: Sequence[Sequence[Any]]
    with get_engine().connect() as conn:
        if rollup.grain == "month":
            daily = choose_rollup(columns, by_day=True).table  # for the parts month rows cannot answer
            result = _read_months(conn, query, group_cols, where, params, binds, catalog, daily, changes)
        else:
            result = _read_days(conn, rollup.table, group_cols, where, params, binds, changes)
    # Plain tuples, positions and lists, and one price lookup per price key: this loop runs once per
    # (group, price key) row, tens of thousands of times for a 90-day page. Per row it only looks up
    # its group by the raw values (itemgetter), adds the counters with one map() and prices the
    # row; what a group's key is (day -> week or month, batch -> bool) is worked out once per group.
    at = {column: i for i, column in enumerate(group_cols)}
    day_at, by_at, n = at.get("day"), [at[BY_COLUMNS[b]] for b in query.by], len(group_cols)
    raw_key, price_of = _getter(by_at), _getter([at[c] for c in PRICE_COLUMNS])
    terms_of = _price_terms(catalog)
    sums: dict[tuple[object, ...], list[Any]] = {}  # group key -> [*counters, cost, unpriced requests, unpriced tokens]
    by_raw: dict[tuple[object, ...], list[Any]] = {}  # the same lists, by the row's raw group values
    width = len(USAGE_COUNTERS)
    for rec in result:
        raw = raw_key(rec)
        acc = by_raw.get(raw)
        if acc is None:
            day = _as_date(rec[day_at]) if day_at is not None else None
            key = tuple(key_value(b, day, value) for b, value in zip(query.by, raw))
            acc = sums.get(key)
            if acc is None:
                acc = sums[key] = [0] * width + [Decimal(0), 0, 0]
            by_raw[raw] = acc
        counts = rec[n:]  # NOT NULL columns and their sums: ints (Decimal from PostgreSQL's SUM)
        acc[:width] = map(add, acc, counts)
        price_key = price_of(rec)
        terms = terms_of.get(price_key, _UNSEEN)
        if terms is _UNSEEN:
            provider, model, tier, batch, band, price_date = price_key
            price = catalog.resolve(provider, model, _as_date(price_date), tier, bool(batch), int(band or 0))
            terms = terms_of[price_key] = None if price is None else _terms(price.coefficients)
        if terms is None:
            acc[width + 1] += counts[_REQUESTS]
            acc[width + 2] += counts[_INPUT] + counts[_OUTPUT]
        else:  # Price.cost() on the row's counters: each priced counter times its unit price
            pick, coefficients = terms
            acc[width] += sum(map(mul, coefficients, pick(counts)), _ZERO)
    out = []
    for key in sorted(sums, key=_sort_key):
        acc = sums[key]
        out.append(
            SpendRow(
                dict(zip(query.by, key)),
                dict(zip(USAGE_COUNTERS, map(int, acc[:width]))),
                acc[width],
                int(acc[width + 1]),
                int(acc[width + 2]),
            )
        )
    return out


def _read_days(
    conn: Connection,
    table: str,
    group_cols: list[str],
    where: list[str],
    params: dict[str, object],
    binds: list[BindParameter[Any]],
    changes: Sequence[date],
    ranges: Sequence[tuple[date, date, set[tuple[object, ...]] | None]] = (),
) -> Sequence[Sequence[Any]]:
    """(*group_cols, *counters) rows of a daily rollup in [start, end), or in each of `ranges`: its
    days, of only the price keys (_PRICE_DIMS values) given with it, or of all.

    Grouped rows are summed across the price dates between two of `changes` (every date around
    the days read on which any price may change, Catalog.change_dates): their price_date reads as
    one date of that stretch, on which every price is what it is on each of theirs. So a month by
    project is a row per project and price key for each stretch, not for each of its 30 price dates,
    and a day of an org whose local day spans two UTC dates is one row per price key, not two.
    """
    params = dict(params)
    sqlite = conn.dialect.name == "sqlite"

    def bound(name: str, day: date) -> str:
        params[name] = day.isoformat() if sqlite else day  # (SQLite stores dates as ISO text)
        return f":{name}" if sqlite else f"CAST(:{name} AS DATE)"

    # Grouped by the rollup's own key (the explorer's day-by-project series), each row is its own
    # group already and spend() adds up rows that share a key (several orgs'): SQLite's GROUP BY
    # would sort every row to merge few of them (10.8k rows -> 7.6k for a month by project at 10M
    # requests, and slower). rollup_daily_model's rows do merge (each price key is used on both UTC
    # dates of most local days), so it is grouped.
    if set(group_cols) >= _ROW_KEYS[table] and table != _SMALLEST_DAILY:
        selected, grouped = list(group_cols), []
        counters = list(USAGE_COUNTERS)
    else:
        start = params["start"]
        assert isinstance(start, date)
        if changes:  # the stretch before the first change reads as the day before it, each other as its first day
            cases, read_as = [], bound("pe", changes[0] - timedelta(days=1))
            for i, change in enumerate(changes):
                at = bound(f"pc{i}", change)
                cases.append(f"WHEN price_date < {at} THEN {read_as}")
                read_as = at
            epoch = f"CASE {' '.join(cases)} ELSE {read_as} END"
        else:  # one price for every date read: any of them
            epoch = bound("pe", start)
        selected = [f"{epoch} AS price_date" if c == "price_date" else c for c in group_cols]
        # By position: PostgreSQL reads a GROUP BY name as the table's column, not the select's.
        grouped = [str(i + 1) for i, c in enumerate(group_cols) if c != "price_date" or changes]
        counters = [f"SUM({c}) AS {c}" for c in USAGE_COUNTERS]
    if ranges:
        spans = []
        for i, (lo, hi, keys) in enumerate(ranges):
            params[f"d{i}"], params[f"e{i}"] = lo, hi
            span = f"day >= :d{i} AND day < :e{i}"
            if keys is not None:
                listed = []
                for j, key in enumerate(sorted(keys, key=_sort_key)):
                    names = [f"k{i}_{j}_{c}" for c in range(len(_PRICE_DIMS))]
                    params.update(zip(names, key))
                    listed.append("(" + ", ".join(f":{name}" for name in names) + ")")
                span += f" AND ({', '.join(_PRICE_DIMS)}) IN (VALUES {', '.join(listed)})"
            spans.append(f"({span})")
        where = [*where, "(" + " OR ".join(spans) + ")"]
    else:
        where = [*where, "day >= :start", "day < :end"]
    sql = f"SELECT {', '.join(selected + counters)} FROM {table} WHERE {' AND '.join(where)}"
    if grouped:
        sql += f" GROUP BY {', '.join(grouped)}"
    return conn.execute(text(sql).bindparams(*binds), params).all()


def _read_months(
    conn: Connection,
    query: SpendQuery,
    group_cols: list[str],
    where: list[str],
    params: dict[str, object],
    binds: list[BindParameter[Any]],
    catalog: Catalog,
    daily: str,
    changes: Sequence[date],
) -> list[Sequence[Any]]:
    """(*group_cols, *counters) rows for [start, end) from month rows where they are exact, else days.

    A month row stands for the part of its month in the range when its days (day_lo..day_hi) lie
    inside that part (always so for a whole month; at a partial edge, when no usage falls outside
    it) and the catalog gives its price key (model, tier, batch, band) the same prices over its
    price dates (Catalog.steady_price): then it is priced once, at price_lo. A price key with any
    row that does not fit reads its days of that part from the `daily` rollup instead, for all its
    groups, so figures are exact either way; day rows only cost time for the price keys whose
    prices change mid-month (a change of batch prices: only the batch rows).

    At a partial edge where the days outside the part are fewer than those inside (last month to
    yesterday, read on the 30th: one day out, 29 in), a price key whose rows are all steady and
    each has usage inside the part (its first or last day lies in it, so its group belongs in the
    answer) is answered by its month rows less its days outside the part: the same prices apply to
    both, so the difference is priced exactly, and only the days outside are read.
    """
    plain = [c for c in group_cols if c not in ("day", "price_date")]
    grouped = ", ".join(["month", "price_lo", "price_hi", *plain])
    sql = (
        f"SELECT {grouped}, MIN(day_lo), MAX(day_hi), {', '.join(f'SUM({c})' for c in USAGE_COUNTERS)} "
        f"FROM rollup_monthly_project WHERE {' AND '.join(where)} AND month >= :m0 AND month < :end "
        f"GROUP BY {grouped}"
    )
    rows: dict[date, list[Sequence[Any]]] = {}
    for rec in conn.execute(text(sql).bindparams(*binds), {**params, "m0": month_start(query.start)}):
        rows.setdefault(_as_date(rec[0]), []).append(rec)
    price_at = [3 + plain.index(c) for c in _PRICE_DIMS]
    day_lo_at = 3 + len(plain)  # then day_hi, then the counters
    steady: dict[tuple[object, ...], bool] = {}  # (price dims, price_lo, price_hi) -> catalog.steady_price

    def is_steady(r: Sequence[Any]) -> bool:
        dims = tuple(r[i] for i in price_at)
        key = (*dims, r[1], r[2])
        if key not in steady:
            provider, model, tier, batch, band = dims
            first, last = _as_date(r[1]), _as_date(r[2])
            steady[key] = catalog.steady_price(provider, model, first, last, tier, bool(batch), int(band or 0))
        return steady[key]

    out: list[Sequence[Any]] = []
    parts: list[tuple[date, date, set[tuple[object, ...]] | None]] = []  # read from daily rows
    outside: list[tuple[date, date, set[tuple[object, ...]] | None]] = []  # daily rows to take off month rows
    month = month_start(query.start)
    while month < query.end:
        after = add_months(month, 1)
        lo, hi = max(query.start, month), min(query.end, after)
        complement = (lo - month).days + (after - hi).days < (hi - lo).days  # fewer days out than in
        recs = rows.get(month, [])
        # A price key whose rows all fit is answered by month rows; one whose rows all fit or (at a
        # partial edge) have usage inside it, by month rows less its days outside; any other reads
        # its days (all of its groups, so no group is counted from both).
        unfit: set[tuple[object, ...]] = set()
        less: set[tuple[object, ...]] = set()
        for r in recs:
            first, last = _as_date(r[day_lo_at]), _as_date(r[day_lo_at + 1])
            if lo <= first and last < hi and is_steady(r):
                continue
            dims = tuple(r[i] for i in price_at)
            if complement and (lo <= first < hi or lo <= last < hi) and is_steady(r):
                less.add(dims)
            else:
                unfit.add(dims)
        less -= unfit
        values = {"day": month}
        for r in recs:
            if unfit and tuple(r[i] for i in price_at) in unfit:
                continue
            values["price_date"] = _as_date(r[1])
            values.update(zip(plain, r[3 : 3 + len(plain)]))
            out.append([values[c] for c in group_cols] + list(r[day_lo_at + 2 :]))
        if unfit:
            parts.append((lo, hi, unfit))
        if less:
            outside += [(a, b, less) for a, b in ((month, lo), (hi, after)) if a < b]
        month = after
    if parts:
        out.extend(_read_days(conn, daily, group_cols, where, params, binds, changes, parts))
    if outside:
        n = len(group_cols)
        for r in _read_days(conn, daily, group_cols, where, params, binds, changes, outside):
            out.append([*r[:n], *(-v for v in r[n:])])
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
_ROW_KEYS = {r.table: {"day", "price_date", *r.dims} for r in DAILY_ROLLUPS}
_SMALLEST_DAILY = DAILY_ROLLUPS[0].table
_REQUESTS, _INPUT, _OUTPUT = (_COUNTER_AT[c] for c in ("requests", "input_tokens", "output_tokens"))
Terms = tuple[Callable[[Sequence[Any]], tuple[Any, ...]], tuple[Decimal, ...]]
_UNSEEN: Terms = (lambda rec: (), ())  # "not looked up yet" for terms_of.get, by identity (typed like its values)
_ZERO = Decimal(0)
# Each recent catalog's price terms by the price key as read from a rollup: (pick the priced
# counters, their USD per unit), None when unpriced. Like Catalog.resolve's own memo it lives as long
# as the catalog does (a prices.toml change makes a new one): a page's spend() reads a price key per
# price date, hundreds of them, and looked each up again on every call.
_TERMS: list[tuple[Catalog, dict[tuple[object, ...], Terms | None]]] = []


def _price_terms(catalog: Catalog) -> dict[tuple[object, ...], Terms | None]:
    for known, terms in _TERMS:
        if known is catalog:
            return terms
    terms = {}
    _TERMS.insert(0, (catalog, terms))
    del _TERMS[4:]
    return terms


def _terms(coefficients: Mapping[str, Decimal]) -> Terms:
    return _getter([_COUNTER_AT[c] for c in coefficients]), tuple(coefficients.values())


def _getter(positions: Sequence[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """A row's values at `positions` as a tuple, in C (itemgetter) for two or more positions."""
    if len(positions) > 1:
        return itemgetter(*positions)
    if positions:
        i = positions[0]
        return lambda rec: (rec[i],)
    return lambda rec: ()


def _sort_key(key: tuple[object, ...]) -> tuple[tuple[bool, str], ...]:
    return tuple((v is None, str(v)) for v in key)


def _as_date(value: object) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
