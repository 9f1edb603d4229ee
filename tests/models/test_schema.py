"""init_db on a database made before a column existed adds it, with its default for existing rows."""

from __future__ import annotations

from sqlalchemy import inspect, text

from models.db import get_engine
from models.schema import init_db
from tests.factories import make_org


def test_a_new_column_is_added_to_an_existing_table():
    make_org("org-a")
    engine = get_engine()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO budget_limit (org_id, project_id, thresholds, updated_at, updated_by, strict) "
                "VALUES ('org-a', '', '50', '2026-11-01 00:00:00.000000', 'x', false)"
            )
        )
        conn.execute(text("ALTER TABLE budget_limit DROP COLUMN strict"))
    assert "strict" not in {c["name"] for c in inspect(engine).get_columns("budget_limit")}
    init_db(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT strict FROM budget_limit")).scalar() in (False, 0)
