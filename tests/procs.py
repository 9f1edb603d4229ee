"""Real child processes for tests (workers, dashboards) whose output is collected as it arrives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from tests.conftest import REPO


class Process:
    """A real child process whose output lines are collected as they arrive."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def said(self, words: str) -> bool:
        return any(words in line for line in list(self.lines))

    def leads(self) -> bool:
        return self.said("leader lock acquired")

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        self.proc.stdout.close()


def worker(env: dict[str, str] | None = None) -> Process:
    """`spendsight worker`, polling for the leader lock every 0.5 s unless `env` says otherwise."""
    env = dict(os.environ, SPENDSIGHT_WORKER_POLL_SECONDS="0.5", PYTHONUNBUFFERED="1") if env is None else env
    return Process([sys.executable, "-m", "cli", "worker"], env)


def wait_for(condition, seconds: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False
