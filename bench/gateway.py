"""What the gateway adds to a request, and how many it sustains, against a local upstream that answers at once.

Three processes on 127.0.0.1: the upstream (tests/llm_upstream.py on uvicorn), `spendsight gateway`
(SQLite in a throwaway data dir) and this load generator, whose client is a plain asyncio HTTP/1.1
keep-alive loop on uvloop (an SDK client would spend more CPU than the gateway on this 2-core machine).

1. Added latency, open loop: 50 keep-alive connections send at a fixed total rate (500, then 1,000
   req/s), direct to the upstream and then through the gateway. Each request has an intended send
   time on a fixed schedule and its latency is counted from that time (so a request that has to wait
   for its connection's previous answer, or for a busy client, is counted late rather than dropped:
   no coordinated omission); the time from the actual send is printed too. The added latency is the
   difference of the percentiles, gateway minus direct, at the same rate.
   With a closed loop (each client sends again as soon as it has its answer) 50 clients keep 50
   requests in flight whatever the rate, so by Little's law the latency is 50 / throughput: it
   measures saturation, not what the gateway adds. That figure is printed too ("saturated").
2. Sustained, open loop: 1,000 req/s on the same fixed schedule through the gateway for `seconds`
   (60), after a 5 s warm-up at that rate; afterwards (once the queue is written) every answered
   request must be in `usage` exactly once. The gateway's RSS is sampled every 5 s and at the end; it
   is flat when it grows by <= 10 MB and <= 5 % from the 10 s sample to the end.
3. Maximum throughput, closed loop: 50 clients through the gateway for `seconds`, back to back: the
   rate the gateway reaches at saturation, with the same exactly-once check and RSS samples.
4. Streaming: time to first byte of a chat stream, direct and through the gateway (one at a time).

Targets (issue 12): added p50 <= 2 ms, p99 <= 10 ms at 50 clients; >= 1,000 req/s for 60 s; TTFT
delta <= 2 ms; RSS flat. Ends with a RATIO line (each <= 1.00, or >= 1.00 for throughput, meets it;
RSS growth over 10 MB, at 1,000 req/s and at saturation).
Not part of `make test`: `nice -n -10 .venv/bin/python bench/gateway.py [seconds] [--workers N]`
(a raised priority keeps other work on a shared machine from landing in the figures; children inherit it).
"""

from __future__ import annotations

# Imports inside functions here are the product's modules and heavy libraries, made only in the process
# that uses them and after this script has set the environment the settings read (SPENDSIGHT_DATA_DIR,
# DATABASE_URL); a parent that spawns and times children does not pay them (measured: models.tables
# 0.6 s to import, streamlit 0.34 s).
import argparse
import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
UPSTREAM_KEY = "sk-proj-UPSTREAMSECRET-openai-0123456789abcdef"  # tests/llm_upstream.UPSTREAM_OPENAI_KEY
BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 8})
STREAM_BODY = json.dumps({**json.loads(BODY), "stream": True})
RATES = (500.0, 1000.0)  # the open loop's total offered rates, req/s
SUSTAINED_RATE = 1000.0  # the sustained open-loop run's rate (issue 12: >= 1,000 req/s for 60 s)
RSS_EVERY = 5.0  # seconds between RSS samples
# RSS counts as flat when it grows by at most this much from the 10 s sample (after the warm-up) to the end.
RSS_FLAT_MB = 10.0
RSS_FLAT_SHARE = 5.0


def run_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop (installed with uvicorn[standard]): the load generator's own CPU stays small."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


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


def tree(pid: int) -> list[int]:
    """The process and its descendants (the gateway's workers, with --workers)."""
    out = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            out += tree(int(child))
    return out


def rss_mb(pid: int) -> float:
    """Resident memory of the process tree."""
    total = 0.0
    for p in tree(pid):
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process tree so far."""
    ticks = 0
    for p in tree(pid):
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


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


async def paced(
    port: int, path: str, key: str, clients: int, rate: float, seconds: float
) -> tuple[list[float], list[float], int, int]:
    """Open loop: `clients` keep-alive connections, together sending `rate` requests/s on a fixed
    schedule (each connection every clients/rate s, staggered). Returns (latency from the intended
    send time, latency from the actual send, requests sent more than 1 ms behind schedule, errors)."""
    request = request_bytes(path, BODY, key)
    interval = clients / rate
    intended: list[float] = []
    actual: list[float] = []
    late = errors = 0
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(clients)]
    start = time.perf_counter() + 0.05
    end = start + seconds

    async def one(k: int) -> None:
        nonlocal late, errors
        reader, writer = connections[k]
        due = start + k * interval / clients
        try:
            while due < end:
                now = time.perf_counter()
                if due > now:
                    await asyncio.sleep(due - now)
                sent = time.perf_counter()
                if sent - due > 0.001:
                    late += 1
                writer.write(request)
                status = await read_response(reader)
                done = time.perf_counter()
                intended.append(done - due)
                actual.append(done - sent)
                if status != 200:
                    errors += 1
                due += interval
        finally:
            writer.close()

    await asyncio.gather(*(one(k) for k in range(clients)))
    return intended, actual, late, errors


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


async def sampled(pid: int, rss: list[float], work: Coroutine[Any, Any, T]) -> T:
    """Run `work`, sampling the gateway's RSS at the start, every 5 s, and at the end."""

    async def sample() -> None:
        while True:
            rss.append(rss_mb(pid))
            await asyncio.sleep(RSS_EVERY)

    sampler = asyncio.ensure_future(sample())
    try:
        return await work
    finally:
        sampler.cancel()
        rss.append(rss_mb(pid))


def print_rss(name: str, rss: list[float]) -> float:
    """Print the samples and whether RSS stayed flat from the 10 s sample (after the warm-up) to the
    end; returns that growth in MB."""
    base = rss[min(2, len(rss) - 1)]
    growth = rss[-1] - base
    share = growth / base * 100
    flat = growth <= RSS_FLAT_MB and share <= RSS_FLAT_SHARE
    print(
        f"gateway RSS MB every {RSS_EVERY:.0f} s ({name}; the last at the end): {' '.join(f'{r:.0f}' for r in rss)}; "
        f"from the 10 s sample to the end {growth:+.1f} MB ({share:+.1f}%): "
        f"{'flat' if flat else 'NOT flat'} (flat: <= {RSS_FLAT_MB:.0f} MB and <= {RSS_FLAT_SHARE:.0f}%)"
    )
    return growth


def settled(db: Path) -> int:
    """Usage rows once the count has stopped changing (what an earlier phase queued is written)."""
    last, rows = -1, usage_count(db)[0]
    deadline = time.monotonic() + 180
    while rows != last and time.monotonic() < deadline:
        time.sleep(1.5)
        last, rows = rows, usage_count(db)[0]
    return rows


def wait_recorded(db: Path, expected: int, seconds: float) -> tuple[tuple[int, int], float]:
    """(rows, distinct request ids) once `expected` rows are in (or `seconds` have passed), and how long
    that took."""
    started = time.monotonic()
    counts = usage_count(db)
    while counts[0] < expected and time.monotonic() - started < seconds:
        time.sleep(0.5)
        counts = usage_count(db)
    return counts, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description="bench/gateway.py: the gateway against a local upstream")
    parser.add_argument("seconds", nargs="?", type=float, default=60.0, help="sustained run length")
    parser.add_argument("--workers", type=int, default=1, help="gateway worker processes")
    args = parser.parse_args()
    seconds = args.seconds
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
        measure(env, data, up_port, gw_port, spendsight, seconds, args.workers)
    finally:
        upstream.terminate()
        upstream.wait(30)


def measure(
    env: dict[str, str], data: Path, up_port: int, gw_port: int, spendsight: str, seconds: float, workers: int
) -> None:
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
    command = [spendsight, "gateway", "--port", str(gw_port)] + (["--workers", str(workers)] if workers > 1 else [])
    gateway = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"gateway workers: {workers}; load average before: {os.getloadavg()[0]:.2f} (1 min)")
    try:
        wait_port(up_port)
        wait_port(gw_port)
        time.sleep(2)
        chat = "/openai/v1/chat/completions"
        run_loop(load(gw_port, chat, key, 50, 3))  # warm up both
        run_loop(load(up_port, chat, UPSTREAM_KEY, 50, 3))
        added: dict[float, tuple[float, float]] = {}
        for rate in RATES:
            row = {}
            for name, port, token in (("direct", up_port, UPSTREAM_KEY), ("gateway", gw_port, key)):
                run_loop(paced(port, chat, token, 50, rate, 2))  # settle at this rate
                intended, actual, late, errors = run_loop(paced(port, chat, token, 50, rate, 10))
                row[name] = (pct(intended, 50), pct(intended, 99))
                print(
                    f"open loop {rate:.0f} req/s, 50 clients, {name}: p50 {pct(intended, 50) * 1e3:.2f} ms "
                    f"p99 {pct(intended, 99) * 1e3:.2f} ms from the intended send time "
                    f"(from the actual send: p50 {pct(actual, 50) * 1e3:.2f} ms p99 {pct(actual, 99) * 1e3:.2f} ms); "
                    f"{len(intended) / 10:.0f} req/s answered, {late / len(intended) * 100:.1f}% sent > 1 ms late, "
                    f"{errors} errors"
                )
            a50, a99 = (row["gateway"][0] - row["direct"][0]) * 1e3, (row["gateway"][1] - row["direct"][1]) * 1e3
            added[rate] = (a50, a99)
            print(f"added latency at {rate:.0f} req/s: p50 {a50:.2f} ms (target <= 2), p99 {a99:.2f} ms (target <= 10)")
        direct, _ = run_loop(load(up_port, chat, UPSTREAM_KEY, 50, 10))
        db = data / "spendsight.db"

        # Sustained, open loop: the target's >= 1,000 req/s for 60 s, every request recorded once, RSS
        # flat, at that rate (a closed loop would measure saturation instead: see the next run).
        run_loop(paced(gw_port, chat, key, 50, SUSTAINED_RATE, 5))  # warm up at this rate
        before = settled(db)
        rss: list[float] = []
        cpu_before = cpu_seconds(gateway.pid)
        t0 = time.perf_counter()
        intended, _actual, late, errors = run_loop(
            sampled(gateway.pid, rss, paced(gw_port, chat, key, 50, SUSTAINED_RATE, seconds))
        )
        elapsed = time.perf_counter() - t0
        cpu = cpu_seconds(gateway.pid) - cpu_before
        (rows, distinct), drained = wait_recorded(db, before + len(intended), 180.0)
        paced_rate = len(intended) / max(seconds, elapsed)
        once = rows - before == len(intended) and rows == distinct
        print(
            f"sustained, open loop {SUSTAINED_RATE:.0f} req/s for {seconds:.0f} s: {len(intended)} requests answered "
            f"in {elapsed:.1f} s ({paced_rate:.0f} req/s, target >= 1000), "
            f"{late / len(intended) * 100:.1f}% sent > 1 ms late, p50 {pct(intended, 50) * 1e3:.2f} ms "
            f"p99 {pct(intended, 99) * 1e3:.2f} ms from the intended send time, {errors} errors; "
            f"recorded {rows - before} new usage rows, {rows - distinct} duplicates "
            f"({'every request exactly once' if once else 'MISMATCH'}); gateway CPU "
            f"{cpu / max(1, len(intended)) * 1e3:.3f} ms per request; the last record written {drained:.1f} s after"
        )
        paced_growth = print_rss("open loop", rss)

        # Maximum throughput, closed loop: 50 clients back to back (the saturation the gateway reaches).
        before = settled(db)
        rss = []
        cpu_before = cpu_seconds(gateway.pid)
        done, errors = run_loop(sampled(gateway.pid, rss, load(gw_port, chat, key, 50, seconds)))
        cpu = cpu_seconds(gateway.pid) - cpu_before
        # Above what the writer keeps up with, records wait (bounded: in the queue, then the journal
        # file) and are written after the load ends: wait for them, and say how long that took.
        (rows, distinct), drained = wait_recorded(db, before + len(done), 180.0)
        recorded = rows - before
        rate = len(done) / seconds
        print(
            f"maximum, closed loop 50 clients for {seconds:.0f} s: {len(done)} requests, {rate:.0f} req/s "
            f"(target >= 1000), {errors} errors; recorded {recorded} new usage rows, {rows - distinct} duplicates "
            f"({'every request exactly once' if recorded == len(done) and rows == distinct else 'MISMATCH'}); "
            f"gateway CPU {cpu / max(1, len(done)) * 1e3:.3f} ms per request; "
            f"the last record written {drained:.1f} s after the load ended"
        )
        print(
            f"saturated (closed loop, 50 clients, Little's law: latency = 50 / rate): direct p50 "
            f"{pct(direct, 50) * 1e3:.2f} ms p99 {pct(direct, 99) * 1e3:.2f} ms ({len(direct) / 10:.0f} req/s); "
            f"gateway p50 {pct(done, 50) * 1e3:.2f} ms p99 {pct(done, 99) * 1e3:.2f} ms ({rate:.0f} req/s)"
        )
        max_growth = print_rss("closed loop", rss)

        try:
            direct_ttfb = run_loop(ttfb(up_port, chat, UPSTREAM_KEY, 300))
            via_ttfb = run_loop(ttfb(gw_port, chat, key, 300))
        except (OSError, asyncio.IncompleteReadError) as exc:
            print(f"stream time to first byte: not measured ({type(exc).__name__})")
            direct_ttfb = via_ttfb = [0.0]
        delta = (pct(via_ttfb, 50) - pct(direct_ttfb, 50)) * 1e3
        print(
            f"stream time to first byte p50: direct {pct(direct_ttfb, 50) * 1e3:.2f} ms, gateway "
            f"{pct(via_ttfb, 50) * 1e3:.2f} ms, added {delta:.2f} ms (target <= 2)"
        )
        a50, a99 = added[RATES[-1]]
        print(f"load average after: {os.getloadavg()[0]:.2f} (1 min)")
        print(
            f"RATIO gateway added-p50/2ms = {a50 / 2:.2f}, added-p99/10ms = {a99 / 10:.2f} "
            f"(open loop {RATES[-1]:.0f} req/s; target <= 1.00); throughput/1000 = {rate / 1000:.2f} "
            f"(closed loop, target >= 1.00); ttft-added/2ms = {delta / 2:.2f} (target <= 1.00); "
            f"rss-growth/{RSS_FLAT_MB:.0f}MB = {paced_growth / RSS_FLAT_MB:.2f} (open loop {SUSTAINED_RATE:.0f} req/s; "
            f"target <= 1.00), at saturation {max_growth / RSS_FLAT_MB:.2f} (closed loop)"
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
