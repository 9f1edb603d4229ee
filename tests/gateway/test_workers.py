"""`spendsight gateway --workers 2`: two processes serving one port, each a replica on the one database.

Every request is recorded exactly once, and once the hard limit is reached every worker rejects within
5 s (each learns the other's spend from the database at its refresh)."""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import httpx

from models.access.roles import Actor
from models.budgets.limits import set_limit
from models.settings import get_settings
from tests.gateway.conftest import ORG, answers_healthz, usage_rows
from tests.gateway.test_enforcement import _recorded_micros
from tests.procs import Process, wait_for
from tests.smtp import free_port

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 20}


def _workers(pid: int) -> list[int]:
    """The supervisor's worker processes (multiprocessing also starts a resource tracker: not a worker)."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            if "resource_tracker" not in Path(f"/proc/{child}/cmdline").read_text():
                out.append(int(child))
    return out


def _holds_connection_to(pid: int, port: int) -> bool:
    """Whether the process owns an established TCP connection to 127.0.0.1:port (its upstream pool)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[2].split(":")[1], 16) == port and fields[3] == "01":
            inodes.add(fields[9])
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


def test_two_workers_record_each_request_once_and_both_reject_after_the_hard_limit(key, upstream):
    port = free_port()
    proc = Process(
        [sys.executable, "-m", "cli", "gateway", "--port", str(port), "--workers", "2"],
        dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}

    def post() -> httpx.Response:  # a new connection each time, so the kernel hands them to either worker
        return httpx.post(f"{base}/openai/v1/chat/completions", json=BODY, headers=headers, timeout=30)

    try:
        assert wait_for(lambda: answers_healthz(base), 90), proc.lines
        assert wait_for(lambda: len(_workers(proc.proc.pid)) == 2, 30), proc.lines
        workers = _workers(proc.proc.pid)
        ids: list[str] = []
        with ThreadPoolExecutor(8) as pool:
            for _ in range(10):  # until both workers have forwarded (each then holds an upstream connection)
                answers = list(pool.map(lambda _: post(), range(40)))
                assert [a.status_code for a in answers] == [200] * 40
                ids += [a.json()["id"] for a in answers]
                if all(_holds_connection_to(w, upstream.port) for w in workers):
                    break
        assert all(_holds_connection_to(w, upstream.port) for w in workers), "one worker served everything"
        assert len(set(ids)) == len(ids)
        assert wait_for(lambda: len(usage_rows()) == len(ids), 10)
        assert sorted(r["request_id"] for r in usage_rows()) == sorted(ids)  # each exactly once

        # A hard limit three requests above what is recorded (every request here costs the same): the
        # limit is reached when the third of them has been answered, and from at most 5 s later every
        # request is rejected, by whichever worker its connection lands on.
        each = _recorded_micros() // len(ids)
        set_limit(Actor.cli(), ORG, hard=Decimal(_recorded_micros() + 3 * each) / 1_000_000)
        time.sleep(1.5)  # both workers have read the limit (refresh every 0.3 s in these tests)
        accepted = 0
        reached = None
        while reached is None:
            answer = post()
            if answer.status_code == 200:
                ids.append(answer.json()["id"])
                accepted += 1
                if accepted == 3:
                    reached = time.monotonic()
            else:  # a worker may count the cost in a little before (per-request costs are rounded up)
                assert answer.status_code == 429
                reached = time.monotonic()
        all_rejected_at = None
        with ThreadPoolExecutor(8) as pool:
            while all_rejected_at is None and time.monotonic() - reached < 15:
                started = time.monotonic()
                batch = list(pool.map(lambda _: post(), range(40)))
                for answer in batch:
                    if answer.status_code == 200:
                        ids.append(answer.json()["id"])
                    else:
                        assert answer.status_code == 429
                        assert answer.json()["error"]["code"] == "hard_limit_reached"
                if all(a.status_code == 429 for a in batch):
                    all_rejected_at = started
        assert all_rejected_at is not None and all_rejected_at - reached <= 5
        assert wait_for(lambda: len(usage_rows()) == len(ids), 10)
        assert sorted(r["request_id"] for r in usage_rows()) == sorted(ids)
    finally:
        proc.stop()
    assert proc.proc.returncode == 0, proc.lines
    # Each worker flushed its queue on the way out and removed its (empty) journal.
    if not os.environ.get("DATABASE_URL"):
        assert not list(get_settings().data_dir.glob("gateway-journal-*"))
