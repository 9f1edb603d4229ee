"""The alert pass's per-org forecast reads the database once per kind, and says what per-scope reads say."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from sqlalchemy import event

from models.access.roles import Actor
from models.budgets import billing
from models.budgets import forecast as forecast_module
from models.budgets.forecast import forecast_month, forecast_org_scopes, forecast_scope
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
        cold = list(statements)
        statements.clear()
        forecast_org_scopes(org, [None, "search", "chat", "batch-jobs"], now=NOW)
        warm = list(statements)
        assert len(warm) == one  # the cached history: its one-aggregate check instead of the read

        def aggregates(run: list[str]) -> int:  # the check that the cached days are unchanged
            return sum(s.rstrip().endswith("GROUP BY project_id") for s in run)

        assert (aggregates(cold), aggregates(warm)) == (0, 1)  # a cold read stamps from its own rows
    finally:
        event.remove(engine, "before_cursor_execute", count)
    before = forecast_org_scopes(org, ["chat"], now=NOW)["chat"]
    add_usage(usage(org, NOW - timedelta(days=40), model="gpt-4o", project_id="chat", input_tokens=40_000_000))
    after = forecast_org_scopes(org, ["chat"], now=NOW)["chat"]  # a backfill of last month is seen
    assert after.p50 != before.p50


@pytest.mark.parametrize(
    "now",
    [NOW, datetime(2026, 2, 28, 16, 30, tzinfo=UTC), datetime(2026, 3, 1, 20, 0, tzinfo=UTC)],  # 1st: nothing seen yet
    ids=["mid-month", "1st-local", "2nd-local"],
)
def test_the_org_path_forecasts_what_forecast_month_does_from_the_same_days(org, now):
    """forecast_org_scopes builds the model's input from per-project day arrays; forecast_month from a
    mapping of the same days: every figure (and the fan, day by day) is the same, not merely close."""
    scopes = [None, "search", "chat", "batch-jobs", "never-used"]
    forecast_module._ORG_HISTORY.clear()
    together = forecast_org_scopes(org, scopes, now=now)
    as_of = together[None].forecast.as_of
    month_start = as_of.replace(day=1)
    history = forecast_module._org_history(org, month_start)
    month = billing.daily_spend_by_project(org, month_start, as_of + timedelta(days=1))
    first = month_start - timedelta(days=forecast_module.FETCH_DAYS)
    for project in scopes:
        daily: dict[date, Decimal | float] = {}
        for name, days in history.items():  # the org's total adds the projects in the order they were read
            if project in (None, name):
                for i in np.flatnonzero(days):
                    day = first + timedelta(days=int(i))
                    daily[day] = float(daily.get(day, 0.0)) + float(days[i])
        for name, days_d in month.items():
            if project in (None, name):
                for day, cost in days_d.items():
                    daily[day] = Decimal(daily.get(day, 0)) + cost
        alone = forecast_month(daily, as_of, together[project].today_fraction)
        assert together[project].forecast == alone
    assert together[None].forecast.history_days > 50 and together["batch-jobs"].forecast.p50 > 0
