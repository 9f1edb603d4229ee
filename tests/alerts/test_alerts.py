"""Alerts against a real SMTP server on 127.0.0.1: once per (org, project, rule, threshold, period),
in order, through SMTP outages, with escaped HTML."""

from __future__ import annotations

import json
import socket
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import func
from sqlmodel import select

import alerts
from alerts import leases, outbox
from alerts.config import add_recipient, set_webhook
from models.access.audit import entries
from models.access.roles import Actor, PermissionDenied
from models.budgets.credits import add_credit
from models.budgets.limits import set_limit
from models.db import session_scope
from models.settings import get_settings, reset_settings
from models.tables import AlertDelivery, AlertEvent
from tests.factories import add_usage, make_org, usage
from tests.smtp import SmtpServer, free_port, use_smtp
from worker.jobs import alert_jobs

NOW = datetime(2026, 3, 20, 15, 0, tzinfo=UTC)
CLI = Actor.cli()
TOKENS_PER_USD = 400_000  # gpt-4o input: $2.50 per million tokens


def spend(org_id: str, usd: float | int, at: datetime = NOW - timedelta(hours=1), project: str = "") -> None:
    add_usage(usage(org_id, at, model="gpt-4o", project_id=project, input_tokens=int(usd * TOKENS_PER_USD)))


def cycle(now: datetime = NOW, org_ids=None):
    created = alerts.evaluate(org_ids, now)
    return created, outbox.deliver(org_ids, now=now)


def delivery_statuses() -> dict[str, int]:
    with session_scope() as session:
        rows = session.exec(select(AlertDelivery.status, func.count()).group_by(AlertDelivery.status)).all()
    return {status: n for status, n in rows}


@pytest.fixture
def org():
    make_org("org-a", name="Acme", owners=("ana@example.com", "bo@example.com"), readers=("rita@example.com",))
    set_limit(CLI, "org-a", soft=100, thresholds="50,80,100")
    return "org-a"


def test_thresholds_fire_once_each_in_order(org, smtp):
    spend(org, 55)
    cycle()
    spend(org, 30)
    cycle()
    cycle()  # nothing new: 50% and 80% already fired this month
    spend(org, 20)
    cycle()
    subjects = [str(m["Subject"]) for m in smtp.messages_to("ana@example.com")]
    assert subjects == [
        "[Spendsight] Acme: 50% of the soft limit reached ($55.00 of $100.00)",
        "[Spendsight] Acme: 80% of the soft limit reached ($85.00 of $100.00)",
        "[Spendsight] Acme: 100% of the soft limit reached ($105.00 of $100.00)",
    ]
    assert len(smtp.messages_to("bo@example.com")) == 3
    assert smtp.messages_to("rita@example.com") == []  # readers are not owners
    created, report = cycle()
    assert created == [] and report.sent == 0
    assert len(smtp.received) == 6


def test_a_jump_over_several_thresholds_sends_the_highest_and_records_the_rest(org, smtp):
    spend(org, 90)
    created, report = cycle()
    assert report.sent == 2  # one message (80%) to each owner
    assert [str(m["Subject"]) for m in smtp.messages_to("ana@example.com")] == [
        "[Spendsight] Acme: 80% of the soft limit reached ($90.00 of $100.00)"
    ]
    states = {(e.threshold, e.state) for e in _events(org)}
    assert states == {(50, "superseded"), (80, "fired")}
    assert cycle()[0] == []  # 50% is not sent later either


def _events(org_id: str) -> list[AlertEvent]:
    with session_scope() as session:
        return list(session.exec(select(AlertEvent).where(AlertEvent.org_id == org_id).order_by(AlertEvent.id)))


def test_next_month_is_a_new_period(org, smtp):
    spend(org, 60)
    cycle()
    april = datetime(2026, 4, 3, 12, tzinfo=UTC)
    spend(org, 60, at=april - timedelta(hours=2))
    cycle(april)
    periods = sorted(e.period for e in _events(org))
    assert periods == ["2026-03", "2026-04"]
    assert len(smtp.messages_to("ana@example.com")) == 2


def test_smtp_down_then_back_delivers_each_pending_email_exactly_once(org, smtp):
    add_recipient(CLI, org, "finance@example.com", "threshold")
    smtp.stop()
    spend(org, 60)
    created, report = cycle()
    assert len(created) == 1
    assert report.sent == 0 and report.retrying == 3
    assert "cannot reach SMTP server" in report.errors[0]
    later = NOW + timedelta(seconds=5)
    assert outbox.deliver(now=later).retrying == 0  # backing off: not tried again yet
    spend(org, 25)  # 80% fires while the server is still down
    assert len(alerts.evaluate(now=later)) == 1
    smtp.start()
    report = alerts.run_once(now=later + timedelta(seconds=1)).delivery  # `alerts run`: whatever the backoff
    assert report.sent == 6 and report.retrying == 0
    for address in ("ana@example.com", "bo@example.com", "finance@example.com"):
        assert [str(m["Subject"]) for m in smtp.messages_to(address)] == [
            "[Spendsight] Acme: 50% of the soft limit reached ($60.00 of $100.00)",
            "[Spendsight] Acme: 80% of the soft limit reached ($85.00 of $100.00)",
        ]
    alerts.run_once(now=later + timedelta(seconds=2))
    cycle(NOW + timedelta(hours=2))
    assert len(smtp.received) == 6
    assert delivery_statuses() == {"sent": 6}


def test_retries_follow_the_backoff_and_survive_a_restart(org, smtp):
    smtp.temporary_failures = 2  # two 451 answers, then the server accepts
    spend(org, 60)
    created, report = cycle()
    assert report.retrying == 2 and report.sent == 0
    # A fresh process only has the database: the queue is there, with its next attempt time.
    with session_scope() as session:
        rows = list(session.exec(select(AlertDelivery)))
    assert {r.status for r in rows} == {"pending"} and {r.attempts for r in rows} == {1}
    assert all(r.next_attempt_at == NOW + leases.backoff(1) for r in rows)
    assert "451" in rows[0].last_error
    assert outbox.deliver(now=NOW + timedelta(seconds=29)).sent == 0
    assert outbox.deliver(now=NOW + timedelta(seconds=30)).sent == 2
    assert len(smtp.received) == 2


def test_permanent_refusal_fails_that_recipient_only(org, smtp):
    smtp.reject.add("bo@example.com")
    spend(org, 60)
    report = cycle()[1]
    assert report.sent == 1 and report.failed == 1
    failed = outbox.history([org], statuses=["failed"])
    assert failed[0]["recipient"] == "bo@example.com"
    assert failed[0]["last_error"].startswith("recipient refused: 550")
    assert alerts.run_once(now=NOW).delivery.sent == 0  # failed stays failed until an owner re-queues it
    smtp.reject.clear()
    assert outbox.retry_failed(CLI, org) == 1
    assert alerts.run_once(now=NOW).delivery.sent == 1
    assert len(smtp.messages_to("bo@example.com")) == 1


def test_a_sender_that_died_mid_send_is_retried_after_its_lease(org, smtp):
    spend(org, 60)
    alerts.evaluate(now=NOW)
    with session_scope() as session:
        ids = list(session.exec(select(AlertDelivery.id)))
    token, rows = outbox.claim(ids, NOW)  # claimed, then the process "dies"
    assert len(rows) == 2
    assert outbox.deliver(now=NOW + timedelta(minutes=1)).sent == 0  # still leased
    assert outbox.deliver(now=NOW + leases.LEASE + timedelta(seconds=1)).sent == 2
    assert len(smtp.received) == 2


def test_racing_evaluators_send_once(org, smtp):
    spend(org, 85)
    barrier = threading.Barrier(6)
    errors = []

    def worker():
        try:
            barrier.wait()
            alerts.evaluate(["org-a"], NOW)
            outbox.deliver(["org-a"], now=NOW)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(_events(org)) == 2  # 50% (superseded) and 80%
    assert len(smtp.messages_to("ana@example.com")) == 1
    assert len(smtp.messages_to("bo@example.com")) == 1
    assert delivery_statuses() == {"sent": 2}


def test_html_looking_names_arrive_escaped(smtp):
    name = '<script>alert("x")</script> & <b>Co</b>'
    make_org("org-x", name=name, owners=("ana@example.com",))
    set_limit(CLI, "org-x", soft=10, thresholds="50")
    spend("org-x", 6, project='<img src=x onerror="boom()">')
    cycle()
    [msg] = smtp.messages_to("ana@example.com")
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    assert "<script>" not in html and "<img" not in html and "<b>Co</b>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;Co&lt;/b&gt;" in html
    assert "&lt;img src=x onerror=&#34;boom()&#34;&gt;" in html  # a top project
    assert name in text and name in str(msg["Subject"])


def test_email_has_spend_limit_forecast_drivers_and_link(org, smtp, monkeypatch):
    monkeypatch.setenv("SPENDSIGHT_PUBLIC_URL", "https://spend.example.com/")
    reset_settings()
    for day in range(1, 20):
        spend(org, 2, at=datetime(2026, 3, day, 10, tzinfo=UTC), project="chat")
        if day <= 15:
            spend(org, 1, at=datetime(2026, 3, day, 11, tzinfo=UTC), project="rag")
    cycle()
    [msg] = smtp.messages_to("ana@example.com")
    assert msg.is_multipart() and msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    assert "Spent this month:" in text and "$53.00" in text
    assert "Soft limit:" in text and "$100.00" in text
    assert "Month-end forecast (p50):" in text
    assert "gpt-4o: $53.00" in text
    assert "chat: $38.00" in text and "rag: $15.00" in text
    assert "https://spend.example.com/Budgets_and_alerts" in text
    assert 'href="https://spend.example.com/Budgets_and_alerts"' in msg.get_body(("html",)).get_content()
    assert msg["Message-ID"].startswith("<alert-")


def test_forecast_and_hard_limit_rules(smtp):
    make_org("org-f", name="Forecasty", owners=("ana@example.com",))
    set_limit(CLI, "org-f", soft=250, hard=295, thresholds="90")
    for day in range(1, 21):  # $10 a day for 20 days: about $310 by the 31st
        spend("org-f", 10, at=datetime(2026, 3, day, 10, tzinfo=UTC))
    end_of_day = datetime(2026, 3, 20, 23, 59, tzinfo=UTC)
    cycle(end_of_day)
    rules = {e.rule: e for e in _events("org-f")}
    assert set(rules) == {"forecast_soft", "forecast_hard"}
    assert rules["forecast_hard"].state == "fired" and rules["forecast_soft"].state == "superseded"
    assert "forecast to exceed the hard limit this month around 2026-03-30" in rules["forecast_hard"].summary
    for day in range(21, 31):
        spend("org-f", 10, at=datetime(2026, 3, day, 10, tzinfo=UTC))
    cycle(datetime(2026, 3, 30, 23, tzinfo=UTC))
    assert {e.rule for e in _events("org-f")} == {"forecast_soft", "forecast_hard", "threshold", "hard_limit"}
    subjects = smtp.subjects()
    assert subjects[0].startswith(
        "[Spendsight] Forecasty: forecast to exceed the hard limit this month around 2026-03-30 ($3"
    )  # about $310 expected
    assert subjects[0].endswith(" expected, limit $295.00)")
    assert sorted(subjects[1:]) == [
        "[Spendsight] Forecasty: 90% of the soft limit reached ($300.00 of $250.00)",
        "[Spendsight] Forecasty: hard limit reached ($300.00 of $295.00)",
    ]


def test_project_limits_alert_per_project(smtp):
    make_org("org-p", name="Proj", owners=("ana@example.com",))
    set_limit(CLI, "org-p", "rag", soft=20, thresholds="100")
    spend("org-p", 25, project="rag")
    spend("org-p", 500, project="chat")  # the org has no limit: no org-wide alert
    cycle()
    [msg] = smtp.messages_to("ana@example.com")
    assert str(msg["Subject"]) == "[Spendsight] Proj / rag: 100% of the soft limit reached ($25.00 of $20.00)"
    assert [(e.project_id, e.rule) for e in _events("org-p")] == [("rag", "threshold")]


def test_credit_running_out_and_expiring(smtp):
    make_org("org-c", name="Credits", owners=("ana@example.com",))
    add_credit(CLI, "org-c", 100, expires_on=datetime(2026, 3, 25).date(), granted_on=datetime(2026, 3, 1).date())
    for day in range(10, 20):
        spend("org-c", 9, at=datetime(2026, 3, day, 10, tzinfo=UTC))
    cycle()  # $90 used, $10 left at $9 a day, and it expires on the 25th
    rules = sorted(e.rule for e in _events("org-c"))
    assert rules == ["credit_expiring", "credit_low"]
    subjects = sorted(smtp.subjects())
    assert subjects == [
        "[Spendsight] Credits: credit grant expires on 2026-03-25 with $10.00 unused",
        "[Spendsight] Credits: credit grant running out: $10.00 of $100.00 left, about 1 day at the current rate",
    ]
    cycle(NOW + timedelta(days=1))
    assert len(smtp.received) == 2


def test_daily_spike_against_a_robust_baseline(smtp):
    make_org("org-s", name="Spiky", owners=("ana@example.com",))
    for day in range(1, 29):
        spend("org-s", 10, at=datetime(2026, 2, day, 10, tzinfo=UTC))
    for day in range(1, 20):
        spend("org-s", 10 if day != 5 else 60, at=datetime(2026, 3, day, 10, tzinfo=UTC))
    cycle()
    assert _events("org-s") == []  # no spike yesterday or today (the 5th is old news)
    spend("org-s", 45)  # today so far: 4.5x a usual day
    cycle()
    [event] = _events("org-s")
    assert (event.rule, event.period) == ("spike", "2026-03-20")
    assert "spend spike today so far: $45.00, 4.5x the usual $10.00" in event.subject
    cycle(NOW + timedelta(hours=2))
    assert len(smtp.received) == 1


def test_no_smtp_configured_keeps_email_queued_with_the_reason(org, monkeypatch):
    spend(org, 60)
    report = cycle()[1]
    assert report.sent == 0 and report.waiting == 2
    rows = outbox.history([org], statuses=["pending"])
    assert {r["last_error"] for r in rows} == {"SMTP_HOST is not set; the email waits in the outbox"}
    server = SmtpServer()
    server.start()
    try:
        use_smtp(monkeypatch, server)
        assert outbox.deliver(now=NOW).sent == 2
        assert len(server.received) == 2
    finally:
        server.stop()


def test_org_without_recipients_records_a_skipped_delivery(smtp):
    make_org("org-n", name="Nobody")
    set_limit(CLI, "org-n", soft=10, thresholds="50")
    spend("org-n", 6)
    cycle()
    [row] = outbox.history(["org-n"])
    assert row["status"] == "skipped" and "no owners or recipients" in row["last_error"]
    assert smtp.received == []


def test_webhook_gets_a_slack_style_post(org, smtp, monkeypatch):

    monkeypatch.setenv("SPENDSIGHT_ALLOWED_WEBHOOK_HOSTS", "127.0.0.1")  # the operator allows the local hook
    reset_settings()

    posts = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200 if len(posts) > 1 else 503)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        set_webhook(CLI, org, f"http://127.0.0.1:{server.server_port}/services/T000/B000/secret")
        spend(org, 60)
        report = cycle()[1]
        assert report.sent == 2 and report.retrying == 1  # the webhook answered 503 once
        assert "secret" not in " ".join(report.errors)
        assert alerts.run_once(now=NOW).delivery.sent == 1
    finally:
        server.shutdown()
        server.server_close()
    assert len(posts) == 2
    assert posts[1]["text"].startswith("Acme: 50% of the soft limit reached ($60.00 of $100.00)")


def test_smtp_login_password_never_logged_or_stored(org, monkeypatch, caplog):
    server = SmtpServer(username="mailer", password="s3cret-smtp-pass")
    server.start()
    try:
        use_smtp(monkeypatch, server, SMTP_USERNAME="mailer", SMTP_PASSWORD="s3cret-smtp-pass")
        spend(org, 60)
        with caplog.at_level("DEBUG"):
            assert cycle()[1].sent == 2
        assert server.logins == ["mailer"]
        use_smtp(monkeypatch, server, SMTP_USERNAME="mailer", SMTP_PASSWORD="wrong-pass-9876")
        spend(org, 25)
        with caplog.at_level("DEBUG"):
            report = cycle()[1]
        assert report.retrying == 2 and "SMTP login as mailer refused: 535" in report.errors[0]
    finally:
        server.stop()
    stored = " ".join(str(r) for r in outbox.history([org]))
    for secret in ("s3cret-smtp-pass", "wrong-pass-9876"):
        assert secret not in caplog.text and secret not in stored


def test_after_usage_hook_sends_within_the_ingest(tmp_path, smtp, cli):
    """`spendsight ingest` evaluates the orgs it touched and sends at once (no worker needed)."""
    make_org("org-i", name="Ingesty", owners=("ana@example.com",))
    set_limit(CLI, "org-i", soft=1, thresholds="100")
    now = datetime.now(UTC).replace(microsecond=0)
    line = {
        "timestamp": now.isoformat(),
        "org": "org-i",
        "response": {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "gpt-4o",
            "usage": {"prompt_tokens": 500_000, "completion_tokens": 0, "total_tokens": 500_000},
        },
    }
    path = tmp_path / "log.jsonl"
    path.write_text(json.dumps(line) + "\n")
    code, out, err = cli("ingest", path)
    assert code == 0, err
    assert [str(m["Subject"]) for m in smtp.messages_to("ana@example.com")] == [
        "[Spendsight] Ingesty: 100% of the soft limit reached ($1.25 of $1.00)"
    ]


def test_alerts_cli_run_and_test(org, smtp, cli):
    spend(org, 60, at=datetime.now(UTC) - timedelta(minutes=5))
    code, out, _ = cli("alerts", "run", "--org", org)
    assert code == 0 and "alerts fired: 1" in out and "sent=2" in out
    code, out, _ = cli("alerts", "run")
    assert code == 0 and "alerts fired: 0" in out and "sent=0" in out
    code, out, _ = cli("alerts", "test", "--org", org)
    assert code == 0 and "sent=2" in out
    assert [str(m["Subject"]) for m in smtp.messages_to("ana@example.com")][
        -1
    ] == "[Spendsight] Acme: test alert: email delivery works"
    code, out, _ = cli("alerts", "history", "--org", org)
    assert out.count("\tsent\t") == 4
    smtp.stop()
    code, out, err = cli("alerts", "test", "--org", org)
    assert code == 1 and "cannot reach SMTP server" in err
    code, _, err = cli("alerts", "run", "--org", "nope")
    assert code == 2 and "organization 'nope' does not exist" in err


def test_worker_jobs_evaluate_changed_orgs_and_deliver(org, smtp):
    jobs = {job.name: job for job in alert_jobs(get_settings())}
    assert jobs["alerts"].seconds == 60 and jobs["alerts-watch"].seconds <= 10
    spend(org, 60, at=datetime.now(UTC) - timedelta(minutes=1))  # rolls up: the watcher sees the org change
    jobs["alerts-watch"]()
    assert jobs["alerts-watch"].last_error is None
    assert len(smtp.received) == 2
    jobs["alerts"]()
    jobs["alerts-watch"]()
    assert len(smtp.received) == 2


def test_reader_cannot_change_recipients_or_retry(monkeypatch):
    monkeypatch.setenv("SPENDSIGHT_ALLOWED_WEBHOOK_HOSTS", "hooks.example.com")  # no DNS needed
    reset_settings()

    make_org("org-r", owners=("ana@example.com",), readers=("rita@example.com",))
    reader = Actor("rita@example.com")
    with pytest.raises(PermissionDenied):
        add_recipient(reader, "org-r", "x@example.com")
    with pytest.raises(PermissionDenied):
        set_webhook(reader, "org-r", "https://hooks.example.com/x")
    with pytest.raises(PermissionDenied):
        outbox.retry_failed(reader, "org-r")
    with pytest.raises(PermissionDenied):
        alerts.send_test(reader, "org-r")
    owner = Actor("ana@example.com")
    add_recipient(owner, "org-r", "x@example.com", "spike")
    set_webhook(owner, "org-r", "https://hooks.example.com/services/secret-part")

    with session_scope() as session:
        log = [(e.actor, e.action, e.after) for e in entries(session, ["org-r"])]
    assert ("ana@example.com", "alert.webhook.set", '"https://hooks.example.com/..."') in log
    assert all("secret-part" not in str(e) for e in log)


def test_money_in_events_is_exact():
    make_org("org-m", owners=("ana@example.com",))
    set_limit(CLI, "org-m", soft=Decimal("0.30"), thresholds="100")
    for _ in range(3):
        spend("org-m", Decimal("0.1"))
    alerts.evaluate(now=NOW)
    [event] = _events("org-m")
    assert '"spent_usd": "0.3' in event.facts


def test_an_unreachable_server_is_tried_once_per_batch(org, monkeypatch):
    """A black-holed SMTP host costs one connect timeout per delivery run, not one per message."""

    listener = socket.socket()  # accepts TCP connections but never greets: the client times out
    listener.bind(("127.0.0.1", free_port()))
    listener.listen(16)
    try:
        use_smtp(monkeypatch, SmtpServer(), SMTP_TIMEOUT_SECONDS="0.3")
        monkeypatch.setenv("SMTP_PORT", str(listener.getsockname()[1]))
        reset_settings()
        for n in range(4):
            add_recipient(CLI, org, f"r{n}@example.com")
        spend(org, 60)
        report = cycle()[1]
        assert report.retrying == 6 and report.sent == 0
        assert report.errors == [report.errors[0]] and "timed out" in report.errors[0]
        pending = [r for r in outbox.history([org]) if r["status"] == "pending"]
        assert len(pending) == 6 and {r["attempts"] for r in pending} == {1}
        listener.settimeout(0)
        connections = []
        while True:
            try:
                connections.append(listener.accept()[0])
            except BlockingIOError:
                break
        assert len(connections) == 1  # six messages, one connection attempt
        for conn in connections:
            conn.close()
    finally:
        listener.close()
