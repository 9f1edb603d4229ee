"""Two workers on one database: one leads, the other stands by and takes over when the leader dies."""

import os
import signal
import subprocess
import sys
import threading
import time

from tests.conftest import REPO


class WorkerProcess:
    """A real `spendsight worker` process whose log lines are collected as they arrive."""

    def __init__(self) -> None:
        env = dict(os.environ, SPENDSIGHT_WORKER_POLL_SECONDS="0.5", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "cli", "worker"], cwd=REPO, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def leads(self) -> bool:
        return any("leader lock acquired" in line for line in self.lines)

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        self._reader.join(timeout=5)
        self.proc.stdout.close()


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_one_leader_and_takeover_after_the_leader_is_killed():
    first, second = WorkerProcess(), WorkerProcess()
    try:
        assert wait_for(lambda: first.leads() or second.leads(), 60), first.lines + second.lines
        time.sleep(2)  # give the standby several chances to (wrongly) take the lock too
        assert [first.leads(), second.leads()].count(True) == 1, first.lines + second.lines
        leader, standby = (first, second) if first.leads() else (second, first)
        leader.stop(signal.SIGKILL)  # no clean shutdown: the lock must go with the process
        assert wait_for(standby.leads, 30), standby.lines
    finally:
        first.stop()
        second.stop()
    assert any("worker stopped" in line for line in standby.lines)
