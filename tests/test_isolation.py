"""The per-test reset of the shared PostgreSQL database leaves exactly what a new database has."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

from models.db import get_engine
from tests.conftest import _pg_reset
from tests.factories import add_usage, make_org, usage


def _ids() -> list[int]:
    with get_engine().connect() as conn:
        return list(conn.execute(text("SELECT id FROM usage ORDER BY id")).scalars())


def _counts() -> dict[str, int]:
    with get_engine().connect() as conn:
        return {
            t.name: conn.execute(text(f'SELECT count(*) FROM "{t.name}"')).scalar()
            for t in SQLModel.metadata.sorted_tables
        }


@pytest.mark.postgres_only
def test_the_reset_empties_every_table_and_restarts_every_sequence(pg_schema):
    make_org("org-a", owners=("a@example.com",))
    add_usage(usage("org-a"), usage("org-a"))
    first = _ids()
    assert len(first) == 2 and sum(_counts().values()) > 3  # usage, rollups, the org, its member
    _pg_reset(get_engine(), pg_schema)
    assert set(_counts().values()) == {0}
    make_org("org-a")
    add_usage(usage("org-a"), usage("org-a"))
    assert _ids() == first  # ids drawn again from the start, as in a new database


@pytest.mark.postgres_only
def test_a_schema_a_test_altered_is_made_afresh(pg_schema):
    with get_engine().begin() as conn:
        conn.execute(text("ALTER TABLE budget_limit DROP COLUMN strict"))
        conn.execute(text("ALTER TABLE usage ADD COLUMN leftover integer"))
    _pg_reset(get_engine(), pg_schema)
    with get_engine().connect() as conn:
        columns = set(conn.execute(text("SELECT * FROM budget_limit LIMIT 0")).keys())
        assert "strict" in columns
        assert "leftover" not in set(conn.execute(text("SELECT * FROM usage LIMIT 0")).keys())
