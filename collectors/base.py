"""Shared by every collector: bulk upserts of usage, quarantine of rejected input, org creation."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any, TypedDict

from sqlalchemy import ColumnDefault, Connection, text

from models.db import insert_for, sqlite_text, table_of, utcnow
from models.spend.rollups import mark_dirty, touch
from models.tables import (
    BUCKET_KEY,
    USAGE_COUNTERS,
    USAGE_DIMENSIONS,
    Organization,
    Quarantine,
    Usage,
)

# Column -> value, as SQLAlchemy's insert takes a row (str, int, bool, Decimal, datetime values).
RowDict = dict[str, Any]
# A usage row as a list in USAGE_COLUMNS order: the bulk-ingest shape (see COL below).
Record = list[Any]

USAGE_TABLE = table_of(Usage)
USAGE_COLUMNS = tuple(c.name for c in USAGE_TABLE.columns if c.name != "id")
_DEFAULTS = {
    c.name: (c.default.arg if isinstance(c.default, ColumnDefault) and not callable(c.default.arg) else None)
    for c in USAGE_TABLE.columns
}


def usage_row(**values: object) -> RowDict:
    """A complete usage row: defaults for every column not given."""
    row = {name: _DEFAULTS.get(name) for name in USAGE_COLUMNS}
    for counter in USAGE_COUNTERS:
        row[counter] = 0
    row.update(values)
    if row.get("ingested_at") is None:
        row["ingested_at"] = utcnow()
    return row


# Positions of columns in a usage *record*: a list in USAGE_COLUMNS order, the bulk-ingest shape.
COL = {name: i for i, name in enumerate(USAGE_COLUMNS)}
_TEMPLATE = [0 if name in USAGE_COUNTERS else _DEFAULTS.get(name) for name in USAGE_COLUMNS]


sqlite_time = sqlite_text  # the driver-level insert writes SQLite times exactly as UTCDateTime does


def blank_record() -> Record:
    """A usage record with every default filled in (ingested_at is set at insert time)."""
    return _TEMPLATE.copy()


_REQUEST_CONFLICT = "ON CONFLICT (org_id, request_id) WHERE request_id <> '' DO NOTHING"


def insert_requests(conn: Connection, rows: Sequence[Mapping[str, object]]) -> int:
    """Insert logged requests (dicts), skipping ids already stored; returns how many were new."""
    return insert_request_records(conn, [[row[c] for c in USAGE_COLUMNS] for row in rows])


def insert_request_records(conn: Connection, records: Sequence[Record]) -> int:
    """Insert logged requests as records, skipping ids already stored; returns how many were new."""
    return insert_prepared(conn, prepare_records(conn.dialect.name, records))


def prepare_records(dialect: str, records: Sequence[Record]) -> tuple[str, list[Record]]:
    """Rows ready for the driver, converted in place: take hourly_sums first, since SQLite rows carry
    their time as text. Done before taking the write lock, since it needs no database."""
    now = _now()
    ingested = COL["ingested_at"]
    if dialect == "postgresql":
        for record in records:
            record[ingested] = now
        return dialect, list(records)
    # SQLite keeps times as the text SQLAlchemy's DateTime writes: naive UTC with microseconds.
    # A batch of log lines holds few distinct seconds, so each is spelled once.
    now_text, start = sqlite_time(now), COL["bucket_start"]
    spelled: dict[datetime, str] = {}
    for record in records:
        moment = record[start]
        text = spelled.get(moment)
        if text is None:
            text = spelled[moment] = sqlite_time(moment)
        record[start] = text
        record[ingested] = now_text
    return dialect, list(records)


def insert_prepared(conn: Connection, prepared: tuple[str, list[Record]]) -> int:
    """The ingest hot path, straight to the driver: executemany on SQLite (whose rowcount sums the
    rows actually inserted) and COPY on PostgreSQL."""
    dialect, rows = prepared
    if not rows:
        return 0
    if dialect == "postgresql":
        return _copy_requests(conn, rows)
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(
            f"INSERT INTO usage ({', '.join(USAGE_COLUMNS)}) VALUES ({', '.join('?' * len(USAGE_COLUMNS))}) "
            + _REQUEST_CONFLICT,
            rows,
        )
        return cursor.rowcount
    finally:
        cursor.close()


_dims_of = itemgetter(*(COL[d] for d in USAGE_DIMENSIONS))
_counters_of = itemgetter(*(COL[c] for c in USAGE_COUNTERS))


def hourly_sums(records: Sequence[Record]) -> dict[tuple[str, datetime, *tuple[object, ...]], list[int]]:
    """(org_id, UTC hour, *dimensions) -> counter sums, for models.rollups.add_increments.

    Records are grouped first and each group's counters summed column by column with zip and sum,
    which run in C; adding record by record in Python cost more than parsing the line. A group of
    one (common when lines name many projects, keys and users) is its own sum.
    """
    groups: dict[tuple[str, datetime, *tuple[object, ...]], list[Record]] = {}
    hours: dict[datetime, datetime] = {}
    org, start = COL["org_id"], COL["bucket_start"]
    for record in records:
        moment = record[start]
        hour = hours.get(moment)
        if hour is None:
            hour = hours[moment] = moment.replace(minute=0, second=0, microsecond=0)
        key = (record[org], hour, *_dims_of(record))
        group = groups.get(key)
        if group is None:
            groups[key] = [record]
        else:
            group.append(record)
    return {
        key: list(_counters_of(group[0])) if len(group) == 1 else list(map(sum, zip(*map(_counters_of, group))))
        for key, group in groups.items()
    }


def mark_hours_dirty(
    conn: Connection, sums: Mapping[tuple[str, datetime, *tuple[object, ...]], list[int]]
) -> list[int]:
    """Mark the hours behind hourly_sums' keys for a rebuild, in the caller's transaction."""
    return _mark(conn, ((org_id, hour) for org_id, hour, *_ in sums))


_STAGE = "usage_stage"


def _copy_requests(conn: Connection, records: Sequence[Record]) -> int:
    """PostgreSQL: COPY into a session temp table, then one INSERT ... ON CONFLICT DO NOTHING.

    Multi-row VALUES statements cost psycopg more to prepare than the database to run; COPY
    streams the batch and the single INSERT lets the server skip duplicates in one pass.
    """
    columns = ", ".join(USAGE_COLUMNS)
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} ON COMMIT DELETE ROWS AS SELECT {columns} FROM usage WITH NO DATA"
    )
    cursor = conn.connection.cursor()
    try:
        with cursor.copy(f"COPY {_STAGE} ({columns}) FROM STDIN") as copy:
            for record in records:
                copy.write_row(record)
        cursor.execute(f"INSERT INTO usage ({columns}) SELECT {columns} FROM {_STAGE} " + _REQUEST_CONFLICT)
        inserted = cursor.rowcount
        cursor.execute(f"TRUNCATE {_STAGE}")
    finally:
        cursor.close()
    return inserted


def upsert_buckets(conn: Connection, rows: Sequence[Mapping[str, object]]) -> int:
    """Insert provider buckets; a bucket already stored is replaced (providers revise recent ones)."""
    if not rows:
        return 0
    stmt = insert_for(conn, USAGE_TABLE)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(BUCKET_KEY),
        index_where=text("request_id = ''"),
        set_={c: stmt.excluded[c] for c in (*USAGE_COUNTERS, "ingested_at")},
    )
    conn.execute(stmt, list(rows))
    return len(rows)


def mark_rows_dirty(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> list[int]:
    """Record the time span these rows touch, per org, in the caller's transaction; returns the marks' ids."""
    return _mark(conn, ((row["org_id"], row["bucket_start"]) for row in rows))


def _mark(conn: Connection, pairs: Iterable[tuple[str, datetime]]) -> list[int]:
    by_org: dict[str, list[datetime]] = {}
    for org_id, moment in pairs:
        by_org.setdefault(org_id, []).append(moment)
    touched: dict[str, tuple[datetime, datetime]] = {}
    for org_id, moments in by_org.items():
        touch(touched, org_id, moments)
    return mark_dirty(conn, touched)


def ensure_orgs(conn: Connection, org_ids: Iterable[str]) -> list[str]:
    """Create orgs that do not exist yet (named after their id); returns the ids this call created.

    ON CONFLICT DO NOTHING: parallel ingest workers may meet the same new org at the same time.
    """
    created = []
    table = table_of(Organization)
    for org_id in sorted(set(org_ids)):
        if conn.execute(text("SELECT 1 FROM organization WHERE id = :o"), {"o": org_id}).first():
            continue
        insert = insert_for(conn, table).on_conflict_do_nothing()
        values = {
            "id": org_id,
            "name": org_id,
            "environment": "prod",
            "timezone": "UTC",
            "currency": "USD",
            "created_at": _now(),
        }
        if conn.execute(insert, values).rowcount:
            created.append(org_id)
    return created


def _now() -> datetime:
    return utcnow()


def storable(text: str) -> str:
    """Text any database keeps as written: NUL (PostgreSQL refuses it) and the undecodable bytes of a
    file name (lone surrogates, which no encoder takes) are spelled as escapes."""
    if text.isprintable():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def printable_path(path: object) -> str:
    """A file name as text to store and show, whatever bytes it holds."""
    return storable(str(path))


class Rejection(TypedDict):
    """Input kept in quarantine: where it was, which field, why, and the raw text."""

    file: str
    line: int
    format: str
    field: str
    reason: str
    raw: str
    org_id: str


def quarantine(conn: Connection, entries: Sequence[Rejection]) -> None:
    """Keep rejected input with its file, line, field and reason; the same rejection is kept once."""
    if not entries:
        return
    rows = []
    for entry in entries:
        raw = storable(entry.get("raw") or "")[:2000]
        rows.append(
            {
                "file": storable(entry["file"])[:1000],
                "line": entry.get("line", 0),
                "format": storable(entry.get("format", ""))[:40],
                "field": storable(entry.get("field", ""))[:100],
                "reason": storable(entry["reason"])[:1000],
                "raw": raw,
                "raw_sha": hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest(),
                "org_id": entry.get("org_id", "") or "",
                "created_at": _now(),
            }
        )
    table = table_of(Quarantine)
    insert = insert_for(conn, table)
    conn.execute(insert.on_conflict_do_nothing(index_elements=["file", "line", "raw_sha"]), rows)
