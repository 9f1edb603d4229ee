"""Statements that stay true: limits in force that month, closed months frozen, dated restatements."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlmodel import select

from models.access.roles import Actor, PermissionDenied
from models.budgets.credits import add_credit
from models.budgets.limits import clear_limit, get_limit, month_limit, set_limit
from models.budgets.snapshots import close_month, due_months, month_statement, restate, run_closes, versions
from models.budgets.statement import statement
from models.db import session_scope
from models.pricing.edit import set_override
from models.tables import AuditLog, StatementSnapshot
from models.validation import ValidationError
from tests.factories import add_usage, make_org, usage

OWNER = Actor("owner@example.com")
SEPT = datetime(2026, 9, 15, tzinfo=UTC)
NOW = datetime(2026, 11, 30, 9, tzinfo=UTC)


@pytest.fixture
def october():
    make_org("org-s", "Statement Org", owners=("owner@example.com",), readers=("finance@example.com",))
    add_usage(
        usage("org-s", "2026-10-05T10:00:00Z", model="gpt-4o", project_id="web", input_tokens=1_000_000),
        usage("org-s", "2026-10-06T10:00:00Z", model="gpt-4o-mini", project_id="api", input_tokens=1_000_000),
    )
    return "org-s"


def audit(action):
    with session_scope() as session:
        return list(session.exec(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def test_october_keeps_its_limit_when_today_s_limit_changes(october):
    set_limit(OWNER, october, soft="10", hard="20", now=SEPT)
    before = statement(october, 2026, 10).billing
    set_limit(OWNER, october, soft="500", hard="900")  # today
    after = statement(october, 2026, 10).billing
    assert (
        (after["soft_limit_usd"], after["hard_limit_usd"])
        == (Decimal("10"), Decimal("20"))
        == (
            before["soft_limit_usd"],
            before["hard_limit_usd"],
        )
    )
    assert get_limit(october).soft_usd == Decimal("500")  # today's limit is the new one
    assert statement(october, 2026, 8).billing["soft_limit_usd"] is None  # before any limit: none in force


def test_a_limit_changed_mid_month_shows_the_one_the_month_ended_with_and_clearing_keeps_history(october):
    set_limit(OWNER, october, soft="10", now=SEPT)
    set_limit(OWNER, october, soft="12", now=datetime(2026, 10, 20, tzinfo=UTC))
    assert statement(october, 2026, 9).billing["soft_limit_usd"] == Decimal("10")
    assert statement(october, 2026, 10).billing["soft_limit_usd"] == Decimal("12")
    clear_limit(OWNER, october)  # today: October still had its limit
    assert get_limit(october) is None
    assert statement(october, 2026, 10).billing["soft_limit_usd"] == Decimal("12")
    assert month_limit(october, "UTC", date(2026, 12, 1), date(2027, 1, 1)) is None


def test_limit_history_follows_the_org_time_zone():
    make_org("org-ny", "NY", timezone="America/New_York", owners=("owner@example.com",))
    # 2026-11-01 02:00 UTC is still October 31st in New York: the limit was in force in October there.
    set_limit(OWNER, "org-ny", soft="7", now=datetime(2026, 11, 1, 2, tzinfo=UTC))
    assert statement("org-ny", 2026, 10).billing["soft_limit_usd"] == Decimal("7")


def test_credits_are_dated_grants_a_later_grant_does_not_change_october(october):
    add_credit(OWNER, october, "1", date(2027, 1, 1), date(2026, 11, 15), note="late")
    assert statement(october, 2026, 10).billing["credits_applied_usd"] == Decimal("0")


def test_closing_freezes_and_a_late_log_is_a_dated_restatement_with_the_difference(october):
    set_limit(OWNER, october, soft="10", now=SEPT)
    version, created = close_month(OWNER, october, 2026, 10, now=NOW)
    assert created and version.total_usd == Decimal("2.65") and version.version == 0
    assert close_month(OWNER, october, 2026, 10, now=NOW)[1] is False  # closing again changes nothing
    assert restate(OWNER, october, 2026, 10) is None  # nothing changed yet

    add_usage(usage("org-s", "2026-10-31T23:00:00Z", model="gpt-4o", project_id="web", input_tokens=400_000))
    set_limit(OWNER, october, soft="999")  # today's limit: not part of October
    frozen, history = month_statement(october, 2026, 10)
    assert frozen.total == Decimal("2.65") and frozen.closed_at is not None  # frozen until restated
    assert frozen.billing["soft_limit_usd"] == Decimal("10")

    restated = restate(Actor("worker", system=True), october, 2026, 10)
    assert restated is not None and restated.version == 1
    assert restated.difference_usd == Decimal("1.00") and restated.total_usd == Decimal("3.65")
    assert "spend +1.0000 USD" in restated.reason and "web +1.0000 USD" in restated.reason
    shown, history = month_statement(october, 2026, 10)
    assert shown.total == Decimal("3.65") and shown.version == 1
    assert shown.billing["soft_limit_usd"] == Decimal("10")  # still October's limit
    assert [v.version for v in history] == [0, 1] and history[1].difference_usd == Decimal("1.00")
    row = audit("statement.restate")[-1]
    assert row.actor == "worker" and row.entity == "statement:2026-10"
    assert json.loads(row.after)["difference_usd"] == "1.000000" and json.loads(row.before)["total_usd"] == "2.65"
    assert [a.action for a in audit("statement.close")] == ["statement.close"]


def test_closing_is_for_owners_and_ended_months_only(october):
    with pytest.raises(PermissionDenied):
        close_month(Actor("finance@example.com"), october, 2026, 10, now=NOW)
    with pytest.raises(ValidationError, match="has not ended"):
        close_month(OWNER, october, 2026, 11, now=NOW)
    assert versions(october, 2026, 10) == []


def test_the_worker_closes_last_month_n_days_after_it_ends(october):
    assert due_months(datetime(2026, 11, 3, 12, tzinfo=UTC), close_after_days=3) == []
    assert due_months(datetime(2026, 11, 4, 12, tzinfo=UTC), close_after_days=3) == [("org-s", 2026, 10)]
    assert run_closes(datetime(2026, 11, 4, 12, tzinfo=UTC), close_after_days=3) == {"closed": 1, "restated": 0}
    assert run_closes(datetime(2026, 11, 5, 12, tzinfo=UTC), close_after_days=3) == {"closed": 0, "restated": 0}
    with session_scope() as session:
        rows = list(session.exec(select(StatementSnapshot)))
    assert [(r.org_id, r.month, r.version, r.created_by) for r in rows] == [("org-s", "2026-10", 0, "worker")]


def test_a_price_override_after_close_is_a_restatement_too(october):
    close_month(OWNER, october, 2026, 10, now=NOW)
    set_override(OWNER, "openai", "gpt-4o", {"input_mtok": "2", "output_mtok": 8}, since=date(2026, 10, 1))
    frozen, _ = month_statement(october, 2026, 10)
    assert frozen.total == Decimal("2.65")  # the closed figure stands until restated
    restated = restate(OWNER, october, 2026, 10)
    assert restated is not None and restated.difference_usd == Decimal("-0.5")  # web: $2.50 -> $2.00
    assert month_statement(october, 2026, 10)[0].total == Decimal("2.15")
    assert restate(OWNER, october, 2026, 10) is None  # nothing new since
    assert len(audit("statement.restate")) == 1


def test_two_changes_at_the_same_instant_leave_one_version(october):
    set_limit(OWNER, october, soft="10", now=SEPT)
    set_limit(OWNER, october, soft="11", now=SEPT)  # e.g. the demo seeded again
    assert statement(october, 2026, 10).billing["soft_limit_usd"] == Decimal("11")
    clear_limit(OWNER, october, now=SEPT)
    set_limit(OWNER, october, soft="12", now=SEPT)
    assert statement(october, 2026, 10).billing["soft_limit_usd"] == Decimal("12")


def test_a_version_stored_before_unpriced_tokens_were_kept_reads_and_is_not_restated(october):
    """Closed months stored by an earlier release lack the unpriced-token column: they read as none
    unpriced, and the new column alone is not a correction to restate."""
    close_month(OWNER, october, 2026, 10, NOW)
    with session_scope() as session:
        row = session.exec(select(StatementSnapshot)).one()
        body = json.loads(row.body)
        for name in ("by_project", "by_model", "by_project_model"):
            for line in body[name]:
                line.pop("unpriced_tokens")
        row.body = json.dumps(body)
        session.add(row)
    s, _ = month_statement(october, 2026, 10)
    assert list(s.by_project["unpriced_tokens"]) == [0, 0] and s.unpriced_tokens == 0
    assert restate(OWNER, october, 2026, 10) is None
