"""The alert pass's per-org forecast reads the database once per kind, and says what per-scope reads say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from models.access.roles import Actor
from models.budgets import forecast as forecast_module
from models.budgets.forecast import forecast_org_scopes, forecast_scope
from models.budgets.limits import set_limit
from models.db import get_engine
from tests.factories import add_usage, make_org, usage

NOW = datetime(2026, 3, 20, 15, 0, tzinfo=UTC)
PROJECTS = ("", "search", "chat", "batch-jobs")


@pytest.fixture
def org():
    make_org("org-f", timezone="Asia/Shanghai")
    rows = []
    for d in range(120):
        at = NOW - timedelta(days=d, hours=3)
        for i, project in enumerate(PROJECTS):
            if project == "batch-jobs" and d % 9:  # sparse
                continue
            tokens = 50_000 * (i + 1) * (1 + (d % 7 == 0)) + 1000 * d
            rows.append(
                usage("org-f", at, model="gpt-4o", project_id=project, input_tokens=tokens, output_tokens=tokens // 10)
            )
    add_usage(*rows)
    set_limit(Actor.cli(), "org-f", soft=400, hard=500)
    set_limit(Actor.cli(), "org-f", "search", hard=120)
    return "org-f"


def test_one_read_per_kind_gives_what_each_scope_reads_alone(org):
    scopes = [None, "search", "chat", "batch-jobs", "never-used"]
    forecast_module._ORG_HISTORY.clear()
    together = forecast_org_scopes(org, scopes, now=NOW)
    for project in scopes:
        alone = forecast_scope(org, project, now=NOW)
        both = together[project]
        assert both.spent == alone.spent  # money to the cent: the same Decimal sums
        for q in ("p10", "p50", "p90"):
            assert float(getattr(both, q)) == pytest.approx(float(getattr(alone, q)), rel=1e-9, abs=1e-6)
        assert (both.soft_limit, both.hard_limit) == (alone.soft_limit, alone.hard_limit)
        assert (both.soft_cross, both.hard_cross) == (alone.soft_cross, alone.hard_cross)
    assert together["search"].hard_limit == 120 and together["never-used"].spent == 0


def test_queries_do_not_grow_with_the_number_of_scopes_and_a_new_row_is_seen(org):
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", count)
    try:
        forecast_module._ORG_HISTORY.clear()
        forecast_org_scopes(org, [None], now=NOW)
        one = len(statements)
        statements.clear()
        forecast_module._ORG_HISTORY.clear()
        forecast_org_scopes(org, [None, "search", "chat", "batch-jobs"], now=NOW)
        assert len(statements) == one  # four scopes, the same queries as one
        statements.clear()
        forecast_org_scopes(org, [None, "search", "chat", "batch-jobs"], now=NOW)
        warm = len(statements)
        assert warm == one - 1  # the cached history: its one-aggregate check, no read
    finally:
        event.remove(engine, "before_cursor_execute", count)
    before = forecast_org_scopes(org, ["chat"], now=NOW)["chat"]
    add_usage(usage(org, NOW - timedelta(days=40), model="gpt-4o", project_id="chat", input_tokens=40_000_000))
    after = forecast_org_scopes(org, ["chat"], now=NOW)["chat"]  # a backfill of last month is seen
    assert after.p50 != before.p50
