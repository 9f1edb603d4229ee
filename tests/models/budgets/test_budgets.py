"""Billing model: limits, credit grants consumed oldest-expiring first, months in the org's zone."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from models.access.audit import entries
from models.access.roles import Actor, PermissionDenied
from models.budgets import billing
from models.budgets.credits import add_credit, credit_status, month_billing, remove_credit
from models.budgets.forecast import forecast_scope
from models.budgets.limits import KEEP, clear_limit, get_limit, limits, set_limit
from models.db import session_scope
from models.validation import ValidationError
from tests.factories import add_usage, make_org, usage

CLI = Actor.cli()
TOKENS_PER_USD = 400_000  # gpt-4o input: $2.50 per million tokens


def spend_on(org_id: str, day: date, usd, hour: int = 12) -> None:
    at = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    add_usage(usage(org_id, at, model="gpt-4o", input_tokens=int(Decimal(usd) * TOKENS_PER_USD)))


def audit_log(org_id: str) -> list[tuple[str, str, str, dict | None, dict | None]]:
    with session_scope() as session:
        return [
            (
                e.actor,
                e.action,
                e.entity,
                json.loads(e.before) if e.before else None,
                json.loads(e.after) if e.after else None,
            )
            for e in reversed(entries(session, [org_id]))
        ]


# --- credit consumption (pure) ---------------------------------------------------------------


def test_consume_uses_the_grant_expiring_first_then_the_next():
    d = date(2026, 1, 1)
    soon = billing.Grant(1, Decimal(10), d, date(2026, 1, 20))
    later = billing.Grant(2, Decimal(50), d, date(2026, 6, 1))
    daily = {date(2026, 1, k): Decimal(4) for k in range(1, 31)}  # $120 in January
    used = billing.consume([later, soon], daily)
    assert used.used_by_grant == {1: Decimal(10), 2: Decimal(50)}
    assert used.applied_by_day[date(2026, 1, 1)] == Decimal(4)
    assert used.applied_by_day[date(2026, 1, 3)] == Decimal(4)  # $2 from the first grant, $2 from the second
    assert used.applied_between(date(2026, 1, 1), date(2026, 2, 1)) == Decimal(60)
    assert date(2026, 1, 16) not in used.applied_by_day  # both are used up after $60


def test_consume_ignores_days_outside_a_grant_and_listing_order():
    g1 = billing.Grant(1, Decimal(100), date(2026, 2, 10), date(2026, 2, 12))  # two days only
    g2 = billing.Grant(2, Decimal(100), date(2026, 2, 10), date(2026, 2, 12))  # same expiry: lower id first
    daily = {
        date(2026, 2, 9): Decimal(7),
        date(2026, 2, 10): Decimal(5),
        date(2026, 2, 11): Decimal(6),
        date(2026, 2, 12): Decimal(9),
    }
    for order in ([g1, g2], [g2, g1]):
        used = billing.consume(order, daily)
        assert used.used_by_grant == {1: Decimal(11), 2: Decimal(0)}
        assert used.applied_by_day == {date(2026, 2, 10): Decimal(5), date(2026, 2, 11): Decimal(6)}


def test_month_math():
    assert billing.month_bounds(2024, 2) == (date(2024, 2, 1), date(2024, 3, 1))
    assert billing.month_bounds(2025, 12) == (date(2025, 12, 1), date(2026, 1, 1))
    assert billing.local_today("Asia/Tokyo", datetime(2026, 3, 31, 16, tzinfo=UTC)) == date(2026, 4, 1)
    with pytest.raises(ValueError):
        billing.month_bounds(2025, 13)


# --- the monthly bill ------------------------------------------------------------------------


def test_credit_grants_and_expiry_change_what_is_billable():
    make_org("org-b")
    for k in range(1, 31):
        spend_on("org-b", date(2026, 4, k), 2)  # $60 in April
    for k in range(1, 32):
        spend_on("org-b", date(2026, 5, k), 2)  # $62 in May
    assert month_billing("org-b", 2026, 4) == {
        "spent_usd": Decimal("60.000000"),
        "credits_applied_usd": Decimal("0.000000"),
        "billable_usd": Decimal("60.000000"),
        "soft_limit_usd": None,
        "hard_limit_usd": None,
        "quota_usd": None,
    }
    # An $18 trial credit from April 20, expiring May 5 (the 5th no longer counts).
    add_credit(CLI, "org-b", 18, expires_on=date(2026, 5, 5), granted_on=date(2026, 4, 20))
    april = month_billing("org-b", 2026, 4)
    assert (april["credits_applied_usd"], april["billable_usd"]) == (Decimal(18), Decimal(42))
    add_credit(CLI, "org-b", 50, expires_on=date(2026, 5, 5), granted_on=date(2026, 4, 28), note="support")
    april, may = month_billing("org-b", 2026, 4), month_billing("org-b", 2026, 5)
    # Same expiry: the older grant goes first. Apr 20-28 use up the trial ($18), Apr 29-30 take $4 of
    # the support grant, May 1-4 another $8; the rest of it expires unused.
    assert (april["credits_applied_usd"], april["billable_usd"]) == (Decimal(22), Decimal(38))
    assert (may["credits_applied_usd"], may["billable_usd"]) == (Decimal(8), Decimal(54))
    statuses = {g.note: g for g in credit_status("org-b", today=date(2026, 5, 10))}
    assert statuses[""].used_usd == Decimal(18) and statuses[""].remaining_usd == 0
    assert statuses["support"].used_usd == Decimal(12) and statuses["support"].remaining_usd == Decimal(38)
    assert statuses["support"].state == "expired"
    assert [g.state for g in credit_status("org-b", today=date(2026, 5, 2))] == ["used up", "active"]


def test_months_follow_the_org_time_zone():
    make_org("org-ny", timezone="America/New_York")
    at = datetime(2026, 3, 1, 3, tzinfo=UTC)  # still Feb 28 in New York
    add_usage(usage("org-ny", at, model="gpt-4o", input_tokens=4_000_000))  # $10
    assert month_billing("org-ny", 2026, 2)["spent_usd"] == Decimal(10)
    assert month_billing("org-ny", 2026, 3)["spent_usd"] == Decimal(0)


def test_month_billing_reports_the_org_limits():
    make_org("org-l")
    set_limit(CLI, "org-l", soft="100", hard="150.50", quota=200, now=datetime(2026, 5, 20, tzinfo=UTC))
    bill = month_billing("org-l", 2026, 6)
    assert (bill["soft_limit_usd"], bill["hard_limit_usd"], bill["quota_usd"]) == (100, Decimal("150.5"), 200)
    assert all(isinstance(v, Decimal) for v in bill.values())


# --- limits ----------------------------------------------------------------------------------


def test_limit_set_keeps_what_is_not_given_and_records_who_and_when():
    make_org("org-k", owners=("ana@example.com",))
    owner = Actor("ana@example.com")
    set_limit(owner, "org-k", soft=80, hard=100)
    limit = set_limit(owner, "org-k", hard=120, thresholds=KEEP)
    assert (limit.soft_usd, limit.hard_usd, limit.thresholds) == (80, 120, (50, 80, 100))
    limit = set_limit(owner, "org-k", soft=None, thresholds="90, 25,100%")
    assert (limit.soft_usd, limit.hard_usd, limit.thresholds) == (None, 120, (25, 90, 100))
    assert limit.updated_by == "ana@example.com"
    assert set_limit(owner, "org-k", "rag", soft=5).project_id == "rag"
    assert [li.scope for li in limits("org-k")] == ["(organization)", "rag"]
    log = audit_log("org-k")
    assert [(a, action, entity) for a, action, entity, _, _ in log] == [
        ("ana@example.com", "limit.set", "limit:*")
    ] * 3 + [("ana@example.com", "limit.set", "limit:rag")]
    assert log[1][3]["hard_usd"] == "100" and log[1][4]["hard_usd"] == "120"
    assert clear_limit(owner, "org-k", "rag") is True and get_limit("org-k", "rag") is None
    assert audit_log("org-k")[-1][1] == "limit.clear"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"soft": "abc"}, "soft limit 'abc' is not an amount in USD"),
        ({"soft": -5}, "soft limit must be greater than 0"),
        ({"hard": "1e12"}, "larger than"),
        ({"soft": "0.0000001"}, "more than 6 decimal places"),
        ({"soft": 200, "hard": 100}, "soft limit $200.00 must not exceed the hard limit $100.00"),
        ({"hard": 300, "quota": 120}, "hard limit $300.00 must not exceed the approved quota $120.00"),
        ({"thresholds": "50,x"}, "thresholds: 'x' is not a whole percentage"),
        ({"thresholds": "0"}, "between 1 and 1000"),
        ({"thresholds": "50,50"}, "repeats a percentage"),
    ],
)
def test_bad_limits_are_refused_and_nothing_changes(kwargs, message):
    make_org("org-v")
    set_limit(CLI, "org-v", soft=10, hard=20, quota=30)
    with pytest.raises(ValidationError, match=_re(message)):
        set_limit(CLI, "org-v", **kwargs)
    limit = get_limit("org-v")
    assert (limit.soft_usd, limit.hard_usd, limit.quota_usd) == (10, 20, 30)


def _re(text: str) -> str:
    return re.escape(text)


def test_readers_and_strangers_cannot_change_budgets():
    make_org("org-r", owners=("ana@example.com",), readers=("rita@example.com",))
    for actor in (Actor("rita@example.com"), Actor("eve@example.com"), Actor(None)):
        with pytest.raises(PermissionDenied):
            set_limit(actor, "org-r", soft=1)
        with pytest.raises(PermissionDenied):
            add_credit(actor, "org-r", 5, expires_on=date(2030, 1, 1))
    assert limits("org-r") == [] and credit_status("org-r") == []
    assert audit_log("org-r") == []


def test_credit_add_is_idempotent_and_validated():
    make_org("org-c")
    grant, created = add_credit(CLI, "org-c", "18", expires_on=date(2026, 9, 1), granted_on=date(2026, 6, 1))
    assert created and grant.amount_usd == 18 and grant.remaining_usd == 18
    again, created = add_credit(CLI, "org-c", "18.00", expires_on=date(2026, 9, 1), granted_on=date(2026, 6, 1))
    assert not created and again.id == grant.id
    with pytest.raises(ValidationError, match="expires 2026-06-01 must be after granted 2026-06-01"):
        add_credit(CLI, "org-c", 5, expires_on=date(2026, 6, 1), granted_on=date(2026, 6, 1))
    with pytest.raises(ValidationError, match="amount must be greater than 0"):
        add_credit(CLI, "org-c", 0, expires_on=date(2026, 9, 1))
    remove_credit(CLI, "org-c", grant.id)
    assert credit_status("org-c") == []
    assert [action for _, action, *_ in audit_log("org-c")] == ["credit.add", "credit.remove"]


# --- CLI -------------------------------------------------------------------------------------


def test_cli_credit_and_limit_commands(cli):
    make_org("org-cli", name="CLI Org")
    code, out, err = cli(
        "credit", "add", "--org", "org-cli", "--amount", "18", "--granted", "2026-01-05", "--expires", "2026-04-05"
    )
    assert code == 0, err
    assert out.strip() == "added credit #1 $18.00 for org-cli, 2026-01-05 until 2026-04-05 ($18.00 left)"
    code, out, _ = cli(
        "credit", "add", "--org", "org-cli", "--amount", "18", "--granted", "2026-01-05", "--expires", "2026-04-05"
    )
    assert code == 0 and out.startswith("already exists: credit #1")
    code, out, _ = cli("credit", "list", "--org", "org-cli", "--format", "json")
    [grant] = json.loads(out)
    assert grant["amount_usd"] == 18 and grant["expires"] == "2026-04-05"
    code, out, err = cli(
        "limit", "set", "--org", "org-cli", "--soft", "100", "--hard", "150", "--thresholds", "50,80,100"
    )
    assert code == 0, err
    assert out.strip() == "org-cli (organization): soft $100.00, hard $150.00, quota -, thresholds 50,80,100%"
    code, out, _ = cli("limit", "set", "--org", "org-cli", "--project", "rag", "--hard", "40")
    assert code == 0 and out.strip() == "org-cli rag: soft -, hard $40.00, quota -, thresholds 50,80,100%"
    code, out, _ = cli("limit", "set", "--org", "org-cli", "--soft", "off")
    assert code == 0 and "soft -, hard $150.00" in out
    code, out, _ = cli("limit", "show", "--org", "org-cli")
    assert out.splitlines() == [
        "(organization)\tsoft -\thard $150.00\tquota -\tthresholds 50,80,100",
        "rag\tsoft -\thard $40.00\tquota -\tthresholds 50,80,100",
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ("credit", "add", "--org", "org-e", "--amount", "ten", "--expires", "2026-04-05"),
            "amount 'ten' is not an amount in USD",
        ),
        (
            ("credit", "add", "--org", "org-e", "--amount", "10", "--expires", "05/04/2026"),
            "--expires '05/04/2026': expected a date YYYY-MM-DD",
        ),
        (
            ("credit", "add", "--org", "nope", "--amount", "10", "--expires", "2026-04-05"),
            "organization 'nope' does not exist",
        ),
        (
            ("limit", "set", "--org", "org-e", "--soft", "200", "--hard", "100"),
            "soft limit $200.00 must not exceed the hard limit $100.00",
        ),
        (("limit", "set", "--org", "org-e", "--thresholds", "fifty"), "thresholds: 'fifty' is not a whole percentage"),
    ],
)
def test_cli_errors_name_the_field_and_change_nothing(cli, args, message):
    make_org("org-e")
    code, out, err = cli(*args)
    assert code == 2 and message in err and out == ""
    assert limits("org-e") == [] and credit_status("org-e") == []


def test_demo_budgets_sit_around_the_forecast(demo_data):
    now = datetime.now(UTC)
    demo_data(now=now)
    prod = get_limit("org-prod")
    fc = forecast_scope("org-prod", now=now)
    assert prod.thresholds == (50, 80, 100)
    assert prod.soft_usd < fc.p50 < prod.hard_usd <= prod.quota_usd
    assert get_limit("org-prod", "search-rag").hard_usd > 0
    [grant] = credit_status("org-staging")
    assert grant.amount_usd == 18 and grant.note == "trial credit"
    assert grant.expires_on.replace(day=1) == _months_after(grant.granted_on, 3).replace(day=1)


def _months_after(day: date, months: int) -> date:
    index = day.month - 1 + months
    return date(day.year + index // 12, index % 12 + 1, 1)
