"""`spendsight otlp` as a real process, and `spendsight otlp token create|list|revoke`."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.collectors.otlp_util import genai_attributes, make_spans
from tests.procs import Process, wait_for

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_token_create_prints_it_once_then_list_and_revoke(cli):
    assert cli("org", "add", "--id", "acme", "--name", "Acme")[0] == 0
    code, out, _ = cli("otlp", "token", "create", "--org", "acme", "--name", "chatbot", "--format", "json")
    assert code == 0
    created = json.loads(out)
    assert set(created) == {"token", "id"} and created["token"].startswith("sst_")
    assert isinstance(created["id"], int)
    code, out, _ = cli("otlp", "token", "list", "--org", "acme")
    assert code == 0 and out.startswith(f"{created['id']}\tactive") and "chatbot" in out
    assert created["token"] not in out
    assert cli("otlp", "token", "revoke", "--id", str(created["id"]))[0] == 0
    assert "\trevoked " in cli("otlp", "token", "list", "--org", "acme")[1]
    assert cli("otlp", "token", "create", "--org", "nobody")[0] == 2
    assert cli("otlp", "token", "create", "--org", "acme", "--format", "xml")[0] == 2
    assert cli("otlp", "token", "revoke", "--id", "999")[0] == 2


def test_receiver_defaults_and_refusals(cli):
    code, out, _ = cli("otlp", "--help")
    assert code == 0 and "[default: 127.0.0.1]" in out and "[default: 4318]" in out
    code, out, err = cli("otlp", "token", "create", "--org", "99999")
    assert (code, out) == (2, "") and "organization '99999' does not exist" in err and "Traceback" not in err
    code, _, err = cli("otlp", "--port", "70000")
    assert code == 2 and "--port 70000: expected 1-65535" in err


@pytest.fixture
def server():
    port = free_port()
    proc = Process([sys.executable, "-m", "cli", "otlp", "--port", str(port)], dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        assert wait_for(lambda: listening(port), 60), "".join(proc.lines)
        yield f"http://127.0.0.1:{port}/v1/traces", proc
    finally:
        proc.stop()


def test_the_command_receives_an_exporters_spans_until_its_token_is_revoked(cli, server):
    url, proc = server
    cli("org", "add", "--id", "acme", "--name", "Acme")
    created = json.loads(cli("otlp", "token", "create", "--org", "acme", "--format", "json")[1])
    exporter = OTLPSpanExporter(endpoint=url, headers={"Authorization": f"Bearer {created['token']}"})
    spans = make_spans([genai_attributes(input_tokens=100 * (i + 1)) for i in range(4)])
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    code, out, _ = cli("report", "--org", "acme", "--start", "2026-11-01", "--end", "2026-12-01", "--format", "json")
    assert json.loads(out)[0]["input_tokens"] == 1000 and json.loads(out)[0]["requests"] == 4
    cli("otlp", "token", "revoke", "--id", str(created["id"]))
    assert exporter.export(make_spans([genai_attributes()])) == SpanExportResult.FAILURE
    exporter.shutdown()
    code, out, _ = cli("report", "--org", "acme", "--start", "2026-11-01", "--end", "2026-12-01", "--format", "json")
    assert json.loads(out)[0]["requests"] == 4
    assert wait_for(lambda: proc.said("stored=4"), 10), "".join(proc.lines)


def workers_of(pid: int) -> list[int]:
    """The receiver processes uvicorn's supervisor `pid` started (not multiprocessing's resource tracker)."""
    with open(f"/proc/{pid}/task/{pid}/children") as fh:
        children = [int(p) for p in fh.read().split()]
    out = []
    for child in children:
        try:
            with open(f"/proc/{child}/cmdline", "rb") as fh:
                if b"spawn_main" in fh.read():
                    out.append(child)
        except FileNotFoundError:
            pass
    return out


def test_workers_share_the_port_and_store_every_span_once(cli):
    """--workers 2: two receiver processes behind one port (uvicorn's supervisor); batches sent at once
    by two exporters are each stored once, spread over both processes, and SIGTERM stops all."""
    cli("org", "add", "--id", "acme", "--name", "Acme")
    token = json.loads(cli("otlp", "token", "create", "--org", "acme", "--format", "json")[1])["token"]
    port = free_port()
    args = [sys.executable, "-m", "cli", "otlp", "--port", str(port), "--workers", "2"]
    proc = Process(args, dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        assert wait_for(lambda: listening(port) and len(workers_of(proc.proc.pid)) == 2, 60), "".join(proc.lines)
        workers = workers_of(proc.proc.pid)
        url = f"http://127.0.0.1:{port}/v1/traces"

        def send(first: int) -> None:
            exporter = OTLPSpanExporter(endpoint=url, headers={"Authorization": f"Bearer {token}"})
            for i in range(first, first + 10):
                spans = make_spans([genai_attributes(input_tokens=i + 1) for _ in range(5)])
                assert exporter.export(spans) == SpanExportResult.SUCCESS
            exporter.shutdown()

        threads = [threading.Thread(target=send, args=(first,)) for first in (0, 10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        out = cli("report", "--org", "acme", "--start", "2026-11-01", "--end", "2026-12-01", "--format", "json")[1]
        assert json.loads(out)[0]["requests"] == 100
        assert json.loads(out)[0]["input_tokens"] == 5 * sum(range(1, 21))
        assert wait_for(lambda: len([x for x in proc.lines if "stored=5 " in x]) == 20, 10), "".join(proc.lines)
        stored = [line for line in proc.lines if "stored=5 " in line]
        # each answer closes its connection, so the next batch goes to whichever process is free: both
        # took some (5-15 of the 20 in five runs; with keep-alive, one exporter stays on one process)
        assert {int(line.split("[", 1)[1].split("]", 1)[0]) for line in stored} == set(workers)
        answer = httpx.post(url, content=b"", headers={"Authorization": f"Bearer {token}", **PROTOBUF})
        assert answer.status_code == 200 and answer.headers["connection"] == "close"
    finally:
        proc.stop()
    assert proc.proc.returncode == 0
    assert not any(os.path.exists(f"/proc/{pid}") for pid in workers)
