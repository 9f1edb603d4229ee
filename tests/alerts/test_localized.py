"""Alert and invitation emails in each recipient's language and currency (a member preference),
through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

import alerts
from alerts import outbox
from alerts.invites import invite_member
from models.access.invites import account_status
from models.access.preferences import set_preferences
from models.access.roles import Actor
from models.budgets.limits import set_limit
from models.settings import reset_settings
from models.validation import ValidationError
from tests.factories import add_usage, make_org, usage
from tests.gateway.signin_server import SigninServer

NOW = datetime(2026, 3, 20, 15, 0, tzinfo=UTC)
CLI = Actor.cli()


def test_each_recipient_gets_the_alert_in_their_language_and_currency(smtp, monkeypatch):
    monkeypatch.setenv("SPENDSIGHT_CNY_PER_USD", "7.10")
    reset_settings()
    make_org("org-a", name="Acme", owners=("ana@example.com", "bo@example.com"))
    set_limit(CLI, "org-a", soft=100, thresholds="50")
    set_preferences(Actor("bo@example.com"), "bo@example.com", lang="zh", currency="CNY")
    add_usage(usage("org-a", NOW - timedelta(hours=1), model="gpt-4o", input_tokens=60 * 400_000))  # $60
    alerts.evaluate(now=NOW)
    assert outbox.deliver(now=NOW).sent == 2
    [english] = smtp.messages_to("ana@example.com")
    [chinese] = smtp.messages_to("bo@example.com")
    assert str(english["Subject"]) == "[Spendsight] Acme: 50% of the soft limit reached ($60.00 of $100.00)"
    assert str(chinese["Subject"]) == "[Spendsight] Acme: 已达到软限额的 50%（¥426.00 / ¥710.00）"
    text = chinese.get_body(("plain",)).get_content()
    assert "本月已花费:" in text and "¥426.00" in text and "软限额:" in text and "¥710.00" in text
    assert "1 美元 = 7.10 元" in text and "gpt-4o: ¥426.00" in text and "$" not in text
    html = chinese.get_body(("html",)).get_content()
    assert '<html lang="zh">' in html and "打开仪表盘" in html and "¥426.00" in html
    assert "Spent this month:" in english.get_body(("plain",)).get_content()
    # The history page and webhooks keep the event's own (English, USD) summary.
    assert outbox.history(["org-a"])[0]["summary"].startswith("Acme: 50% of the soft limit reached ($60.00")


def test_a_chinese_test_alert(smtp):
    make_org("org-a", name="Acme", owners=("ana@example.com",))
    set_preferences(Actor("ana@example.com"), "ana@example.com", lang="zh")
    alerts.send_test(CLI, "org-a", now=NOW)
    [msg] = smtp.messages_to("ana@example.com")
    assert "测试告警：邮件发送正常" in str(msg["Subject"])


@pytest.fixture
def org():
    return make_org("org-a", name="Acme", owners=("ana@example.com",), readers=("new@example.com",))


def test_an_invitation_email_carries_a_one_time_link_to_the_front_route(smtp, org, monkeypatch):
    with SigninServer() as front:
        monkeypatch.setenv("SPENDSIGHT_AUTH_URL", front.url)
        reset_settings()
        invite_member(Actor("ana@example.com"), org, "new@example.com", lang="zh")
        [msg] = smtp.messages_to("new@example.com")
        assert str(msg["Subject"]) == "[Spendsight] ana@example.com 邀请您加入 Acme"
        text = msg.get_body(("plain",)).get_content()
        link = re.search(r"(http://\S+/auth/invite\?token=\S+)", text).group(1)
        with httpx.Client(timeout=60) as browser:
            page = browser.get(link)
            assert page.status_code == 200 and "设置密码" in page.text and "new@example.com" in page.text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            token = re.search(r"token=([^&\s]+)", link).group(1)
            differ = browser.post(
                front.url + "/auth/invite",
                data={"csrf": csrf, "token": token, "password": "a long new password", "password2": "another one!"},
            )
            assert differ.status_code == 400
            csrf = re.search(r'name="csrf" value="([^"]+)"', differ.text).group(1)
            done = browser.post(
                front.url + "/auth/invite",
                data={
                    "csrf": csrf,
                    "token": token,
                    "password": "a long new password",
                    "password2": "a long new password",
                },
            )
            assert done.status_code == 303 and "spendsight_session" in browser.cookies
            again = browser.get(link)  # single use
            assert again.status_code == 410 and "已被使用" in again.text


def test_an_invitation_that_could_not_be_sent_is_withdrawn(smtp, org):
    smtp.reject.add("new@example.com")
    with pytest.raises(ValidationError, match="was not sent"):
        invite_member(Actor("ana@example.com"), org, "new@example.com")
    assert account_status(org)["new@example.com"] == "none"
