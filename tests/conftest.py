"""Fixtures: every test gets a temp data dir and a fresh database (SQLite, or PostgreSQL with --db)."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlmodel import SQLModel, select
from typer.testing import CliRunner

from cli import app
from demo import load_demo
from models.db import dispose_engines, get_engine
from models.pricing.catalog import reset_catalog
from models.schema import init_db
from models.settings import get_settings, reset_settings
from models.tables import Organization

REPO = Path(__file__).resolve().parent.parent
# Fixtures shared by every package's tests: a local SMTP server (`smtp`), the provider API server (`provider`).
pytest_plugins = ["tests.smtp", "tests.provider_server", "tests.sink"]
PG_ADMIN_URL = os.environ.get("SPENDSIGHT_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")


def pytest_addoption(parser):
    parser.addoption(
        "--db",
        default=os.environ.get("SPENDSIGHT_TEST_DB", "sqlite"),
        choices=("sqlite", "postgresql"),
        help="database backend for the suite",
    )


def pytest_collection_modifyitems(config, items):
    backend = config.getoption("--db")
    skip_other = pytest.mark.skip(reason=f"not for the {backend} run")
    for item in items:
        if backend == "sqlite" and "postgres_only" in item.keywords:
            item.add_marker(skip_other)
        if backend == "postgresql" and ("sqlite_only" in item.keywords or "browser" in item.keywords):
            item.add_marker(skip_other)


@pytest.fixture(scope="session")
def backend(pytestconfig) -> str:
    return pytestconfig.getoption("--db")


@pytest.fixture(scope="session")
def pg_url(backend):
    """A throwaway PostgreSQL database for this run, dropped at the end."""
    if backend != "postgresql":
        yield None
        return
    name = f"spendsight_test_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        # A commit need not wait for its WAL to reach the disk: what every session sees is the same,
        # only a crash of the server could lose the last commits of a database that is dropped anyway.
        admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)

    dispose_engines()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _settings_at(data_dir: Path, db_url: str | None = None) -> Iterator[None]:
    """Settings for a session-wide setup step: a temp data dir, not the repo's data/ nor the caller's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPENDSIGHT_DATA_DIR", str(data_dir))
        if db_url:
            patch.setenv("DATABASE_URL", db_url)
        else:
            patch.delenv("DATABASE_URL", raising=False)
        reset_settings()
        yield
    reset_settings()


@pytest.fixture(scope="session")
def sqlite_template(backend, tmp_path_factory):
    """A SQLite file init_db() made once per run (per xdist worker): each test starts from a copy of it,
    the same empty schema at a fraction of the cost of creating 40-odd tables and their indexes."""
    if backend != "sqlite":
        return None

    path = tmp_path_factory.mktemp("template") / "spendsight.db"
    with _settings_at(path.parent):
        init_db(get_engine(f"sqlite:///{path}"))
        dispose_engines()  # the last connection out checkpoints the WAL into the file and removes it
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture(scope="session")
def pg_schema(pg_url, tmp_path_factory):
    """The run's PostgreSQL schema, made once; `_pg_reset` empties it before each test."""
    if not pg_url:
        return None

    with _settings_at(tmp_path_factory.mktemp("schema"), pg_url):
        engine = init_db(get_engine(pg_url))
        with engine.connect() as conn:
            return conn.execute(text(_PG_FINGERPRINT)).scalar()


# Tables and columns as the catalog has them: a test that altered the schema (tests/models/test_schema.py
# drops a column) changes it, and the next test then gets a schema made afresh.
_PG_FINGERPRINT = """
SELECT md5(string_agg(c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' '
                      || a.attnotnull::text || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), ''),
                      ',' ORDER BY c.relname, a.attname))
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
"""
_PG_USED_SEQUENCES = (
    "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema() AND last_value IS NOT NULL"
)


def _pg_reset(engine, fingerprint: str) -> None:
    """Leave every table empty and every sequence unused, as a new database has them. Only the tables
    the previous tests wrote to are emptied, with DELETE: TRUNCATE of all 40-odd tables took about a
    second per test (a new file for each table and index), the probe and a few DELETEs milliseconds."""
    with engine.connect() as conn:
        altered = conn.execute(text(_PG_FINGERPRINT)).scalar() != fingerprint
    if altered:
        SQLModel.metadata.drop_all(engine)
        init_db(engine)
        return
    tables = SQLModel.metadata.sorted_tables
    probe = " UNION ALL ".join(f"SELECT '{t.name}' WHERE EXISTS (SELECT 1 FROM \"{t.name}\")" for t in tables)
    with engine.begin() as conn:
        dirty = {row[0] for row in conn.execute(text(probe))}
        for table in reversed(tables):  # referencing tables before the tables they reference
            if table.name in dirty:
                conn.execute(text(f'DELETE FROM "{table.name}"'))
        for (sequence,) in conn.execute(text(_PG_USED_SEQUENCES)):
            conn.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch, pg_url, sqlite_template, pg_schema):
    """Point settings at a temp data dir and an empty database; yields the data dir."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for var in list(os.environ):
        if var.startswith(("SPENDSIGHT_", "SMTP_")) or var == "DATABASE_URL":
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SPENDSIGHT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("SPENDSIGHT_SECRETS_FILE", str(tmp_path / "secrets.toml"))
    if pg_url:
        monkeypatch.setenv("DATABASE_URL", pg_url)
    reset_settings()
    reset_catalog()
    dispose_engines()
    if pg_url:
        _pg_reset(get_engine(), pg_schema)
    else:
        url = get_settings().db_url
        assert url.startswith("sqlite:///"), url
        shutil.copyfile(sqlite_template, url.removeprefix("sqlite:///"))
        get_engine()  # as init_db() did: the data dir and the file made owner-only before the first query
    yield data_dir
    dispose_engines()
    reset_settings()
    reset_catalog()


@pytest.fixture(scope="session")
def _demo_snapshots(tmp_path_factory) -> dict:
    return {"dir": tmp_path_factory.mktemp("demo"), "made": {}}


@pytest.fixture
def demo_data(backend, env, _demo_snapshots):
    """demo.load_demo() into this test's empty database; returns what it printed.

    load_demo() starts from the hour it runs in and is seeded, so within one hour it writes the same
    usage, bills, budgets and members every time: on SQLite the first test of the hour in this run
    (this xdist worker) loads it and keeps a copy of the file, later ones copy that file back
    (about 20 s of loading each on a loaded machine). PostgreSQL always loads.
    """

    def load(now: datetime | None = None) -> str:
        hour = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
        if backend != "sqlite":
            return load_demo(now=now)
        with get_engine().connect() as conn:
            assert conn.execute(select(Organization)).first() is None, "demo_data wants an empty database"
        database = Path(get_settings().db_url.removeprefix("sqlite:///"))
        kept = _demo_snapshots["dir"] / f"{hour:%Y%m%dT%H}.db"
        if hour in _demo_snapshots["made"]:
            dispose_engines()
            shutil.copyfile(kept, database)
            get_engine()
            return _demo_snapshots["made"][hour]
        printed = load_demo(now=hour)  # the hour named above, even if the clock turns meanwhile
        dispose_engines()  # the WAL checkpointed into the file, which is then whole
        shutil.copyfile(database, kept)
        _demo_snapshots["made"][hour] = printed
        get_engine()
        return printed

    return load


@pytest.fixture
def cli():
    """Run the typer app in-process; returns (exit_code, stdout, stderr)."""

    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        result = runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return run


@pytest.fixture
def downloads(monkeypatch):
    """Bytes every st.download_button handed to Streamlit's media storage (library spy, not a fake)."""
    # lazy: streamlit takes 0.8-1.1 s to import after this module's own imports, and only page tests
    # use this fixture.
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    seen: list[bytes] = []
    original = MemoryMediaFileStorage.load_and_get_id

    def load_and_get_id(self, path_or_data, mimetype, kind, filename=None):
        if isinstance(path_or_data, bytes | str):
            seen.append(path_or_data if isinstance(path_or_data, bytes) else path_or_data.encode())
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", load_and_get_id)
    return seen
