"""Separate evaluator processes started at the same instant still send each alert once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from models.access.roles import Actor
from models.budgets.limits import set_limit
from tests.conftest import REPO
from tests.factories import add_usage, make_org, usage

RACER = """
import sys, time
start = float(sys.argv[1])
import alerts
from models.schema import init_db
init_db()
time.sleep(max(0.0, start - time.time()))
report = alerts.run_once()
print(len(report.events), report.delivery.sent, report.delivery.retrying, report.delivery.failed)
"""


@pytest.mark.postgres_only  # the in-process race in test_alerts.py covers SQLite; this one is the slow, real one
def test_four_processes_racing_send_each_alert_once(smtp):
    now = datetime.now(UTC) - timedelta(minutes=10)
    for n in range(3):
        org = f"org-{n}"
        make_org(org, name=f"Race {n}", owners=(f"a{n}@example.com", f"b{n}@example.com"))
        set_limit(Actor.cli(), org, soft=10, thresholds="50,80")
        add_usage(usage(org, now, model="gpt-4o", input_tokens=3_600_000))  # $9: 90% of the soft limit
    start = time.time() + 4  # every process has imported and connected by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(start)],
            cwd=REPO,
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append([int(x) for x in out.split()])
    assert sum(r[0] for r in results) == 6  # 3 orgs x (80% fired + 50% superseded), each recorded by one process
    assert sum(r[1] for r in results) == 6 and all(r[2] == r[3] == 0 for r in results)
    for n in range(3):
        for who in ("a", "b"):
            subjects = [str(m["Subject"]) for m in smtp.messages_to(f"{who}{n}@example.com")]
            assert subjects == [f"[Spendsight] Race {n}: 80% of the soft limit reached ($9.00 of $10.00)"]
    assert len(smtp.received) == 6
