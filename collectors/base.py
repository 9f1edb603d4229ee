"""Shared by every collector: bulk upserts of usage, quarantine of rejected input, org creation."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Connection, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from models.rollups import mark_dirty, touch
from models.tables import BUCKET_KEY, REQUEST_KEY, USAGE_COUNTERS, Organization, Quarantine, Usage

USAGE_TABLE = Usage.__table__
USAGE_COLUMNS = tuple(c.name for c in USAGE_TABLE.columns if c.name != "id")
_DEFAULTS = {
    c.name: (c.default.arg if c.default is not None and not callable(c.default.arg) else None)
    for c in USAGE_TABLE.columns
}


def usage_row(**values) -> dict:
    """A complete usage row: defaults for every column not given."""
    row = {name: _DEFAULTS.get(name) for name in USAGE_COLUMNS}
    for counter in USAGE_COUNTERS:
        row[counter] = 0
    row.update(values)
    if row.get("ingested_at") is None:
        from models.db import utcnow

        row["ingested_at"] = utcnow()
    return row


def _insert(conn: Connection):
    return (sqlite_insert if conn.dialect.name == "sqlite" else pg_insert)(USAGE_TABLE)


def insert_requests(conn: Connection, rows: Sequence[dict]) -> int:
    """Insert logged requests, skipping ids already stored; returns how many were new."""
    if not rows:
        return 0
    if conn.dialect.name == "postgresql":
        return _copy_requests(conn, rows)
    stmt = (
        _insert(conn)
        .on_conflict_do_nothing(index_elements=list(REQUEST_KEY), index_where=text("request_id <> ''"))
        .returning(USAGE_TABLE.c.id)
    )
    # RETURNING yields only the rows actually inserted; executemany rowcounts differ across drivers.
    return len(conn.execute(stmt, list(rows)).all())


_STAGE = "usage_stage"


def _copy_requests(conn: Connection, rows: Sequence[dict]) -> int:
    """PostgreSQL: COPY into a session temp table, then one INSERT ... ON CONFLICT DO NOTHING.

    Multi-row VALUES statements cost psycopg more to prepare than the database to run; COPY
    streams the batch and the single INSERT lets the server skip duplicates in one pass.
    """
    columns = ", ".join(USAGE_COLUMNS)
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} ON COMMIT DELETE ROWS AS "
        f"SELECT {columns} FROM usage WITH NO DATA"
    )
    cursor = conn.connection.cursor()
    try:
        with cursor.copy(f"COPY {_STAGE} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[c] for c in USAGE_COLUMNS])
        cursor.execute(
            f"INSERT INTO usage ({columns}) SELECT {columns} FROM {_STAGE} "
            f"ON CONFLICT (org_id, request_id) WHERE request_id <> '' DO NOTHING"
        )
        inserted = cursor.rowcount
        cursor.execute(f"TRUNCATE {_STAGE}")
    finally:
        cursor.close()
    return inserted


def upsert_buckets(conn: Connection, rows: Sequence[dict]) -> int:
    """Insert provider buckets; a bucket already stored is replaced (providers revise recent ones)."""
    if not rows:
        return 0
    stmt = _insert(conn)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(BUCKET_KEY),
        index_where=text("request_id = ''"),
        set_={c: stmt.excluded[c] for c in (*USAGE_COUNTERS, "ingested_at")},
    )
    conn.execute(stmt, list(rows))
    return len(rows)


def mark_rows_dirty(conn: Connection, rows: Iterable[dict]) -> None:
    """Record the time span these rows touch, per org, in the caller's transaction."""
    touched: dict[str, tuple[datetime, datetime]] = {}
    by_org: dict[str, list[datetime]] = {}
    for row in rows:
        by_org.setdefault(row["org_id"], []).append(row["bucket_start"])
    for org_id, moments in by_org.items():
        touch(touched, org_id, moments)
    mark_dirty(conn, touched)


def ensure_orgs(conn: Connection, org_ids: Iterable[str]) -> list[str]:
    """Create orgs that do not exist yet (named after their id); returns the ids created."""
    created = []
    for org_id in sorted(set(org_ids)):
        exists = conn.execute(text("SELECT 1 FROM organization WHERE id = :o"), {"o": org_id}).first()
        if exists is None:
            conn.execute(
                Organization.__table__.insert(),
                {"id": org_id, "name": org_id, "environment": "prod", "timezone": "UTC", "currency": "USD",
                 "created_at": _now()},
            )
            created.append(org_id)
    return created


def _now() -> datetime:
    from models.db import utcnow

    return utcnow()


def quarantine(conn: Connection, entries: Sequence[dict]) -> None:
    """Keep rejected input with its file, line, field and reason; the same rejection is kept once."""
    if not entries:
        return
    rows = []
    for entry in entries:
        raw = (entry.get("raw") or "")[:2000]
        rows.append(
            {
                "file": entry["file"][:1000],
                "line": entry.get("line", 0),
                "format": entry.get("format", ""),
                "field": entry.get("field", "")[:100],
                "reason": entry["reason"][:1000],
                "raw": raw,
                "raw_sha": hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest(),
                "org_id": entry.get("org_id", "") or "",
                "created_at": _now(),
            }
        )
    table = Quarantine.__table__
    insert = (sqlite_insert if conn.dialect.name == "sqlite" else pg_insert)(table)
    conn.execute(insert.on_conflict_do_nothing(index_elements=["file", "line", "raw_sha"]), rows)
