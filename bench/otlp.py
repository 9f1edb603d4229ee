"""OTLP receiver throughput: GenAI spans/s accepted by `spendsight otlp` against `spendsight ingest` of
the same usage as JSONL.

The usage is bench/gen.py's request log. The ingest side times the real command line on that file,
from process start to exit, into a fresh SQLite database (as bench/ingest.py does). The OTLP side
turns every line into the span an instrumentation would emit for that call (the GenAI semantic
conventions' attributes, plus the request attributes instrumentations commonly add), encodes them
in ExportTraceServiceRequests of 512 spans (the OTel SDK's BatchSpanProcessor default), and posts them
to a running `spendsight otlp --workers 2` (real processes on uvicorn, one per core as ingest uses
both cores; fresh SQLite database) over two keep-alive connections; the clock runs from the first
request to the last 200. Bodies are encoded beforehand, as the applications' processes do it, not
the receiver's. Best of three on both sides.

Usage: .venv/bin/python bench/otlp.py [N_SPANS] [--gzip]   (default 200000)
"""

from __future__ import annotations

# Imports inside functions here are the product's modules and heavy libraries, made only in the process
# that uses them and after this script has set the environment the settings read (SPENDSIGHT_DATA_DIR,
# DATABASE_URL); a parent that spawns and times children does not pay them (measured: models.tables
# 0.6 s to import, streamlit 0.34 s).
import gzip
import json
import os
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue  # noqa: E402

from bench.gen import write_jsonl  # noqa: E402

TRIALS = 3
BATCH = 512
CONNECTIONS = 2
WORKERS = 2  # receiver processes: one per core of the 2-core machine, as `spendsight ingest` uses both
SPENDSIGHT = [str(REPO / ".venv/bin/spendsight")]


def usage_of(path: Path) -> list[dict[str, object]]:
    """Each line's usage as ingest reads it (the same parser), as plain values."""
    import collectors.logs.ingest as logs
    from collectors.base import COL
    from collectors.logs.client import Lines, read_jsonl
    from models.pricing.catalog import get_catalog

    catalog, defaults = get_catalog(), logs.Defaults(org="bench")
    wanted = ("provider", "model", "project_id", "user_id", "service_tier", "request_id", "bucket_start")
    counts = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")
    out = []
    for item in read_jsonl(Lines(path), None):
        record = logs._to_record(item, "jsonl", defaults, catalog)
        out.append({name: record[COL[name]] for name in wanted + counts})
    return out


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def span_attributes(u: dict[str, object]) -> list[KeyValue]:
    attrs: list[tuple[str, object]] = [
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.provider.name", u["provider"] or "openai"),
        ("gen_ai.request.model", u["model"]),
        ("gen_ai.response.model", u["model"]),
        ("gen_ai.response.id", u["request_id"]),
        ("gen_ai.usage.input_tokens", u["input_tokens"]),
        ("gen_ai.usage.output_tokens", u["output_tokens"]),
        ("gen_ai.usage.cache_read.input_tokens", u["cached_input_tokens"]),
        ("gen_ai.usage.reasoning.output_tokens", u["reasoning_tokens"]),
        ("gen_ai.response.finish_reasons", "stop"),
        ("gen_ai.request.temperature", 0),
        ("server.address", "api.openai.com"),
        ("server.port", 443),
    ]
    if u["service_tier"]:
        attrs.append(("openai.response.service_tier", u["service_tier"]))
    if u["user_id"]:
        attrs.append(("enduser.id", u["user_id"]))
    return [_kv(k, v) for k, v in attrs]


def encode_batches(usage: list[dict[str, object]], compress: bool) -> list[bytes]:
    """ExportTraceServiceRequests of BATCH spans, one resource per project (service.name), serialized."""
    bodies = []
    for i in range(0, len(usage), BATCH):
        request = ExportTraceServiceRequest()
        by_project: dict[str, object] = {}
        for u in usage[i : i + BATCH]:
            project = str(u["project_id"])
            scope = by_project.get(project)
            if scope is None:
                rs = request.resource_spans.add()
                rs.resource.attributes.append(_kv("service.name", project or "bench-app"))
                scope = by_project[project] = rs.scope_spans.add()
                scope.scope.name = "opentelemetry.instrumentation.openai_v2"
            span = scope.spans.add()
            span.trace_id = secrets.token_bytes(16)
            span.span_id = secrets.token_bytes(8)
            span.name = f"chat {u['model']}"
            span.kind = 3  # CLIENT
            end = int(u["bucket_start"].timestamp() * 1e9)
            span.start_time_unix_nano = end - 800_000_000
            span.end_time_unix_nano = end
            span.attributes.extend(span_attributes(u))
        body = request.SerializeToString()
        bodies.append(gzip.compress(body, 6) if compress else body)
    return bodies


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(args: list[str], env: dict[str, str]) -> str:
    return subprocess.run(SPENDSIGHT + args, env=env, capture_output=True, text=True, check=True).stdout


def _cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a running process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree_cpu(pid: int) -> float:
    """CPU seconds a running process and its children (the receiver's worker processes) have used."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return _cpu(pid) + sum(_cpu(int(child)) for child in children)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def otlp_seconds(bodies: list[bytes], workdir: Path, compress: bool) -> tuple[float, float]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["SPENDSIGHT_DATA_DIR"] = str(workdir)
    run(["init"], env)
    run(["org", "add", "--id", "bench", "--name", "Bench"], env)
    token = json.loads(run(["otlp", "token", "create", "--org", "bench", "--format", "json"], env))["token"]
    port = free_port()
    server = subprocess.Popen(
        SPENDSIGHT + ["otlp", "--port", str(port), "--workers", str(WORKERS)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/v1/traces"
        headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {token}"}
        if compress:
            headers["Content-Encoding"] = "gzip"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.post(url, content=b"", headers=headers)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        # One worker answered; its sibling started at the same moment and imports the same modules, so
        # it is ready within a second or so of it: a few more keep the clock off anyone's start-up.
        time.sleep(3)
        queue = list(reversed(bodies))
        lock = threading.Lock()
        failures: list[str] = []

        def send() -> None:
            with httpx.Client(headers=headers, timeout=120) as client:
                while True:
                    with lock:
                        if not queue:
                            return
                        body = queue.pop()
                    response = client.post(url, content=body)
                    if response.status_code != 200 or response.content:
                        failures.append(f"{response.status_code} {response.content[:200]!r}")

        threads = [threading.Thread(target=send) for _ in range(CONNECTIONS)]
        cpu_before = _tree_cpu(server.pid)
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        cpu = _tree_cpu(server.pid) - cpu_before
        if failures:
            raise RuntimeError(f"{len(failures)} requests failed, e.g. {failures[0]}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    stored = _count(workdir)
    print(f"    otlp: {stored:,} spans stored in {elapsed:.2f} s, {cpu:.2f} CPU s in the receiver")
    return elapsed, cpu


def _count(workdir: Path) -> int:
    import sqlite3

    con = sqlite3.connect(workdir / "spendsight.db")
    try:
        return con.execute("SELECT COUNT(*) FROM usage").fetchone()[0]
    finally:
        con.close()


def ingest_seconds(path: Path, workdir: Path) -> tuple[float, float]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["SPENDSIGHT_DATA_DIR"] = str(workdir)
    run(["init"], env)
    cpu_before = _children_cpu()
    started = time.perf_counter()
    out = run(["ingest", str(path), "--org", "bench"], env)
    elapsed = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before  # the command and its parallel helpers, start-up included
    print("   ", out.strip().splitlines()[-1], f"in {elapsed:.2f} s, {cpu:.2f} CPU s")
    return elapsed, cpu


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    compress = "--gzip" in sys.argv
    n = int(args[0]) if args else 200_000
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = write_jsonl(tmp / "requests.jsonl", n)
        os.environ["SPENDSIGHT_DATA_DIR"] = str(tmp / "parse")
        usage = usage_of(path)
        bodies = encode_batches(usage, compress)
        size = sum(map(len, bodies))
        print(
            f"otlp: {n:,} spans in {len(bodies)} requests of {BATCH} ({size / 2**20:.0f} MiB"
            f"{', gzip' if compress else ''}), {CONNECTIONS} connections; ingest: the same usage as JSONL "
            f"({path.stat().st_size / 2**20:.0f} MiB); {os.cpu_count()} cores"
        )
        best_otlp = best_ingest = (float("inf"), float("inf"))
        for trial in range(TRIALS):
            best_ingest = min(best_ingest, ingest_seconds(path, tmp / f"ingest{trial}"))
            best_otlp = min(best_otlp, otlp_seconds(bodies, tmp / f"otlp{trial}", compress))
        otlp_rate, ingest_rate = n / best_otlp[0], n / best_ingest[0]
        print(
            f"    spendsight otlp:   {otlp_rate:,.0f} spans/s ({best_otlp[0]:.2f} s, first request to last answer;"
            f" {best_otlp[1] / n * 1e6:.1f} CPU us a span)"
        )
        print(
            f"    spendsight ingest: {ingest_rate:,.0f} rows/s ({best_ingest[0]:.2f} s, process start to exit;"
            f" {best_ingest[1] / n * 1e6:.1f} CPU us a row)"
        )
        print(f"RATIO otlp/ingest = {otlp_rate / ingest_rate:.2f} (target >= 0.50)")


if __name__ == "__main__":
    main()
