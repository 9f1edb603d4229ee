"""`spendsight gateway` serves, on one port, the provider routes, the OTLP receiver and the sign-in route."""

from __future__ import annotations

import os
import sys

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from models.access.roles import Actor
from models.access.tokens import create_token
from tests.factories import make_org
from tests.gateway.conftest import answers_healthz
from tests.procs import Process, wait_for
from tests.smtp import free_port


def test_gateway_port_answers_otlp_and_sign_in(tmp_path):
    make_org("org-a")
    token, _ = create_token(Actor.cli(), "org-a")
    port = free_port()
    proc = Process(
        [sys.executable, "-m", "cli", "gateway", "--port", str(port)], dict(os.environ, PYTHONUNBUFFERED="1")
    )
    base = f"http://127.0.0.1:{port}"

    try:
        assert wait_for(lambda: answers_healthz(base), 60), proc.lines
        page = httpx.get(f"{base}/auth/signin", timeout=10)
        assert page.status_code == 200 and "<form" in page.text
        empty = ExportTraceServiceRequest().SerializeToString()
        headers = {"Content-Type": "application/x-protobuf"}
        assert httpx.post(f"{base}/v1/traces", content=empty, headers=headers, timeout=10).status_code == 401
        ok = httpx.post(
            f"{base}/v1/traces", content=empty, headers=headers | {"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert ok.status_code == 200 and ok.headers["content-type"] == "application/x-protobuf"
    finally:
        proc.stop()
