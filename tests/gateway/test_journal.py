"""The journal under overload: lines appended while a replay writes are kept, and an idle writer replays."""

from __future__ import annotations

import asyncio

from gateway.metrics import Metrics
from gateway.recorder import Item, Recorder, _read
from gateway.state import GatewayState
from models.db import get_engine
from models.schema import init_db
from models.settings import get_settings
from tests.procs import wait_for

# Releases without a strict reservation write nothing, so the journal's own behaviour is all that is tested.
A: Item = {"kind": "release", "cost": 0, "n": "a"}
B: Item = {"kind": "release", "cost": 0, "n": "b"}


class AppendDuringReplay(Recorder):
    """A request whose record overflows into the journal while a replay is writing the older lines."""

    def _write_journaled(self, items: list[Item]) -> bool:
        if items == [A]:
            self._append_journal([B])
        return super()._write_journaled(items)


def _recorder(cls: type[Recorder], flush_seconds: float = 0.05) -> Recorder:
    init_db()
    settings = get_settings()
    engine = get_engine(settings.db_url)
    return cls(engine, GatewayState(engine), Metrics(), settings.data_dir, flush_seconds, 10, 100)


def test_a_line_appended_during_a_replay_is_kept_for_the_next():
    async def scenario() -> list[list[Item]]:
        # The idle writer's own replays wait out the test (on a loaded machine one could send B first).
        recorder = _recorder(AppendDuringReplay, flush_seconds=60)
        await recorder.start()
        try:
            recorder._append_journal([A])
            sent = await asyncio.to_thread(recorder.replay)
            after_first = _read(recorder.journal_path)
            await asyncio.to_thread(recorder.replay)
            return [[{"sent": sent}], after_first, _read(recorder.journal_path)]
        finally:
            await recorder.stop()

    (first,), after_first, after_second = asyncio.run(scenario())
    assert first == {"sent": 1}
    assert after_first == [B]  # the old code truncated the file and lost B
    assert after_second == []


def test_an_idle_writer_replays_what_a_full_queue_journaled():
    async def scenario() -> bool:
        recorder = _recorder(Recorder)
        await recorder.start()
        try:
            recorder._append_journal([A, B])  # what submit() does when the queue is full
            return await asyncio.to_thread(wait_for, lambda: recorder.journal_path.stat().st_size == 0, 10)
        finally:
            await recorder.stop()

    assert asyncio.run(scenario())  # the old writer waited for the next request (or shutdown)
