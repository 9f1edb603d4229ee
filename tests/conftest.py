"""Fixtures: every test gets a temp data dir and a fresh database (SQLite, or PostgreSQL with --db)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

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
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    from models.db import dispose_engines

    dispose_engines()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch, pg_url):
    """Point settings at a temp data dir and an empty database; yields the data dir."""
    from models.db import dispose_engines
    from models.pricing.catalog import reset_catalog
    from models.schema import init_db
    from models.settings import reset_settings

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
    engine = init_db()
    if pg_url:
        tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield data_dir
    dispose_engines()
    reset_settings()
    reset_catalog()


@pytest.fixture
def cli():
    """Run the typer app in-process; returns (exit_code, stdout, stderr)."""
    from typer.testing import CliRunner

    from cli import app

    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        result = runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return run


@pytest.fixture
def downloads(monkeypatch):
    """Bytes every st.download_button handed to Streamlit's media storage (library spy, not a fake)."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    seen: list[bytes] = []
    original = MemoryMediaFileStorage.load_and_get_id

    def load_and_get_id(self, path_or_data, mimetype, kind, filename=None):
        if isinstance(path_or_data, bytes | str):
            seen.append(path_or_data if isinstance(path_or_data, bytes) else path_or_data.encode())
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", load_and_get_id)
    return seen
