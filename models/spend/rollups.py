"""Hourly, daily and monthly rollups, rebuilt for exactly the hours a write touched, and the choice
of the smallest one that answers a query."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from operator import itemgetter
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, Row, text

from models.db import UTCDateTime, bind_time, get_engine, sqlite_text
from models.tables import (
    KEY_DIMENSIONS,
    MODEL_DIMENSIONS,
    PROJECT_DIMENSIONS,
    PROJECT_ROLLUP_KEY,
    ROLLUP_KEY,
    USAGE_COUNTERS,
    USAGE_DIMENSIONS,
    USER_DIMENSIONS,
)
from models.units import add_months, floor_hour, month_start

_DIMS = ", ".join(USAGE_DIMENSIONS)
KEY_COLUMNS = ("api_key_id", "user_id")  # what only rollup_daily has both of


@dataclass(frozen=True)
class Rollup:
    """One rollup table: its time grain, the dimensions it keeps, and why it exists."""

    table: str
    grain: Literal["day", "month"]
    dims: tuple[str, ...]
    why: str


# Every rollup a query may read, smallest first; choose_rollup() takes the first that holds what a
# query groups and filters by.
ROLLUPS = (
    Rollup(
        "rollup_monthly_project", "month", PROJECT_DIMENSIONS, "long ranges: a row per month and group, not per day"
    ),
    Rollup("rollup_daily_model", "day", MODEL_DIMENSIONS, "no project, key or user: a row per day and price key"),
    Rollup("rollup_daily_project", "day", PROJECT_DIMENSIONS, "no key or user: its size does not grow with them"),
    Rollup("rollup_daily_key", "day", KEY_DIMENSIONS, "a split or filter by API key does not pay for users"),
    Rollup("rollup_daily_user", "day", USER_DIMENSIONS, "a split or filter by user does not pay for API keys"),
    Rollup("rollup_daily", "day", USAGE_DIMENSIONS, "key and user together: every dimension, the source of the rest"),
)
DAILY_ROLLUPS = tuple(r for r in ROLLUPS if r.grain == "day")
MONTHLY = ROLLUPS[0]
# A range longer than this reads months (and days only at its partial edges); so does one that
# starts on the first of a month (this month, last month, whole months: its first month's rows lie
# inside it whenever that month has no usage after the range, as this month to today never has); any
# other shorter range reads days, since a month row would seldom lie inside it.
MONTH_GRAIN_AFTER_DAYS = 60
# Which key x user pairs had usage in each month (no counters): the explorer's key and user pickers
# read it instead of grouping every day of rollup_daily in their range; kept by both write paths.
KEY_VALUES = "rollup_monthly_keys"
ROLLUP_TABLES = ("rollup_hourly", *(r.table for r in ROLLUPS), KEY_VALUES)
# Where each daily rollup's dimensions sit in a full (USAGE_DIMENSIONS) key.
_DIMS_AT = {r.table: [USAGE_DIMENSIONS.index(d) for d in r.dims] for r in DAILY_ROLLUPS}


def choose_rollup(
    columns: Iterable[str], days: int = 0, by_day: bool = False, from_month_start: bool = False
) -> Rollup:
    """The smallest rollup that answers a query grouping or filtering by these columns over `days`
    days; `by_day`: it groups by day or week, which month rows cannot answer; `from_month_start`: the
    range starts on the first of a month (see MONTH_GRAIN_AFTER_DAYS)."""
    needed = set(columns) - {"day", "price_date", "org_id"}
    for rollup in ROLLUPS:
        if rollup.grain == "month" and (by_day or (days <= MONTH_GRAIN_AFTER_DAYS and not from_month_start)):
            continue
        if needed <= set(rollup.dims):
            return rollup
    raise ValueError(f"no rollup holds {sorted(needed)}")


def daily_table(columns: Iterable[str]) -> str:
    """The daily rollup a query touching these columns should read (see choose_rollup)."""
    return choose_rollup(columns, by_day=True).table


_SUMS = ", ".join(f"SUM({c})" for c in USAGE_COUNTERS)
_COUNTERS = ", ".join(USAGE_COUNTERS)


def _hour_expr(dialect: str) -> str:
    if dialect == "sqlite":
        # Matches the text SQLAlchemy stores for UTCDateTime, so the value reads back as a datetime.
        return "substr(bucket_start, 1, 13) || ':00:00.000000'"
    return "(date_trunc('hour', bucket_start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"


def _lock_org(conn: Connection, org_id: str) -> None:
    """Serialize rollup rebuilds of one org across processes (SQLite serializes writers already)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('rollup:' || :org))"), {"org": org_id})


def org_timezone(conn: Connection, org_id: str) -> ZoneInfo:
    row = conn.execute(text("SELECT timezone FROM organization WHERE id = :o"), {"o": org_id}).first()
    return ZoneInfo(row[0] if row and row[0] else "UTC")


def refresh(conn: Connection, org_id: str, start: datetime, end: datetime) -> None:
    """Rebuild hourly rollups for [start, end) and the daily rollups of the local days they touch."""
    if end <= start:
        return
    _lock_org(conn, org_id)
    tz = org_timezone(conn, org_id)
    # Widen to whole local days so every daily row is rebuilt from complete hours.
    first_day = start.astimezone(tz).date()
    last_day = (end - timedelta(microseconds=1)).astimezone(tz).date()
    h0 = datetime.combine(first_day, time(), tz).astimezone(UTC)
    h1 = datetime.combine(last_day + timedelta(days=1), time(), tz).astimezone(UTC)
    _rebuild_hourly(conn, org_id, h0, h1)
    _rebuild_daily(conn, org_id, tz, first_day, last_day, h0, h1)
    _record_state(conn, org_id, tz.key)


def _rebuild_hourly(conn: Connection, org_id: str, h0: datetime, h1: datetime) -> None:
    params = {"org": org_id, "h0": bind_time(conn, h0), "h1": bind_time(conn, h1)}
    conn.execute(text("DELETE FROM rollup_hourly WHERE org_id = :org AND hour >= :h0 AND hour < :h1"), params)
    hour = _hour_expr(conn.dialect.name)
    conn.execute(
        text(
            f"INSERT INTO rollup_hourly (hour, org_id, {_DIMS}, {_COUNTERS}) "
            f"SELECT {hour} AS h, org_id, {_DIMS}, {_SUMS} FROM usage "
            f"WHERE org_id = :org AND bucket_start >= :h0 AND bucket_start < :h1 "
            f"GROUP BY h, org_id, {_DIMS}"
        ),
        params,
    )


def _rebuild_daily(
    conn: Connection, org_id: str, tz: ZoneInfo, first_day: date, last_day: date, h0: datetime, h1: datetime
) -> None:
    for rollup in DAILY_ROLLUPS:
        conn.execute(
            text(f"DELETE FROM {rollup.table} WHERE org_id = :org AND day >= :d0 AND day <= :d1"),
            {"org": org_id, "d0": first_day, "d1": last_day},
        )
    rows = conn.execute(
        text(
            f"SELECT hour, {_DIMS}, {_COUNTERS} FROM rollup_hourly WHERE org_id = :org AND hour >= :h0 AND hour < :h1"
        ).columns(hour=_utc_type()),
        {"org": org_id, "h0": bind_time(conn, h0), "h1": bind_time(conn, h1)},
    )
    n_dims = len(USAGE_DIMENSIONS)
    sums: dict[tuple[object, ...], list[int]] = defaultdict(lambda: [0] * len(USAGE_COUNTERS))
    day_of: dict[datetime, tuple[date, date]] = {}
    for row in rows:
        hour = row[0]
        days = day_of.get(hour)
        if days is None:
            days = day_of[hour] = (hour.astimezone(tz).date(), hour.date())
        acc = sums[days + tuple(row[1 : 1 + n_dims])]
        for i, value in enumerate(row[1 + n_dims :]):
            acc[i] += value or 0
    if sums:
        for rollup in DAILY_ROLLUPS:
            _insert_daily(conn, rollup.table, org_id, rollup.dims, _daily_sums(rollup.table, sums))
    _rebuild_monthly(conn, org_id, first_day, last_day)


def _rebuild_monthly(conn: Connection, org_id: str, first_day: date, last_day: date) -> None:
    """The months holding these local days, summed again from rollup_daily_project (SQL: a month is
    up to a month of daily rows, read where they lie), and their key x user pairs from rollup_daily."""
    m0, m1 = month_start(first_day), add_months(month_start(last_day), 1)
    params = {"org": org_id, "m0": m0, "m1": m1}
    conn.execute(
        text("DELETE FROM rollup_monthly_project WHERE org_id = :org AND month >= :m0 AND month < :m1"), params
    )
    month = _month_expr(conn.dialect.name)
    dims = ", ".join(PROJECT_ROLLUP_KEY)
    conn.execute(
        text(
            f"INSERT INTO rollup_monthly_project (month, day_lo, day_hi, price_lo, price_hi, {dims}, {_COUNTERS}) "
            f"SELECT {month} AS m, MIN(day), MAX(day), MIN(price_date), MAX(price_date), {dims}, {_SUMS} "
            f"FROM rollup_daily_project WHERE org_id = :org AND day >= :m0 AND day < :m1 GROUP BY m, {dims}"
        ),
        params,
    )
    _rebuild_month_keys(conn, org_id, m0, m1)


def _month_expr(dialect: str) -> str:
    if dialect == "sqlite":
        return "substr(day, 1, 8) || '01'"  # dates are ISO text; the first of the month as the Date type writes it
    return "CAST(date_trunc('month', day) AS date)"


def _rebuild_month_keys(conn: Connection, org_id: str, m0: date, m1: date) -> None:
    """The key x user pairs of the months [m0, m1), found again in rollup_daily."""
    params = {"org": org_id, "m0": m0, "m1": m1}
    conn.execute(text(f"DELETE FROM {KEY_VALUES} WHERE org_id = :org AND month >= :m0 AND month < :m1"), params)
    conn.execute(
        text(
            f"INSERT INTO {KEY_VALUES} (month, org_id, api_key_id, user_id, day_lo, day_hi) "
            f"SELECT {_month_expr(conn.dialect.name)} AS m, org_id, api_key_id, user_id, MIN(day), MAX(day) "
            "FROM rollup_daily WHERE org_id = :org AND day >= :m0 AND day < :m1 GROUP BY m, org_id, api_key_id, user_id"
        ),
        params,
    )


def _daily_sums(table: str, daily: Mapping[tuple[object, ...], list[int]]) -> Mapping[tuple[object, ...], list[int]]:
    """(day, price_date, *USAGE_DIMENSIONS) sums added up into one daily rollup's key."""
    at = _DIMS_AT[table]
    if len(at) == len(USAGE_DIMENSIONS):
        return daily
    out: dict[tuple[object, ...], list[int]] = {}
    for (day, price_date, *dims), values in daily.items():
        key = (day, price_date, *(dims[i] for i in at))
        acc = out.get(key)
        if acc is None:
            out[key] = list(values)
        else:
            for i, value in enumerate(values):
                acc[i] += value
    return out


def _insert_daily(
    conn: Connection, table: str, org_id: str, dims: tuple[str, ...], sums: Mapping[tuple[object, ...], list[int]]
) -> None:
    columns = ("day", "price_date", *dims, *USAGE_COUNTERS)
    payload = [dict(zip(columns, key + tuple(values)), org_id=org_id) for key, values in sums.items()]
    conn.execute(
        text(
            f"INSERT INTO {table} (org_id, {', '.join(columns)}) "
            f"VALUES (:org_id, {', '.join(':' + c for c in columns)})"
        ),
        payload,
    )


def _utc_type() -> UTCDateTime:
    return UTCDateTime()


def _record_state(conn: Connection, org_id: str, tz_name: str) -> None:
    updated = conn.execute(
        text("UPDATE rollup_state SET timezone = :tz, updated_at = :now WHERE org_id = :org"),
        {"tz": tz_name, "org": org_id, "now": bind_time(conn, datetime.now(UTC))},
    ).rowcount
    if not updated:
        conn.execute(
            text(
                "INSERT INTO rollup_state (org_id, timezone, catalog_fingerprint, updated_at) "
                "VALUES (:org, :tz, '', :now)"
            ),
            {"tz": tz_name, "org": org_id, "now": bind_time(conn, datetime.now(UTC))},
        )


Hourly = Mapping[tuple[str, datetime, *tuple[object, ...]], list[int]]


@dataclass
class Increments:
    """One org's rollup increments as driver statements, worked out for one time zone (the days depend on it)."""

    org_id: str
    zone: str
    hourly: list[tuple[tuple[object, ...], list[int]]]  # the org's part of the sums, to work out again
    statements: list[tuple[str, list[tuple[object, ...]]]]  # (upsert, its rows), in the order to run


def add_increments(conn: Connection, hourly: Hourly) -> None:
    """Add new usage to the rollups directly: `hourly` maps (org_id, hour, *dims) to counter sums.

    Only valid for rows that were all newly inserted in this same transaction (request logs are
    insert-only): then adding their sums gives exactly what a rebuild would, without re-reading
    the hour. Anything else (replaced buckets, duplicates) goes through mark_dirty and a rebuild.
    """
    add_prepared(conn, prepare_increments(conn.dialect.name, hourly))


def prepare_increments(dialect: str, hourly: Hourly, zones: Mapping[str, str] | None = None) -> list[Increments]:
    """add_increments' statements, worked out without the database, so ingest does it before taking
    the write lock. `zones` is each org's time zone as last seen (absent: UTC, a new org's);
    add_prepared checks it under the lock and works an org out again if it has changed.

    With lines naming many projects, keys and users there is about one key per eight rows: rows go
    to the driver as tuples in column order, each hour's and day's spelling is worked out once, and
    groups are summed column by column with zip/sum in C (a dict per row and adding value by value
    had cost more than the upserts).
    """
    by_org: dict[str, list[tuple[tuple[object, ...], list[int]]]] = {}
    for hourly_key, counters in hourly.items():
        rows = by_org.get(hourly_key[0])
        if rows is None:
            rows = by_org[hourly_key[0]] = []
        rows.append((hourly_key, counters))
    zones = zones or {}
    return [_prepare(dialect, org_id, rows, zones.get(org_id, "UTC")) for org_id, rows in by_org.items()]


def add_prepared(conn: Connection, prepared: Iterable[Increments]) -> dict[str, str]:
    """Run prepared increments in the caller's transaction; returns each org's time zone as found."""
    zones = {}
    for increments in prepared:
        org_id = increments.org_id
        _lock_org(conn, org_id)
        zone = org_timezone(conn, org_id).key
        if zone != increments.zone:  # changed since it was looked up: the days are another zone's
            increments = _prepare(conn.dialect.name, org_id, increments.hourly, zone)
        cursor = conn.connection.cursor()
        try:
            for sql, rows in increments.statements:
                if rows:
                    cursor.executemany(sql, rows)
        finally:
            cursor.close()
        _record_state(conn, org_id, zone)
        zones[org_id] = zone
    return zones


def _prepare(dialect: str, org_id: str, rows: list[tuple[tuple[object, ...], list[int]]], zone: str) -> Increments:
    sqlite, tz = dialect == "sqlite", ZoneInfo(zone)
    spelled: dict[datetime, tuple[object, date, date]] = {}  # hour -> (its bound value, local day, UTC date)
    hourly_rows = []
    days: dict[tuple[object, ...], list[list[int]]] = {}
    for key, values in rows:
        hour = key[1]
        assert isinstance(hour, datetime)
        at = spelled.get(hour)
        if at is None:
            at = spelled[hour] = (sqlite_text(hour) if sqlite else hour, hour.astimezone(tz).date(), hour.date())
        hourly_rows.append((at[0], org_id, *key[2:], *values))
        day_key = (at[1], at[2], *key[2:])
        group = days.get(day_key)
        if group is None:
            days[day_key] = [values]
        else:
            group.append(values)
    daily = _summed(days)
    dated: dict[date, object] = {}  # the bound value of each day
    statements = []
    project: Mapping[tuple[object, ...], list[int]] = {}
    for rollup in DAILY_ROLLUPS:
        sums = daily if rollup.dims == USAGE_DIMENSIONS else _regroup(daily, _PICK[rollup.table])
        payload = []
        for group_key, values in sums.items():
            day, price_date = group_key[0], group_key[1]
            assert isinstance(day, date) and isinstance(price_date, date)
            d = dated.get(day)
            if d is None:
                d = dated[day] = day.isoformat() if sqlite else day
            p = dated.get(price_date)
            if p is None:
                p = dated[price_date] = price_date.isoformat() if sqlite else price_date
            payload.append((d, p, org_id, *group_key[2:], *values))
        statements.append(
            (_upsert_sql(dialect, rollup.table, ("day", "price_date"), ("org_id", *rollup.dims)), payload)
        )
        if rollup.table == "rollup_daily_project":
            project = sums
    statements.append((_monthly_sql(dialect), _monthly_rows(sqlite, org_id, project)))
    statements.append((_month_keys_sql(dialect), _month_key_rows(sqlite, org_id, daily)))
    statements.append((_upsert_sql(dialect, "rollup_hourly", ("hour",), ROLLUP_KEY), hourly_rows))
    return Increments(org_id, zone, rows, statements)


# Where each daily rollup's key sits in a full (day, price_date, *USAGE_DIMENSIONS) key.
_PICK = {table: itemgetter(0, 1, *(2 + i for i in at)) for table, at in _DIMS_AT.items()}


def _summed(groups: Mapping[tuple[object, ...], list[list[int]]]) -> dict[tuple[object, ...], list[int]]:
    """Each group's counter lists summed column by column (a group of one is its own sum)."""
    return {key: group[0] if len(group) == 1 else [sum(c) for c in zip(*group)] for key, group in groups.items()}


def _regroup(
    sums: Mapping[tuple[object, ...], list[int]], pick: Callable[[tuple[object, ...]], tuple[object, ...]]
) -> dict[tuple[object, ...], list[int]]:
    """Sums under a smaller key: `pick` takes it out of each key."""
    groups: dict[tuple[object, ...], list[list[int]]] = {}
    for key, values in sums.items():
        smaller = pick(key)
        group = groups.get(smaller)
        if group is None:
            groups[smaller] = [values]
        else:
            group.append(values)
    return _summed(groups)


def _monthly_rows(
    sqlite: bool, org_id: str, project: Mapping[tuple[object, ...], list[int]]
) -> list[tuple[object, ...]]:
    """Project-daily increments added up into their months, each with the span of days and price dates it covers."""
    months: dict[tuple[object, ...], list[Any]] = {}
    for (day, price_date, *dims), values in project.items():
        assert isinstance(day, date) and isinstance(price_date, date)
        key = (month_start(day), *dims)
        acc = months.get(key)
        if acc is None:
            months[key] = [day, day, price_date, price_date, *values]
        else:
            acc[0], acc[1] = min(acc[0], day), max(acc[1], day)
            acc[2], acc[3] = min(acc[2], price_date), max(acc[3], price_date)
            for i, value in enumerate(values):
                acc[4 + i] += value
    payload = []
    for (month, *dims), acc in months.items():
        dates: list[Any] = [month, *acc[:4]]
        if sqlite:  # the ISO text SQLAlchemy's Date type stores
            dates = [d.isoformat() for d in dates]
        payload.append((dates[0], org_id, *dims, *dates[1:], *acc[4:]))
    return payload


_KEY_AT = (USAGE_DIMENSIONS.index("api_key_id"), USAGE_DIMENSIONS.index("user_id"))


def _month_key_rows(
    sqlite: bool, org_id: str, daily: Mapping[tuple[object, ...], list[int]]
) -> list[tuple[object, ...]]:
    """The month, key x user pairs and span of days of full-dimension daily increments."""
    spans: dict[tuple[object, ...], list[date]] = {}
    k, u = (2 + i for i in _KEY_AT)
    for key in daily:
        day = key[0]
        assert isinstance(day, date)
        pair = (month_start(day), key[k], key[u])
        span = spans.get(pair)
        if span is None:
            spans[pair] = [day, day]
        elif day < span[0]:
            span[0] = day
        elif day > span[1]:
            span[1] = day
    payload: list[tuple[object, ...]] = []
    for (month, api_key_id, user_id), (lo, hi) in spans.items():
        dates: list[Any] = [month, lo, hi]
        if sqlite:  # the ISO text SQLAlchemy's Date type stores
            dates = [d.isoformat() for d in dates]
        payload.append((dates[0], org_id, api_key_id, user_id, dates[1], dates[2]))
    return payload


@cache
def _month_keys_sql(dialect: str) -> str:
    """Adds a month's key x user pair, or widens its span of days."""
    sqlite = dialect == "sqlite"
    least, greatest = ("min", "max") if sqlite else ("LEAST", "GREATEST")
    t, mark = KEY_VALUES, "?" if sqlite else "%s"
    return (
        f"INSERT INTO {t} (month, org_id, api_key_id, user_id, day_lo, day_hi) VALUES ({', '.join([mark] * 6)}) "
        f"ON CONFLICT (month, org_id, api_key_id, user_id) DO UPDATE SET "
        f"day_lo = {least}({t}.day_lo, excluded.day_lo), day_hi = {greatest}({t}.day_hi, excluded.day_hi)"
    )


@cache
def _monthly_sql(dialect: str) -> str:
    """Adds to a month's counters and widens its day and price-date span."""
    spans = ("day_lo", "day_hi", "price_lo", "price_hi")
    keys = ("month", *PROJECT_ROLLUP_KEY)
    columns = (*keys, *spans, *USAGE_COUNTERS)
    sqlite = dialect == "sqlite"
    least, greatest = ("min", "max") if sqlite else ("LEAST", "GREATEST")
    t = "rollup_monthly_project"
    return (
        f"INSERT INTO {t} ({', '.join(columns)}) VALUES ({', '.join(['?' if sqlite else '%s'] * len(columns))}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
        + ", ".join(
            [f"{c} = {least}({t}.{c}, excluded.{c})" for c in ("day_lo", "price_lo")]
            + [f"{c} = {greatest}({t}.{c}, excluded.{c})" for c in ("day_hi", "price_hi")]
            + [f"{c} = {t}.{c} + excluded.{c}" for c in USAGE_COUNTERS]
        )
    )


@cache
def _upsert_sql(dialect: str, table: str, time_keys: tuple[str, ...], key: tuple[str, ...]) -> str:
    """Adds to a rollup row's counters; its rows are in column order (time keys as the driver binds
    them, the key, the counters) and go straight to the driver's executemany."""
    keys = (*time_keys, *key)
    columns = (*keys, *USAGE_COUNTERS)
    mark = "?" if dialect == "sqlite" else "%s"
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
        + ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in USAGE_COUNTERS)
    )


def fill_new_rollups(engine: Engine | None = None) -> list[str]:
    """Fill rollups newer than the database from rollup_daily, once: the daily ones by summing it,
    the monthly one from rollup_daily_project, the months' key x user pairs from rollup_daily; returns
    the tables it filled. Cheap when there is nothing to do (init_db calls it on every start)."""
    engine = engine or get_engine()
    filled = []
    for table in (*(r.table for r in DAILY_ROLLUPS[:-1]), MONTHLY.table, KEY_VALUES):
        source = "rollup_daily_project" if table == MONTHLY.table else "rollup_daily"
        check = text(f"SELECT EXISTS (SELECT 1 FROM {source}) AND NOT EXISTS (SELECT 1 FROM {table})")
        with engine.connect() as conn:
            if not conn.execute(check).scalar():
                continue
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # two processes starting at once: one fills, one waits
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('rollup:fill'))"))
            if conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {table})")).scalar():
                continue  # the other one did
            if table in (MONTHLY.table, KEY_VALUES):
                span = conn.execute(text(f"SELECT org_id, MIN(day), MAX(day) FROM {source} GROUP BY org_id"))
                for org_id, lo, hi in span.all():
                    if table == MONTHLY.table:  # (its months' key x user pairs too)
                        _rebuild_monthly(conn, org_id, _as_date(lo), _as_date(hi))
                    else:
                        m0, m1 = month_start(_as_date(lo)), add_months(month_start(_as_date(hi)), 1)
                        _rebuild_month_keys(conn, org_id, m0, m1)
            else:
                dims = ", ".join(("org_id", *next(r.dims for r in DAILY_ROLLUPS if r.table == table)))
                conn.execute(
                    text(
                        f"INSERT INTO {table} (day, price_date, {dims}, {_COUNTERS}) "
                        f"SELECT day, price_date, {dims}, {_SUMS} FROM rollup_daily GROUP BY day, price_date, {dims}"
                    )
                )
            filled.append(table)
    return filled


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def usage_span(conn: Connection, org_id: str) -> tuple[datetime, datetime] | None:
    row = conn.execute(
        text("SELECT MIN(bucket_start) AS lo, MAX(bucket_start) AS hi FROM usage WHERE org_id = :org").columns(
            lo=_utc_type(), hi=_utc_type()
        ),
        {"org": org_id},
    ).first()
    if not row or row[0] is None:
        return None
    return row[0], row[1]


def rebuild_org(org_id: str, step: timedelta | None = None, conn: Connection | None = None) -> None:
    """Rebuild every rollup of one org (after a time-zone change, or on request): in one transaction
    (`conn`'s when given, so a zone change and its rebuild commit or roll back together), or with
    `step`, a transaction per step of time (a large history without one huge transaction)."""
    if conn is not None:
        _rebuild_in(conn, org_id)
        return
    engine = get_engine()
    with engine.begin() as conn:
        span = _rebuild_in(conn, org_id, whole=step is None)
        if span is None or step is None:
            return
        lo, hi = span
    # Each step widens to whole local days, so neighbours may rebuild a shared day twice (the same
    # result both times); each rebuilds its months from the days done so far, the last one whole.
    while lo < hi:
        with engine.begin() as conn:
            refresh(conn, org_id, lo, min(lo + step, hi))
        lo += step


def _rebuild_in(conn: Connection, org_id: str, whole: bool = True) -> tuple[datetime, datetime] | None:
    """Empty the org's rollups and, when `whole`, rebuild them all in `conn`; returns the usage's hours."""
    _lock_org(conn, org_id)
    for table in ROLLUP_TABLES:
        conn.execute(text(f"DELETE FROM {table} WHERE org_id = :org"), {"org": org_id})
    span = usage_span(conn, org_id)
    if not span:
        _record_state(conn, org_id, org_timezone(conn, org_id).key)
        return None
    lo, hi = floor_hour(span[0]), floor_hour(span[1]) + timedelta(hours=1)
    if whole:
        refresh(conn, org_id, lo, hi)
    return lo, hi


def mark_dirty(conn: Connection, touched: dict[str, tuple[datetime, datetime]]) -> list[int]:
    """Record touched ranges in the writer's own transaction, so a crash cannot lose them; returns their ids."""
    ids = []
    for org_id, (lo, hi) in touched.items():
        ids.append(
            conn.execute(
                text(
                    'INSERT INTO rollup_dirty (org_id, start, "end", created_at) VALUES (:org, :lo, :hi, :now) '
                    "RETURNING id"
                ),
                {
                    "org": org_id,
                    "lo": bind_time(conn, floor_hour(lo)),
                    "hi": bind_time(conn, floor_hour(hi) + timedelta(hours=1)),
                    "now": bind_time(conn, datetime.now(UTC)),
                },
            ).scalar_one()
        )
    return ids


def process_dirty(org_id: str | None = None, ids: list[int] | None = None) -> int:
    """Roll up recorded dirty ranges (all, one org's, or the given marks); returns how many were cleared.

    Overlapping ranges of an org are merged and each merged range is rebuilt once; ranges far apart
    (a backfill of last year and today's traffic) stay separate, so neither drags in the time between.
    """
    engine = get_engine()
    query, params = 'SELECT id, org_id, start, "end" FROM rollup_dirty', {}
    if org_id:
        query += " WHERE org_id = :org"
        params["org"] = org_id
    with engine.connect() as conn:
        rows = conn.execute(text(query).columns(start=_utc_type(), end=_utc_type()), params).all()
    if ids is not None:
        wanted = set(ids)
        rows = [r for r in rows if r.id in wanted]
    by_org: dict[str, list[Row[Any]]] = defaultdict(list)
    for row in rows:
        by_org[row.org_id].append(row)
    for org, items in by_org.items():
        for lo, hi, merged in _merge_ranges(items):
            with engine.begin() as conn:
                refresh(conn, org, lo, hi)
                _delete_marks(conn, [r.id for r in merged])
    return len(rows)


def _merge_ranges(items: Iterable[Row[Any]]) -> list[tuple[datetime, datetime, list[Row[Any]]]]:
    groups: list[tuple[datetime, datetime, list[Row[Any]]]] = []
    for item in sorted(items, key=lambda r: r.start):
        if groups and item.start <= groups[-1][1]:
            lo, hi, members = groups[-1]
            groups[-1] = (lo, max(hi, item.end), members + [item])
        else:
            groups.append((item.start, item.end, [item]))
    return groups


def _delete_marks(conn: Connection, ids: list[int]) -> None:
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ", ".join(f":i{n}" for n in range(len(chunk)))
        conn.execute(text(f"DELETE FROM rollup_dirty WHERE id IN ({marks})"), {f"i{n}": v for n, v in enumerate(chunk)})


def touch(touched: dict[str, tuple[datetime, datetime]], org_id: str, moments: Iterable[datetime]) -> None:
    """Widen an org's touched range to include these moments."""
    moments = list(moments)
    if not moments:
        return
    lo, hi = min(moments), max(moments)
    if org_id in touched:
        old_lo, old_hi = touched[org_id]
        lo, hi = min(lo, old_lo), max(hi, old_hi)
    touched[org_id] = (lo, hi)
