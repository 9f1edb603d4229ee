"""Two workers and two dashboards on one PostgreSQL database.

Real `spendsight worker` processes collect from a local provider server and send alert email to a
local SMTP server; the leader is killed with SIGKILL part-way and the standby carries on. Nothing
may be stored or sent twice: usage buckets are unique on their natural key and sum to exactly what
the provider serves, and each alert email reaches the SMTP server once. Two `streamlit run`
processes serve the home page from the same database.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections import Counter

import httpx
import pytest
from sqlalchemy import text
from streamlit.proto import BackMsg_pb2, ForwardMsg_pb2
from websockets.sync.client import connect

from gateway.signin import COOKIE
from models.access.auth import add_user
from models.access.roles import Actor
from models.budgets.limits import set_limit
from models.db import get_engine, session_scope
from models.sources import add_source
from models.tables import BUCKET_KEY
from tests.conftest import REPO
from tests.factories import make_org
from tests.gateway.signin_server import SigninServer
from tests.gateway.test_signin import sign_in
from tests.procs import Process, wait_for, worker
from tests.provider_server import fixture_server
from tests.smtp import SmtpServer, use_smtp

pytestmark = pytest.mark.postgres_only

OWNER_A, OWNER_B = "ana@example.com", "bo@example.com"
PASSWORD = "scale-out-test-password"
FAST = {  # the worker's defaults, shortened so the whole story takes seconds
    "SPENDSIGHT_WORKER_POLL_SECONDS": "0.5",
    "SPENDSIGHT_COLLECT_INTERVAL_SECONDS": "1",
    "SPENDSIGHT_ALERT_INTERVAL_SECONDS": "1",
    "PYTHONUNBUFFERED": "1",
}


def dashboard(env, port: int) -> Process:
    return Process(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(REPO / "app.py"),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        env,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rows(sql: str, **params) -> list[tuple]:
    with get_engine().connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def org_with_source(org_id: str, owner: str, base_url: str, key_env: str = "OPENAI_ADMIN_KEY") -> None:
    """An org collecting from the provider server, with a limit its usage this month has passed."""
    make_org(org_id, owners=(owner,))
    with session_scope() as session:
        add_source(session, Actor(owner), org_id, "openai", key_env, base_url)
    set_limit(Actor(owner), org_id, soft="0.01", thresholds="50,100")
    with session_scope() as session:
        add_user(session, Actor.cli(), owner, PASSWORD)


def test_two_workers_and_two_dashboards_share_one_database(monkeypatch):
    provider = fixture_server(monkeypatch)
    # Org B's owner may not name org A's key variable (docs/security.md); its own holds the same key.
    monkeypatch.setenv("OPENAI_ADMIN_KEY_B", os.environ["OPENAI_ADMIN_KEY"])
    smtp = SmtpServer()
    smtp.start()
    use_smtp(monkeypatch, smtp)
    env = dict(os.environ, **FAST)
    org_with_source("org-a", OWNER_A, provider.base_url)
    workers = [worker(env), worker(env)]
    ports = [free_port(), free_port()]
    dashboards = [dashboard(env, port) for port in ports]
    try:
        # One leader; it collects org-a and emails its owner.
        assert wait_for(lambda: any(w.said("leader lock acquired") for w in workers), 60), workers[0].lines
        assert wait_for(lambda: smtp.messages_to(OWNER_A), 60), [w.lines for w in workers]
        leaders = [w for w in workers if w.said("leader lock acquired")]
        assert len(leaders) == 1, [w.lines for w in workers]
        leader, standby = leaders[0], next(w for w in workers if w is not leaders[0])
        # The email is out; wait for the leader to record it. Killed between the SMTP server's accept
        # and that record (the one window a repeat can come from, docs/performance.md), the delivery
        # would stay leased for 5 minutes, longer than this test runs, and ana's row never be 'sent'.
        assert wait_for(lambda: {r for (r,) in rows(_SENT_TO, to=OWNER_A)} == {"sent"}, 60), leader.lines[-20:]

        # Kill -9 part-way: no clean shutdown, the advisory lock goes with the connection.
        leader.stop(signal.SIGKILL)
        assert wait_for(lambda: standby.said("leader lock acquired"), 60), standby.lines
        # The provider revises its recent buckets and a second org starts collecting: only the
        # standby, now leading, is there to replace the one and collect (and alert) the other.
        provider.revise(hours=3)
        org_with_source("org-b", OWNER_B, provider.base_url, "OPENAI_ADMIN_KEY_B")
        truth = provider.truth_openai("completions")

        def settled() -> bool:
            got = rows(
                "SELECT org_id, SUM(input_tokens), SUM(requests) FROM usage WHERE kind = 'completions' "
                "GROUP BY org_id ORDER BY org_id"
            )
            want = [(org, truth["input_tokens"], truth["num_model_requests"]) for org in ("org-a", "org-b")]
            return got == want and bool(smtp.messages_to(OWNER_B))

        assert wait_for(settled, 60), standby.lines[-20:]

        # Both dashboards are up on the same database: a member signs in once on the front route,
        # and each dashboard honours that session cookie over its own websocket and serves the home
        # page with what the workers stored.
        with SigninServer() as front, httpx.Client(timeout=60) as client:
            signed_in = sign_in(client, front.url, email=OWNER_B, password=PASSWORD)
            assert signed_in.status_code == 303, signed_in.text
            token = client.cookies[COOKIE]
        month_requests = rows(_MONTH_REQUESTS, org="org-b")[0][0]
        for port in ports:
            url = f"http://127.0.0.1:{port}"
            assert wait_for(lambda url=url: _healthy(url), 60), [d.lines for d in dashboards]
            assert httpx.get(url, timeout=10).status_code == 200
            shown = _home_metrics(port, token)
            assert shown["Requests this month"] == f"{month_requests:,}", shown
    finally:
        for process in (*workers, *dashboards):
            process.stop()
        smtp.stop()
        provider.stop()

    # No bucket stored twice, and the rollups agree with what is stored.
    dupes = rows(
        f"SELECT COUNT(*) FROM usage WHERE request_id = '' GROUP BY {', '.join(BUCKET_KEY)} HAVING COUNT(*) > 1"
    )
    assert dupes == []
    assert rows("SELECT org_id, SUM(input_tokens) FROM usage GROUP BY org_id ORDER BY org_id") == rows(
        "SELECT org_id, SUM(input_tokens) FROM rollup_daily GROUP BY org_id ORDER BY org_id"
    )

    # Every email arrived once: one message per Message-ID, each an alert delivery marked sent
    # (or, if the kill came mid-send, still leased to the dead worker: then it arrived at most once).
    received = Counter(str(m["Message-ID"]) for _, m in smtp.received)
    assert received and max(received.values()) == 1, received
    deliveries = dict(rows("SELECT message_id, status FROM alert_delivery WHERE channel = 'email'"))
    assert set(received) <= set(deliveries)
    assert all(status in ("sent", "sending") for mid, status in deliveries.items() if mid in received)
    assert {mid for mid, status in deliveries.items() if status == "sent"} <= set(received)
    assert {r for (r,) in rows("SELECT recipient FROM alert_delivery WHERE status = 'sent'")} == {OWNER_A, OWNER_B}


_SENT_TO = "SELECT status FROM alert_delivery WHERE channel = 'email' AND recipient = :to"
_MONTH_REQUESTS = (
    "SELECT SUM(requests) FROM rollup_daily_project WHERE org_id = :org "
    "AND day >= date_trunc('month', now() AT TIME ZONE 'UTC')::date"
)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/_stcore/health", timeout=2).text == "ok"
    except httpx.HTTPError:
        return False


def _home_metrics(port: int, session_token: str) -> dict[str, str]:
    """Open a browser session over the dashboard's websocket (Streamlit's own protocol) carrying the
    session cookie the front route set, and return the home page's metrics (label -> value shown)."""

    def run(ws) -> None:
        msg = BackMsg_pb2.BackMsg()
        msg.rerun_script.query_string = ""
        ws.send(msg.SerializeToString())

    def elements(ws) -> list:
        """The elements one script run draws (until it finishes)."""
        out = []
        while True:
            message = ForwardMsg_pb2.ForwardMsg()
            message.ParseFromString(ws.recv(timeout=60))
            kind = message.WhichOneof("type")
            if kind == "delta" and message.delta.WhichOneof("type") == "new_element":
                element = message.delta.new_element
                out.append((element.WhichOneof("type"), getattr(element, element.WhichOneof("type"))))
            elif kind == "script_finished":
                return out

    cookie = {"Cookie": f"{COOKIE}={session_token}"}  # Streamlit reads it from the websocket's handshake
    url = f"ws://127.0.0.1:{port}/_stcore/stream"
    with connect(url, subprotocols=["streamlit"], additional_headers=cookie, open_timeout=30) as ws:
        run(ws)
        drawn = elements(ws)
    metrics = {e.label: e.body for kind, e in drawn if kind == "metric"}
    assert metrics, f"port {port}: no home page for the signed-in member: {drawn}"
    return metrics
