"""Usage and rejections written off the request path: a bounded queue flushed in batches at least every
`flush_seconds`; when the database cannot be reached a batch goes to a journal file (fsync) in the data
dir and is replayed once it can, also by the next gateway started on that data dir. Writes are
idempotent by (org, provider request id), so a replay never counts a request twice.

Journal entries hold counts and ids only: prompt and completion text never reach it (nor the database).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from sqlalchemy import Connection, Engine, bindparam, text

from collectors.base import (
    COL,
    blank_record,
    hourly_sums,
    insert_prepared,
    mark_hours_dirty,
    prepare_records,
)
from gateway.metrics import Metrics
from gateway.state import GatewayState
from models.db import insert_for, sqlite_writer_lock, table_of
from models.gateway import settle
from models.spend.rollups import add_increments, process_dirty
from models.tables import USAGE_COUNTERS, GatewayRejection

log = logging.getLogger("spendsight.gateway")
Item = dict[str, Any]
JOURNAL_GLOB = "gateway-journal-*.jsonl"
_ROW_FIELDS = (
    "org_id",
    "provider",
    "project_id",
    "api_key_id",
    "user_id",
    "model",
    "service_tier",
    "context_band",
    "source",
    "kind",
    "request_id",
)


def _record(row: dict[str, Any]) -> list[Any]:
    record = blank_record()
    for name in _ROW_FIELDS:
        record[COL[name]] = row[name]
    for name in USAGE_COUNTERS:
        record[COL[name]] = int(row.get(name, 0))
    record[COL["batch"]] = False
    record[COL["bucket_width"]] = 0
    start = row["bucket_start"]
    record[COL["bucket_start"]] = datetime.fromisoformat(start) if isinstance(start, str) else start
    return record


def write_items(engine: Engine, items: list[Item]) -> None:
    """One transaction: new usage rows with their rollups and strict settlements, releases, rejections."""
    usage = [i for i in items if i["kind"] == "usage"]
    releases = [i for i in items if i["kind"] == "release"]
    rejections = [i["row"] for i in items if i["kind"] == "rejection"]
    dirty: list[int] = []
    with sqlite_writer_lock(engine), engine.begin() as conn:
        new = _new_usage(conn, usage)
        if new:
            records = [_record(i["row"]) for i in new]
            sums = hourly_sums(records)
            inserted = insert_prepared(conn, prepare_records(conn.dialect.name, records))
            if inserted == len(records):
                add_increments(conn, sums)
            else:  # another replica wrote some of them just now: rebuild those hours
                dirty = mark_hours_dirty(conn, sums)
        for item in [*new, *releases]:
            for org_id, project_id, period, reserved in item.get("strict", ()):
                settle(conn, org_id, project_id, period, reserved, item["cost"])
        if rejections:
            insert = insert_for(conn, table_of(GatewayRejection)).on_conflict_do_nothing()
            conn.execute(
                insert,
                [
                    {**r, "at": datetime.fromisoformat(r["at"]) if isinstance(r["at"], str) else r["at"]}
                    for r in rejections
                ],
            )
    if dirty:
        process_dirty(ids=dirty)


_IDS = 500  # request ids per lookup of those already stored


def _new_usage(conn: Connection, usage: list[Item]) -> list[Item]:
    """Usage items whose request id is not stored yet (nor repeated earlier in this batch)."""
    by_org: dict[str, list[Item]] = {}
    for item in usage:
        by_org.setdefault(item["row"]["org_id"], []).append(item)
    out = []
    query = text("SELECT request_id FROM usage WHERE org_id = :org AND request_id IN :ids").bindparams(
        bindparam("ids", expanding=True)
    )
    for org_id, items in by_org.items():
        seen: set[str] = set()
        for i in range(0, len(items), _IDS):
            ids = [it["row"]["request_id"] for it in items[i : i + _IDS]]
            # Always _IDS ids (the last repeated): each length is its own statement text, which the
            # driver prepares and caches, so varying batch sizes grew the gateway's memory for minutes.
            ids += [ids[-1]] * (_IDS - len(ids))
            seen.update(r[0] for r in conn.execute(query, {"org": org_id, "ids": ids}))
        for item in items:
            rid = item["row"]["request_id"]
            if rid not in seen:
                seen.add(rid)
                out.append(item)
    return out


def _scopes(item: Item) -> list[tuple[str, str]]:
    return [(s[0], s[1]) for s in item.get("scopes", ())]


class Recorder:
    def __init__(
        self,
        engine: Engine,
        state: GatewayState,
        metrics: Metrics,
        data_dir: Path,
        flush_seconds: float,
        queue_size: int,
        batch_size: int,
    ) -> None:
        self.engine = engine
        self.state = state
        self.metrics = metrics
        self.flush_seconds = flush_seconds
        self.batch_size = batch_size
        self.queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=queue_size)
        # The writer starts early when this many are waiting (a burst would otherwise overflow a small
        # queue into the journal while the writer sleeps out its interval).
        self._wake_at = max(1, min(batch_size, queue_size // 2))
        self._wake = asyncio.Event()
        self.data_dir = data_dir
        self.journal_path = data_dir / f"gateway-journal-{socket.gethostname()}-{os.getpid()}.jsonl"
        self._journal: BinaryIO | None = None
        # Appends come from the event loop (a full queue) while a replay runs in a thread: the replay
        # must drop only the lines it wrote, never one appended meanwhile.
        self._journal_lock = threading.Lock()
        self._unsynced = False  # lines the event loop appended and the writer has not fsynced yet
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.db_ok = True

    # --- the request path ------------------------------------------------------------------------

    def submit(self, item: Item) -> None:
        """Queue a record (never blocks the response): counted as pending spend at once."""
        self.state.add_pending(_scopes(item), item.get("cost", 0) if item["kind"] == "usage" else 0)
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:  # the writer is far behind: keep it on disk instead of in memory
            self._overflow(item)
        depth = self.queue.qsize()
        self.metrics.queue_depth.set(depth)
        if depth >= self._wake_at and not self._wake.is_set():
            self._wake.set()

    def _overflow(self, item: Item) -> None:
        """Append to the journal without waiting for the disk: fsync is the writer's (a record in the
        page cache survives the gateway crashing, as one in the queue would not)."""
        line = orjson.dumps(item, default=str) + b"\n"
        with self._journal_lock:
            assert self._journal is not None
            self._journal.write(line)
            self._journal.flush()
            self._unsynced = True
        self.metrics.journal_bytes.inc(len(line))

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Our own journal, locked for our lifetime: a journal nobody holds is a stopped gateway's.
        self._journal = open(self.journal_path, "ab")  # noqa: SIM115 (held open)
        fcntl.flock(self._journal, fcntl.LOCK_EX | fcntl.LOCK_NB)
        await asyncio.to_thread(self.replay)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Graceful shutdown: everything queued is written (or journaled) before this returns."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        if self._journal is not None:
            self._sync_journal()
            empty = os.path.getsize(self.journal_path) == 0
            fcntl.flock(self._journal, fcntl.LOCK_UN)
            self._journal.close()
            self._journal = None
            if empty:
                self.journal_path.unlink(missing_ok=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + self.flush_seconds
        while True:
            # Sleep out the interval unless a batch's worth is waiting (a backlog, or a burst that would
            # otherwise overflow a small queue) or the gateway is stopping.
            if not self._stopping and self.queue.qsize() < self._wake_at:
                self._wake.clear()
                timeout = due - loop.time()
                if timeout > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout)
            due = loop.time() + self.flush_seconds
            # Taken in one go: awaiting each record cost a turn of the event loop apiece, which under
            # load (thousands of callbacks a turn) left the writer a few records per interval.
            batch = [self.queue.get_nowait() for _ in range(min(self.batch_size, self.queue.qsize()))]
            self.metrics.queue_depth.set(self.queue.qsize())
            if batch:
                await asyncio.to_thread(self.flush, batch)
            elif self._unsynced or self._journal_size():  # the database was down, or the queue was full
                await asyncio.to_thread(self.replay)
            if self._stopping and self.queue.empty():
                if self._journal_size():
                    await asyncio.to_thread(self.replay)
                return

    # --- writing (a thread) ----------------------------------------------------------------------

    def flush(self, batch: list[Item]) -> None:
        self._sync_journal()
        with self.state.io_lock:
            try:
                write_items(self.engine, batch)
            except Exception as exc:  # the database is unreachable (or refusing): keep the batch
                log.warning("gateway: database write failed (%s); %d records journaled", type(exc).__name__, len(batch))
                self.db_ok = False
                self._append_journal(batch)
                return
            self._committed(batch)
        if not self.db_ok or self._journal_size():
            self.replay()

    def _committed(self, items: Iterable[Item]) -> None:
        for item in items:
            if item["kind"] == "usage":
                self.state.settle_pending(_scopes(item), item.get("cost", 0))
        self.metrics.recorded.inc(sum(1 for i in items if i["kind"] == "usage"))

    def _append_journal(self, items: list[Item]) -> None:
        """Journal a batch the database refused, on disk before this returns (fsync)."""
        with self._journal_lock:
            assert self._journal is not None
            self._journal.write(b"".join(orjson.dumps(i, default=str) + b"\n" for i in items))
            self._journal.flush()
            os.fsync(self._journal.fileno())
            self._unsynced = False
        self.metrics.journal_bytes.set(self._journal_size())

    def _sync_journal(self) -> None:
        if self._unsynced:
            with self._journal_lock:
                if self._journal is not None:
                    os.fsync(self._journal.fileno())
                self._unsynced = False

    def _journal_size(self) -> int:
        total = 0
        for path in self.data_dir.glob(JOURNAL_GLOB):
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                pass
        return total

    def replay(self) -> int:
        """Write every journal this process may (its own, and those of stopped gateways); returns rows sent."""
        self._sync_journal()
        sent = 0
        with self.state.io_lock:
            for path in sorted(self.data_dir.glob(JOURNAL_GLOB)):
                if path == self.journal_path:
                    sent += self._replay_own()
                else:
                    sent += self._replay_other(path)
        self.metrics.journal_bytes.set(self._journal_size())
        return sent

    def _replay_own(self) -> int:
        with self._journal_lock:
            if self._journal is None:
                return 0
            end = os.path.getsize(self.journal_path)
        if end == 0:
            return 0
        # These were counted as pending when they were made; each batch settles them once written.
        sent, done = self._replay_lines(self.journal_path, end, self._committed)
        if done:
            with self._journal_lock:
                # Keep what was appended while the batches were written (a later replay sends it); a
                # crash here leaves lines already written, which a replay skips by their request ids.
                assert self._journal is not None
                _trim(self.journal_path, done)
                os.fsync(self._journal.fileno())
        return sent

    def _replay_other(self, path: Path) -> int:
        try:
            fh = open(path, "rb")  # noqa: SIM115 (closed below)
        except FileNotFoundError:
            return 0
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # a running gateway's own journal
                return 0
            end = os.fstat(fh.fileno()).st_size
            sent, done = self._replay_lines(
                path, end, lambda items: self.metrics.recorded.inc(sum(1 for i in items if i["kind"] == "usage"))
            )
            if done == end:
                path.unlink()
            elif done:
                _trim(path, done)
            return sent
        finally:
            fh.close()

    def _replay_lines(self, path: Path, end: int, written: Callable[[list[Item]], None]) -> tuple[int, int]:
        """Write a journal's lines before byte `end` a batch at a time (so a long journal never sits in
        memory whole); returns (records written, bytes of journal they took up to)."""
        sent = done = 0
        with open(path, "rb") as fh:
            while done < end:
                batch: list[Item] = []
                pos = done
                while len(batch) < self.batch_size and pos < end:
                    line = fh.readline()
                    if not line:
                        break
                    pos += len(line)
                    if line.endswith(b"\n"):  # a line cut by a crash mid-write was never acknowledged
                        batch.append(orjson.loads(line))
                if batch and not self._write_journaled(batch):
                    break
                written(batch)
                sent += len(batch)
                if pos == done:  # nothing more to read
                    break
                done = pos
        return sent, done

    def _write_journaled(self, items: list[Item]) -> bool:
        try:
            write_items(self.engine, items)
        except Exception as exc:
            log.warning("gateway: journal replay failed (%s); will retry", type(exc).__name__)
            self.db_ok = False
            return False
        self.db_ok = True
        return True


def _trim(path: Path, done: int) -> None:
    """Drop a journal's first `done` bytes (written to the database), keeping any lines after them."""
    with open(path, "r+b") as fh:
        fh.seek(done)
        rest = fh.read()
        fh.seek(0)
        fh.write(rest)
        fh.truncate(len(rest))
        fh.flush()


def _read(path: Path) -> list[Item]:
    items = []
    with open(path, "rb") as fh:
        for line in fh:
            if line.endswith(b"\n"):  # a line cut by a crash mid-write was never acknowledged: skip it
                items.append(orjson.loads(line))
    return items
