"""Engine and sessions: embedded SQLite (WAL, busy timeout) or PostgreSQL via DATABASE_URL."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Connection, DateTime, Dialect, Integer, String, Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import Session, SQLModel, create_engine

from models.settings import get_settings

SQLITE_BUSY_TIMEOUT_MS = 30_000

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    PostgreSQL stores timestamptz. SQLite has no time type, so the value is text in one fixed
    spelling, naive UTC with microseconds ('2026-11-10 12:00:00.000000'): lexical order is time
    order and equal instants are equal strings, also when a value is bound into hand-written SQL
    through this type (the driver's own adapter would drop '.000000' on whole seconds).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> str | datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: Spendsight stores UTC-aware times only")
        return sqlite_text(value) if dialect.name == "sqlite" else value.astimezone(UTC)

    def process_result_value(self, value: str | datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def as_utc(value: str | datetime) -> datetime:
    """A stored time as either backend returns it (text on SQLite), read back aware in UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def sqlite_text(moment: datetime) -> str:
    """The one SQLite spelling of an aware time (see UTCDateTime)."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(" ", "microseconds")[:26]  # drops "+00:00"; hot in bulk ingest


def bind_time(conn: Connection, moment: datetime) -> object:
    """An aware time as hand-written SQL must bind it on this connection (see UTCDateTime)."""
    return UTCDateTime().process_bind_param(moment, conn.dialect)


def insert_for(conn: Connection, table: Table) -> sqlite.Insert | postgresql.Insert:
    """INSERT for `table` in the connection's dialect, so `.on_conflict_do_*` works on both backends."""
    return (sqlite_insert if conn.dialect.name == "sqlite" else pg_insert)(table)


def table_of(model: type[SQLModel]) -> Table:
    """The Table of a table=True class (SQLModel sets `__table__` on the class but does not declare it)."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


# 64-bit ids on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the auto-incrementing rowid.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _configure_sqlite(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def get_engine(url: str | None = None) -> Engine:
    """One engine per URL per process."""
    url = url or get_settings().db_url
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _make_engine(url)
            _engines[url] = engine
        return engine


# The data dir holds usage, the audit log, session digests and price overrides: owner only.
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` (and its parents) with the last one owner-only; tighten it if it already exists."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o777 != PRIVATE_DIR_MODE:
        os.chmod(path, PRIVATE_DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty and owner-only if missing (O_CREAT with 0600: never readable by others,
    not even for a moment), or tighten an existing file; its contents are left alone."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE_MODE)
    try:
        if os.fstat(fd).st_mode & 0o777 != PRIVATE_FILE_MODE:
            os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)
    return path


def _private_sqlite(path: Path) -> None:
    """The database file is made 0600 before SQLite opens it: SQLite gives its -wal and -shm files
    the database's mode. Files left by an older version are tightened too."""
    private_dir(path.parent)
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            private_file(extra)


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            _private_sqlite(Path(path))
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def sqlite_writer_lock(engine: Engine | None = None) -> Iterator[None]:
    """Queue SQLite writers on an OS lock instead of SQLite's busy handler.

    The busy handler polls with sleeps of up to 100 ms, so processes taking turns to write batches
    (parallel ingest) spend much of their time asleep; a blocking flock wakes the next writer as
    soon as the lock is free. A no-op on PostgreSQL, whose row locks need no help.
    """
    engine = engine or get_engine()
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return

    with open(private_file(Path(f"{database}.writer-lock")), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
