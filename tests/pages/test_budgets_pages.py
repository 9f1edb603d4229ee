"""The Forecast, Budgets & alerts and Alert history pages: as an owner, as a reader, and what they do."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest

import alerts
from alerts.config import recipients
from models.access.roles import Actor
from models.budgets.credits import add_credit, credit_status
from models.budgets.limits import get_limit, set_limit
from models.fx import set_rate
from models.units import add_months
from tests.factories import add_usage, make_org, usage
from tests.pageutil import run_page, texts
from ui.budget_queries import pick_history

FORECAST, BUDGETS, HISTORY = "pages/2_Forecast.py", "pages/3_Budgets_and_alerts.py", "pages/4_Alert_history.py"
OWNER, READER = "owner@example.com", "reader@example.com"
TOKENS_PER_USD = 400_000  # gpt-4o input: $2.50 per million tokens


@pytest.fixture
def org():
    make_org("org-p", name="Page Org", owners=(OWNER,), readers=(READER,))
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    add_usage(
        *[
            usage(
                "org-p",
                now - timedelta(days=d, hours=1),
                model="gpt-4o",
                project_id="chat",
                input_tokens=10 * TOKENS_PER_USD,
            )
            for d in range(0, 40)
        ]
    )  # $10 a day
    return "org-p"


def inputs(at) -> list[str]:
    return [w.label for kind in ("text_input", "number_input", "date_input") for w in getattr(at, kind)]


# --- forecast --------------------------------------------------------------------------------


@pytest.mark.parametrize("user", [OWNER, READER])
def test_forecast_page_shows_the_month_and_the_fan(org, user):
    set_limit(Actor.cli(), org, soft=1, hard=100_000)
    at = run_page(FORECAST, user=user)
    assert not at.exception
    metrics = {m.label: m for m in at.metric}
    assert set(metrics) == {"Spent so far", "Month end (p50)", "Soft limit", "Hard limit"}
    today = datetime.now(UTC).date()
    assert metrics["Spent so far"].value == f"${10 * today.day:,.2f}"
    assert metrics["Soft limit"].value == "$1.00" and metrics["Soft limit"].delta.startswith("crossed ")
    assert metrics["Hard limit"].delta == "not reached this month"
    assert len(at.get("plotly_chart")) == 1
    table = at.dataframe[0].value
    assert (
        list(table.columns) == ["day", "actual", "p10", "p50", "p90"]
        and len(table) == today.replace(day=28).day + (table["day"].max() - today.replace(day=28)).days
    )
    assert at.button == [] or all(b.label == "Sign out" for b in at.button)  # nothing to change here


def test_forecast_page_empty_state_and_project_scope(org):
    make_org("org-empty", name="Empty", owners=(OWNER,))
    at = run_page(FORECAST, session={"org_id": "org-empty"})
    assert not at.exception and "nothing to forecast yet" in texts(at)
    at = run_page(FORECAST, session={"org_id": "org-p", "fc_scope": "chat"})
    assert not at.exception
    assert at.selectbox(key="fc_scope").value == "chat"
    assert "No limits for this scope yet" in texts(at)


def test_forecast_page_in_chinese_and_cny(org):
    at = run_page(FORECAST, session={"lang": "zh", "currency": "CNY"})
    assert not at.exception
    assert at.title[0].value == "预测"
    assert at.metric[0].value.startswith("¥")


# --- budgets & alerts ------------------------------------------------------------------------


def test_budgets_page_reader_sees_settings_but_no_controls(org):
    set_limit(Actor.cli(), org, soft=100, hard=200)
    add_credit(Actor.cli(), org, 18, expires_on=date.today() + timedelta(days=90), note="trial")
    at = run_page(BUDGETS, user=READER)
    assert not at.exception
    assert "only owners of this organization change them" in texts(at)
    assert inputs(at) == [] and [b.label for b in at.button if b.label != "Sign out"] == []
    limits, grants = at.dataframe[0].value, at.dataframe[1].value
    assert list(limits["soft"]) == [100.0] and list(limits["project"]) == ["Whole organization"]
    assert list(grants["amount"]) == [18.0] and list(grants["note"]) == ["trial"]
    assert "Owners (always): owner@example.com" in texts(at)


def test_owner_sets_a_limit_adds_credit_and_a_recipient(org):
    at = run_page(BUDGETS, user=OWNER)
    assert not at.exception and "No limits yet" in texts(at)
    at.text_input(key="bl_soft:").input("120")
    at.text_input(key="bl_hard:").input("150.50")
    at.text_input(key="bl_thresholds:").input("50, 90")
    at.button(key="FormSubmitter:budget_limit-Save limit").click().run()
    assert not at.exception, at.exception
    limit = get_limit(org)
    assert (limit.soft_usd, limit.hard_usd, limit.thresholds, limit.updated_by) == (
        120,
        Decimal("150.5"),
        (50, 90),
        OWNER,
    )
    assert "Saved the limit of Whole organization." in texts(at)
    fresh = run_page(BUDGETS, user=OWNER)  # the form shows the stored values (not 15.05 or 120.000000)
    assert [fresh.text_input(key=f"bl_{k}:").value for k in ("soft", "hard", "quota", "thresholds")] == [
        "120",
        "150.5",
        "",
        "50, 90",
    ]
    at.text_input(key="bl_hard:").input("100")  # below the soft limit: refused, nothing changes
    at.button(key="FormSubmitter:budget_limit-Save limit").click().run()
    assert "soft limit $120.00 must not exceed the hard limit $100.00" in texts(at)
    assert get_limit(org).hard_usd == Decimal("150.5")
    at.text_input(key="bc_amount").input("25")
    at.button(key="FormSubmitter:budget_credit-Add grant").click().run()
    [grant] = credit_status(org)
    assert grant.amount_usd == 25 and "Added credit grant #" in texts(at)
    at.text_input(key="br_email").input("finance@example.com")
    at.button(key="FormSubmitter:budget_recipient-Add a recipient").click().run()
    assert "finance@example.com now gets these alerts." in texts(at)

    assert [(r.rule, r.email) for r in recipients(org)] == [("*", "finance@example.com")]


def test_owner_sends_a_test_alert(org, smtp):
    at = run_page(BUDGETS, user=OWNER)
    at.button(key="budget_test").click().run()
    assert not at.exception
    assert "Test alert sent: sent=1" in texts(at)
    assert [str(m["Subject"]) for m in smtp.messages_to(OWNER)] == [
        "[Spendsight] Page Org: test alert: email delivery works"
    ]


# --- alert history ---------------------------------------------------------------------------


def test_alert_history_shows_sent_pending_failed_with_reasons(org, smtp):
    set_limit(Actor.cli(), org, soft=20, thresholds="100")
    smtp.reject.add(OWNER)
    alerts.run_once(org)  # the threshold fires; the owner's address is refused
    smtp.reject.clear()
    alerts.send_test(Actor.cli(), org)
    for user in (OWNER, READER):
        at = run_page(HISTORY, user=user)
        assert not at.exception
        assert {m.label: m.value for m in at.metric} == {"Sent": "1", "Pending": "0", "Failed": "1"}
        table = at.dataframe[0].value
        failed = table[table["status"] == "failed"].iloc[0]
        assert failed["rule"] == "threshold crossed" and failed["last_error"].startswith("recipient refused: 550")
        labels = [b.label for b in at.button if b.label != "Sign out"]
        assert labels == (["Try pending messages now", "Re-queue failed messages"] if user == OWNER else [])
    at = run_page(HISTORY, user=OWNER)
    at.button(key="ah_requeue").click().run()
    assert "1 failed messages queued again." in texts(at)
    at.button(key="ah_send").click().run()
    assert "Delivery run: sent=1" in texts(at)
    assert len(smtp.messages_to(OWNER)) == 2


def test_alert_history_empty_state(org):
    at = run_page(HISTORY, user=READER)
    assert not at.exception and "No alerts yet" in texts(at)


def test_alert_history_picks_by_status_and_rule_and_shows_local_times():

    at = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)
    history = pd.DataFrame(
        [
            {"created_at": at, "rule": "threshold", "status": "sent", "next_attempt_at": at, "sent_at": at},
            {"created_at": at, "rule": "threshold", "status": "pending", "next_attempt_at": at, "sent_at": None},
            {"created_at": at, "rule": "spike", "status": "failed", "next_attempt_at": at, "sent_at": None},
        ]
    )
    assert len(pick_history(history)) == 3
    assert list(pick_history(history, ["pending", "failed"])["rule"]) == ["threshold", "spike"]
    assert list(pick_history(history, [], ["spike"])["status"]) == ["failed"]
    assert pick_history(history, ["sent"], ["spike"]).empty
    berlin = pick_history(history, timezone="Europe/Berlin")
    assert berlin["created_at"].tolist() == [datetime(2026, 11, 24, 14, 0)] * 3  # CET, shown without a zone
    nexts = berlin["next_attempt_at"].tolist()  # only a pending message has a next attempt
    assert pd.isna(nexts[0]) and nexts[1] == datetime(2026, 11, 24, 14, 0) and pd.isna(nexts[2])


def test_forecast_track_shows_each_past_month_at_its_own_rate(org):
    """This month at today's rate; the track record's past months each at their month's rate."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    add_usage(  # past full months for the track record
        *[
            usage("org-p", now - timedelta(days=d, hours=1), model="gpt-4o", input_tokens=10 * TOKENS_PER_USD)
            for d in range(40, 130)
        ]
    )
    today = now.date()
    first = today.replace(day=1)
    set_rate(Actor.cli(), "CNY", "7.00", add_months(first, -6))
    set_rate(Actor.cli(), "CNY", "8.00", first)
    usd = run_page(FORECAST)
    at = run_page(FORECAST, session={"currency": "CNY"})
    assert not at.exception
    assert at.metric[0].value == f"¥{80 * today.day:,.2f}"  # $10 a day at this month's 8.00
    [track_usd] = [d.value for d in usd.dataframe if "month" in d.value.columns]
    [track] = [d.value for d in at.dataframe if "month" in d.value.columns]
    assert len(track) > 0
    for month, dollars, yuan in zip(track_usd["month"], track_usd["actual"], track["actual"], strict=True):
        assert round(yuan, 2) == round(dollars * (8.0 if month == f"{first:%Y-%m}" else 7.0), 2), month
    assert "each month at the rate in force on its last day" in texts(at)
