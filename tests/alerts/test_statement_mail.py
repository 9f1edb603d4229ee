"""The monthly statement by email: on month close, once per subscriber, in their language and currency."""

import io
from datetime import UTC, date, datetime

import pytest
from openpyxl import load_workbook

from alerts.statements import deliver_statements
from models.access.roles import Actor, PermissionDenied
from models.budgets.snapshots import close_month, run_closes
from models.budgets.subscriptions import subscribe
from models.fx import set_rate
from tests.factories import add_usage, make_org, usage


@pytest.fixture
def org():
    make_org("org-m", "Mail <Org>", owners=("ana@example.com",), readers=("li@example.com", "rita@example.com"))
    add_usage(usage("org-m", "2026-10-05T10:00:00Z", model="gpt-4o", project_id="web", input_tokens=1_000_000))
    return "org-m"


def attachment(msg):
    part = next(p for p in msg.iter_attachments())
    return part.get_filename(), load_workbook(io.BytesIO(part.get_content()))


def test_each_subscriber_gets_the_closed_month_once_in_their_language_and_currency(org, smtp):
    set_rate(Actor.cli(), "CNY", "7.20", date(2026, 10, 1))
    subscribe(Actor("ana@example.com"), org, True, lang="en", currency="USD")
    subscribe(Actor("li@example.com"), org, True, lang="zh", currency="CNY")
    now = datetime(2026, 11, 4, 12, tzinfo=UTC)
    assert run_closes(now, close_after_days=3)["closed"] == 1
    assert deliver_statements(now) == {"sent": 2, "retrying": 0, "failed": 0}

    (en,) = smtp.messages_to("ana@example.com")
    assert str(en["Subject"]) == "Mail <Org> statement 2026-10: $2.50"
    html = en.get_body(("html",)).get_content()
    assert "Mail &lt;Org&gt;" in html and "$2.50" in html
    name, book = attachment(en)
    assert name == "statement-org-m-2026-10.xlsx" and book.sheetnames[:3] == [
        "By project",
        "By model",
        "Project × model",
    ]
    assert [c.value for c in book["By project"][3]][:5] == ["Total", 1, 1_000_000, 0, 2.5]

    (zh,) = smtp.messages_to("li@example.com")
    assert str(zh["Subject"]) == "Mail <Org> 2026-10 月度账单：¥18.00"  # $2.50 x 7.20, October's rate
    body = zh.get_body(("html",)).get_content()
    assert "按项目" in body and "7.20 CNY/USD 自 2026-10-01 起" in body
    _, book = attachment(zh)
    assert book["按项目"].cell(1, 5).value == "费用 (CNY)" and book["按项目"].cell(2, 5).value == 18.0
    assert smtp.messages_to("rita@example.com") == []  # not subscribed

    # exactly once: later runs, a second close and another delivery pass send nothing new
    assert run_closes(datetime(2026, 11, 5, tzinfo=UTC), close_after_days=3) == {"closed": 0, "restated": 0}
    assert close_month(Actor.cli(), org, 2026, 10, now=now)[1] is False
    assert deliver_statements(datetime(2026, 11, 6, tzinfo=UTC))["sent"] == 0
    assert len(smtp.received) == 2


def test_smtp_down_then_back_sends_once(org, smtp):
    subscribe(Actor("ana@example.com"), org, True)
    now = datetime(2026, 11, 4, 12, tzinfo=UTC)
    smtp.stop()
    run_closes(now, close_after_days=3)
    assert deliver_statements(now)["retrying"] == 1
    smtp.start()
    assert deliver_statements(datetime(2026, 11, 4, 13, tzinfo=UTC))["sent"] == 1
    assert deliver_statements(datetime(2026, 11, 4, 14, tzinfo=UTC))["sent"] == 0
    assert len(smtp.messages_to("ana@example.com")) == 1


def test_members_subscribe_only_themselves(org):
    with pytest.raises(PermissionDenied):
        subscribe(Actor("li@example.com"), org, True, email="ana@example.com")
    with pytest.raises(PermissionDenied):
        subscribe(Actor("stranger@example.com"), org, True)
    assert subscribe(Actor("li@example.com"), org, True) is True
    assert subscribe(Actor("li@example.com"), org, True) is False  # no change, no audit row
