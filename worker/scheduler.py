"""The worker: APScheduler jobs, run only by the one process holding the per-database leader lock."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Connection, text

from models.db import get_engine, private_dir, private_file
from models.settings import get_settings

log = logging.getLogger("spendsight.worker")
LOCK_KEY = 0x5BE7D5  # PostgreSQL advisory-lock key shared by every Spendsight worker


class LeaderLock:
    """At most one worker per database acts: an advisory lock on PostgreSQL, a lock file on SQLite."""

    def __init__(self) -> None:
        self._conn: Connection | None = None
        self._fh: TextIO | None = None

    def try_acquire(self) -> bool:
        engine = get_engine()
        if engine.dialect.name == "postgresql":
            if self._conn is None:
                self._conn = engine.connect()
            got = self._conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar()
            self._conn.commit()
            if not got:
                self._conn.close()
                self._conn = None
            return bool(got)
        path = Path(get_settings().data_dir) / "worker.lock"
        private_dir(path.parent)
        fh = private_file(path).open("a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh
        return True

    def held(self) -> bool:
        """Still the leader? (A dropped PostgreSQL connection loses the lock.)"""
        if self._fh is not None:
            return True
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
            return True
        except Exception:  # the connection died, and the lock with it
            self._conn = None
            return False

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                self._conn.commit()
                self._conn.close()
            except Exception:
                log.warning("could not release the advisory lock cleanly; it goes with the connection")
            self._conn = None
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


class Job:
    """A named periodic function, with its last run and last error kept for the Sources page."""

    def __init__(self, name: str, func: Callable[[], object], seconds: int) -> None:
        self.name, self.func, self.seconds = name, func, seconds
        self.last_run: datetime | None = None
        self.last_error: str | None = None

    def __call__(self) -> None:
        self.last_run = datetime.now(UTC)
        try:
            self.func()
            self.last_error = None
        except Exception as exc:  # a failing job must not kill the worker; it is logged and kept
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("job %s failed", self.name)


class Worker:
    """Start/stop wrapper: refuses a second start, waits as standby until it holds the leader lock."""

    def __init__(self, jobs: list[Job] | Callable[[], list[Job]]) -> None:
        self.jobs = jobs  # or a function making them, called when this worker becomes the leader
        self.lock = LeaderLock()
        self.scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.is_leader = False
        self.last_error: str | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("worker already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="spendsight-worker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.is_leader and self.lock.try_acquire():
                    self.is_leader = True
                    log.info("leader lock acquired; running jobs")
                    self._start_scheduler()
                elif self.is_leader and not self.lock.held():
                    log.warning("leader lock lost; back to standby")
                    self._stop_scheduler()
                    self.is_leader = False
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("worker loop error")
            self._stop.wait(get_settings().worker.poll_seconds)

    def _start_scheduler(self) -> None:
        jobs = self.jobs() if callable(self.jobs) else self.jobs
        self.jobs = jobs
        scheduler = BackgroundScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}
        )
        for job in jobs:
            scheduler.add_job(
                job, "interval", seconds=job.seconds, id=job.name, name=job.name, next_run_time=datetime.now(UTC)
            )
        scheduler.start()
        self.scheduler = scheduler

    def _stop_scheduler(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self._stop_scheduler()
        if self.is_leader:
            self.lock.release()
            self.is_leader = False
