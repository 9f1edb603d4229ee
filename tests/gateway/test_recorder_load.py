"""The recorder under load: a backlog is taken in whole batches however busy the event loop, a full queue
spills to the journal without waiting for the disk, a long journal is replayed a batch at a time, and
batches of any size use one lookup statement; every record still reaches the database exactly once."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, text

from gateway.metrics import Metrics
from gateway.recorder import Item, Recorder, write_items
from gateway.state import GatewayState
from models.db import get_engine
from models.schema import init_db
from models.settings import get_settings
from tests.factories import make_org

ORG = "org-rec"


def _recorder(cls: type[Recorder], queue_size: int, batch_size: int) -> Recorder:
    init_db()
    settings = get_settings()
    engine = get_engine(settings.db_url)
    return cls(engine, GatewayState(engine), Metrics(), settings.data_dir, 0.5, queue_size, batch_size)


def _usage(n: int) -> Item:
    row: dict[str, Any] = {
        "org_id": ORG,
        "provider": "openai",
        "project_id": "",
        "api_key_id": "gk-1",
        "user_id": "",
        "model": "gpt-4o-mini",
        "service_tier": "",
        "context_band": 0,
        "source": "gateway",
        "kind": "completions",
        "bucket_start": datetime(2026, 11, 30, 12, 0, n % 60, tzinfo=UTC),
        "request_id": f"req-{n}",
        "input_tokens": 10 + n,
        "output_tokens": 1,
    }
    return {"kind": "usage", "row": row, "cost": 3, "scopes": [[ORG, ""]], "strict": []}


def _stored() -> tuple[list[str], int]:
    with get_engine().connect() as conn:
        ids = [r[0] for r in conn.execute(text("SELECT request_id FROM usage WHERE org_id = :o"), {"o": ORG})]
        tokens = conn.execute(text("SELECT COALESCE(SUM(input_tokens), 0) FROM usage WHERE org_id = :o"), {"o": ORG})
        return ids, tokens.scalar_one()


async def _until(condition, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return False


class Batches(Recorder):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.batches: list[int] = []

    def flush(self, batch: list[Item]) -> None:
        self.batches.append(len(batch))
        super().flush(batch)


def test_a_backlog_is_written_in_whole_batches_while_the_event_loop_is_busy():
    make_org(ORG)

    async def scenario() -> list[int]:
        recorder = _recorder(Batches, 1000, 100)
        assert isinstance(recorder, Batches)
        for n in range(250):
            recorder.submit(_usage(n))

        async def busy() -> None:  # requests being served: every turn of the loop takes 20 ms
            while True:
                time.sleep(0.02)
                await asyncio.sleep(0)

        hog = asyncio.create_task(busy())
        await recorder.start()
        try:
            await _until(lambda: sum(recorder.batches) >= 250)
        finally:
            hog.cancel()
            await recorder.stop()
        return recorder.batches

    # The old writer awaited each record (a turn of the loop apiece): about 25 a 0.5 s interval here.
    assert asyncio.run(scenario()) == [100, 100, 50]
    ids, tokens = _stored()
    assert sorted(ids) == sorted(f"req-{n}" for n in range(250))
    assert tokens == sum(10 + n for n in range(250))


def test_a_full_queue_spills_to_the_journal_without_waiting_for_the_disk(monkeypatch):
    make_org(ORG)
    synced_on: list[int] = []
    fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced_on.append(threading.get_ident())
        fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)

    async def scenario() -> tuple[list[int], float, float, int]:
        recorder = _recorder(Recorder, 4, 100)
        await recorder.start()
        try:
            loop_thread = threading.get_ident()
            synced_on.clear()
            for n in range(40):  # one turn of the loop: the writer cannot take any before the last
                recorder.submit(_usage(n))
            on_loop = [t for t in synced_on if t == loop_thread]
            depth = recorder.metrics.queue_depth._value.get()
            journal = recorder.metrics.journal_bytes._value.get()
            size = recorder.journal_path.stat().st_size
            assert await _until(lambda: len(_stored()[0]) == 40 and recorder.journal_path.stat().st_size == 0)
            await _until(lambda: recorder.metrics.journal_bytes._value.get() == 0, 5)
            drained = (recorder.metrics.queue_depth._value.get(), recorder.metrics.journal_bytes._value.get())
        finally:
            await recorder.stop()
        assert drained == (0, 0)
        return on_loop, depth, journal, size

    on_loop, depth, journal, size = asyncio.run(scenario())
    assert on_loop == []  # the old code fsynced the journal on the event loop for every spilled record
    assert depth == 4
    assert size > 0 and journal == size  # /metrics counts the spilled lines at once
    ids, tokens = _stored()
    assert sorted(ids) == sorted(f"req-{n}" for n in range(40))  # each exactly once
    assert tokens == sum(10 + n for n in range(40))


class Chunks(Recorder):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.replayed: list[int] = []

    def _write_journaled(self, items: list[Item]) -> bool:
        self.replayed.append(len(items))
        return super()._write_journaled(items)


def test_a_long_journal_is_replayed_a_batch_at_a_time():
    make_org(ORG)

    async def scenario() -> list[int]:
        recorder = _recorder(Chunks, 10, 100)
        assert isinstance(recorder, Chunks)
        await recorder.start()
        try:
            recorder._append_journal([_usage(n) for n in range(250)])  # the database was down a while
            assert await _until(lambda: recorder.journal_path.stat().st_size == 0)
        finally:
            await recorder.stop()
        return recorder.replayed

    # Never more than a batch read into memory (the old replay read the whole file first).
    assert asyncio.run(scenario()) == [100, 100, 50]
    ids, _ = _stored()
    assert sorted(ids) == sorted(f"req-{n}" for n in range(250))


def test_stored_ids_are_looked_up_with_one_statement_whatever_the_batch_size():
    make_org(ORG)
    init_db()
    engine = get_engine(get_settings().db_url)
    statements: set[str] = set()

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.startswith("SELECT request_id FROM usage"):
            statements.add(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        start = 0
        for size in (3, 7, 250, 640):
            write_items(engine, [_usage(n) for n in range(start, start + size)])
            start += size
        write_items(engine, [_usage(n) for n in range(10, 260)])  # written already: skipped
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    # The old lookup had a statement per length (3, 7, 250, 500 and 140 ids): each one prepared and
    # cached by the driver, so a gateway's memory grew as new batch sizes turned up.
    assert len(statements) == 1
    ids, tokens = _stored()
    assert sorted(ids) == sorted(f"req-{n}" for n in range(900))
    assert tokens == sum(10 + n for n in range(900))
