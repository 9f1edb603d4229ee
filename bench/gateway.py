"""What the gateway adds to a request, and how many it sustains, against a local upstream that answers at once.

Three processes on 127.0.0.1: the upstream (tests/llm_upstream.py on uvicorn), `spendsight gateway`
(SQLite in a throwaway data dir) and this load generator, whose client is a plain asyncio HTTP/1.1
keep-alive loop (an SDK client would spend more CPU than the gateway on this 2-core machine).

1. Latency at 50 concurrent clients, non-streaming chat: direct to the upstream, then through the
   gateway; the added latency is the difference of the percentiles.
2. Throughput: 50 clients through the gateway for 60 s; afterwards every answered request must be in
   `usage` exactly once. Gateway RSS sampled every 5 s.
3. Streaming: time to first byte of a chat stream, direct and through the gateway (one at a time).

Targets (issue 12): added p50 <= 2 ms, p99 <= 10 ms; >= 1,000 req/s for 60 s; TTFT delta <= 2 ms;
RSS flat. Ends with `RATIO gateway added-p50/2ms = x` (<= 1.00 meets it); the other figures are
printed above it. Not part of `make test`: `.venv/bin/python bench/gateway.py [seconds]`.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
UPSTREAM_KEY = "sk-proj-UPSTREAMSECRET-openai-0123456789abcdef"  # tests/llm_upstream.UPSTREAM_OPENAI_KEY
BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 8})
STREAM_BODY = json.dumps({**json.loads(BODY), "stream": True})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def request_bytes(path: str, body: str, key: str) -> bytes:
    raw = body.encode()
    return (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"authorization: Bearer {key}\r\ncontent-length: {len(raw)}\r\n\r\n"
    ).encode() + raw


async def read_response(reader: asyncio.StreamReader, first_byte: list[float] | None = None) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    if first_byte is not None:
        first_byte.append(time.perf_counter())
    status = int(head.split(b" ", 2)[1])
    headers = head.lower()
    if b"content-length:" in headers:
        length = int(headers.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        await reader.readexactly(length)
    else:  # chunked (a stream): until the last chunk
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def load(port: int, path: str, key: str, clients: int, seconds: float) -> tuple[list[float], int]:
    """`clients` keep-alive connections sending back to back; (latencies in s, errors)."""
    request = request_bytes(path, BODY, key)
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def one() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                writer.write(request)
                status = await read_response(reader)
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(one() for _ in range(clients)))
    return latencies, errors


async def ttfb(port: int, path: str, key: str, n: int) -> list[float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = request_bytes(path, STREAM_BODY, key)
    out = []
    for _ in range(n):
        first: list[float] = []
        t0 = time.perf_counter()
        writer.write(request)
        # first byte of the body: the headers, then the first chunk's size line
        await read_response_first_chunk(reader, first)
        out.append(first[0] - t0)
    writer.close()
    return out


async def read_response_first_chunk(reader: asyncio.StreamReader, first: list[float]) -> None:
    await reader.readuntil(b"\r\n\r\n")
    size = int((await reader.readuntil(b"\r\n")).strip(), 16)
    first.append(time.perf_counter())
    await reader.readexactly(size + 2)
    while size:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        await reader.readexactly(size + 2)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def usage_count(db: Path) -> tuple[int, int]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT request_id) FROM usage WHERE source = 'gateway'"
        ).fetchone()


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    data = Path(tempfile.mkdtemp(prefix="gw-bench-"))
    up_port, gw_port = free_port(), free_port()
    env = dict(
        os.environ,
        SPENDSIGHT_DATA_DIR=str(data),
        OPENAI_BENCH_KEY=UPSTREAM_KEY,
        SPENDSIGHT_ALLOWED_BASE_URLS=f"http://127.0.0.1:{up_port}/openai/v1",
        PYTHONPATH=str(REPO),
    )
    env.pop("DATABASE_URL", None)
    upstream = subprocess.Popen(
        [sys.executable, "-c", SERVE_UPSTREAM, str(up_port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    spendsight = str(BIN / "spendsight")
    try:
        measure(env, data, up_port, gw_port, spendsight, seconds)
    finally:
        upstream.terminate()
        upstream.wait(30)


def measure(env: dict[str, str], data: Path, up_port: int, gw_port: int, spendsight: str, seconds: float) -> None:
    run = lambda *a: subprocess.run([spendsight, *a], env=env, check=True, capture_output=True, text=True)  # noqa: E731
    run("init")
    run("org", "add", "--id", "bench", "--name", "Bench")
    run(
        "gateway",
        "upstream",
        "set",
        "--org",
        "bench",
        "--provider",
        "openai",
        "--key-env",
        "OPENAI_BENCH_KEY",
        "--base-url",
        f"http://127.0.0.1:{up_port}/openai/v1",
    )
    key = json.loads(run("gateway", "key", "create", "--org", "bench", "--format", "json").stdout)["key"]
    gateway = subprocess.Popen(
        [spendsight, "gateway", "--port", str(gw_port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_port(up_port)
        wait_port(gw_port)
        time.sleep(2)
        asyncio.run(load(gw_port, "/openai/v1/chat/completions", key, 50, 3))  # warm up both
        asyncio.run(load(up_port, "/openai/v1/chat/completions", UPSTREAM_KEY, 50, 3))
        direct, _ = asyncio.run(load(up_port, "/openai/v1/chat/completions", UPSTREAM_KEY, 50, 10))
        via, _ = asyncio.run(load(gw_port, "/openai/v1/chat/completions", key, 50, 10))
        d50, d99, g50, g99 = pct(direct, 50), pct(direct, 99), pct(via, 50), pct(via, 99)
        print(
            f"latency, 50 clients: direct p50 {d50 * 1e3:.2f} ms p99 {d99 * 1e3:.2f} ms "
            f"({len(direct) / 10:.0f} req/s); "
            f"gateway p50 {g50 * 1e3:.2f} ms p99 {g99 * 1e3:.2f} ms ({len(via) / 10:.0f} req/s)"
        )
        added50, added99 = (g50 - d50) * 1e3, (g99 - d99) * 1e3
        print(f"added latency: p50 {added50:.2f} ms (target <= 2), p99 {added99:.2f} ms (target <= 10)")

        time.sleep(3)
        before = usage_count(data / "spendsight.db")[0]
        rss = [rss_mb(gateway.pid)]
        done: list[float] = []

        async def sustained() -> tuple[list[float], int]:
            async def sample() -> None:
                while True:
                    await asyncio.sleep(5)
                    rss.append(rss_mb(gateway.pid))

            sampler = asyncio.ensure_future(sample())
            try:
                return await load(gw_port, "/openai/v1/chat/completions", key, 50, seconds)
            finally:
                sampler.cancel()

        done, errors = asyncio.run(sustained())
        time.sleep(3)  # the last batches
        rows, distinct = usage_count(data / "spendsight.db")
        recorded = rows - before
        rate = len(done) / seconds
        print(
            f"sustained {seconds:.0f} s: {len(done)} requests, {rate:.0f} req/s (target >= 1000), {errors} errors; "
            f"recorded {recorded} new usage rows, {rows - distinct} duplicates "
            f"({'every request exactly once' if recorded == len(done) and rows == distinct else 'MISMATCH'})"
        )
        print(
            f"gateway RSS MB every 5 s: {' '.join(f'{r:.0f}' for r in rss)} "
            f"(first-after-warm-up {rss[1] if len(rss) > 1 else rss[0]:.0f}, end {rss[-1]:.0f})"
        )

        try:
            direct_ttfb = asyncio.run(ttfb(up_port, "/openai/v1/chat/completions", UPSTREAM_KEY, 300))
            via_ttfb = asyncio.run(ttfb(gw_port, "/openai/v1/chat/completions", key, 300))
        except (OSError, asyncio.IncompleteReadError) as exc:
            print(f"stream time to first byte: not measured ({type(exc).__name__})")
            direct_ttfb = via_ttfb = [0.0]
        delta = (pct(via_ttfb, 50) - pct(direct_ttfb, 50)) * 1e3
        print(
            f"stream time to first byte p50: direct {pct(direct_ttfb, 50) * 1e3:.2f} ms, gateway "
            f"{pct(via_ttfb, 50) * 1e3:.2f} ms, added {delta:.2f} ms (target <= 2)"
        )
        print(
            f"RATIO gateway added-p50/2ms = {added50 / 2:.2f} (target <= 1.00); "
            f"throughput/1000 = {rate / 1000:.2f} (target >= 1.00)"
        )
    finally:
        gateway.terminate()
        gateway.wait(30)


SERVE_UPSTREAM = """
import sys, uvicorn
from tests.llm_upstream import Upstream
app = Upstream()
app.record = False
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""

if __name__ == "__main__":
    main()
