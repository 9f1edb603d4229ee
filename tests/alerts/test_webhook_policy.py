"""Webhook delivery under the policy: checked again when sent (DNS rebinding), connected to the checked
address, and the endpoint's answer body never stored or shown."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import text

from alerts import outbox
from alerts.config import set_webhook
from alerts.service import send_test
from alerts.webhook import pinned
from models.access.policy import WebhookTarget
from models.access.roles import Actor
from models.db import get_engine
from models.settings import reset_settings
from tests.factories import make_org

OWNER = Actor("ana@example.com")


@pytest.fixture
def org():
    return make_org("org-w", owners=(OWNER.email,))


def test_pinned_request_goes_to_the_checked_address_under_the_hosts_name():
    target = WebhookTarget(
        "https://hooks.example.com:8443/services/x?y=1#frag", "hooks.example.com", 8443, "203.0.113.7"
    )
    assert pinned(target) == (
        "https://203.0.113.7:8443/services/x?y=1",
        {"Host": "hooks.example.com:8443"},
        {"sni_hostname": "hooks.example.com"},  # TLS name and certificate check stay the host's
    )
    v6 = WebhookTarget("http://hooks.example.com/x", "hooks.example.com", 80, "2606:4700::1")
    assert pinned(v6) == ("http://[2606:4700::1]/x", {"Host": "hooks.example.com"}, {})
    by_name = WebhookTarget("http://chat.internal/x", "chat.internal", 80, None)  # the operator allowed the name
    assert pinned(by_name) == ("http://chat.internal/x", {}, {})


def test_a_name_rebound_to_loopback_after_saving_is_refused_at_delivery(org, sink, monkeypatch):
    """Saved while `hooks.rebind.test` resolved to a public address; at delivery it resolves to
    127.0.0.1, where the sink listens. The delivery re-checks and sends nothing; the client never
    resolves the name on its own (one lookup per check)."""
    lookups: list[str] = []
    real = socket.getaddrinfo

    def dns(host, port, *args, **kwargs):
        if host != "hooks.rebind.test":
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        address = "93.184.216.34" if len(lookups) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", dns)
    set_webhook(OWNER, "org-w", f"http://hooks.rebind.test:{sink.port}/hook/secret-path")
    assert len(lookups) == 1
    send_test(OWNER, "org-w")
    assert sink.requests == []
    assert len(lookups) == 2
    [row] = [r for r in outbox.history(["org-w"]) if r["channel"] == "webhook"]
    assert row["status"] == "failed" and "private" in row["last_error"] and "secret-path" not in row["last_error"]


def test_the_answer_body_is_never_stored_or_shown(org, monkeypatch):
    monkeypatch.setenv("SPENDSIGHT_ALLOWED_WEBHOOK_HOSTS", "127.0.0.1")  # the operator's own chat server
    reset_settings()
    echoed = b"ECHOED-SECRET-BODY: here is what you sent and more"

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(400)
            self.send_header("Content-Length", str(len(echoed)))
            self.end_headers()
            self.wfile.write(echoed)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        set_webhook(OWNER, "org-w", f"http://127.0.0.1:{server.server_port}/hook")
        report = send_test(OWNER, "org-w")
    finally:
        server.shutdown()
        server.server_close()
    [row] = [r for r in outbox.history(["org-w"]) if r["channel"] == "webhook"]
    assert row["last_error"].endswith("answered 400")
    assert "ECHOED" not in " ".join(report.errors) + row["last_error"]

    with get_engine().connect() as conn:
        stored = " ".join(r[0] for r in conn.execute(text("SELECT last_error FROM alert_delivery")))
    assert "ECHOED" not in stored


def test_history_hides_bodies_stored_by_older_versions(org):

    send_test(OWNER, "org-w")  # no webhook: only owner email rows; add an old-style webhook row
    with get_engine().begin() as conn:
        event_id = conn.execute(text("SELECT id FROM alert_event")).scalar_one()
        conn.execute(
            text(
                "INSERT INTO alert_delivery (event_id, org_id, channel, recipient, status, attempts, "
                "next_attempt_at, claimed_by, last_error, created_at, message_id) VALUES (:e, 'org-w', "
                "'webhook', 'webhook', 'failed', 1, '2026-01-01 00:00:00.000000', '', "
                "'webhook http://x/... answered 403 {\"leak\": \"ECHOED\"}', '2026-01-01 00:00:00.000000', '')"
            ),
            {"e": event_id},
        )
    [row] = [r for r in outbox.history(["org-w"]) if r["channel"] == "webhook"]
    assert row["last_error"] == "webhook http://x/... answered 403"
