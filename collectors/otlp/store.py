"""Mapped spans into the usage table, their rollups and quarantine, in one transaction per request."""

from __future__ import annotations

from dataclasses import dataclass

from collectors.base import (
    Record,
    Rejection,
    hourly_sums,
    insert_prepared,
    mark_hours_dirty,
    prepare_records,
    quarantine,
)
from models.db import get_engine, sqlite_writer_lock
from models.spend.rollups import add_increments, process_dirty


@dataclass
class Stored:
    inserted: int = 0
    duplicate: int = 0


def store(records: list[Record], rejects: list[Rejection]) -> Stored:
    """Insert new spans (a span already stored, by response id or trace and span id, adds nothing),
    bring the rollups up to date and quarantine rejected spans, all before the exporter gets its 200.

    Like `spendsight ingest`: when every span is new their sums are added to the rollups directly;
    when some were duplicates (an exporter's retry) the hours they touch are rebuilt instead.
    """
    result = Stored()
    if not records and not rejects:
        return result
    engine = get_engine()
    sums = hourly_sums(records)
    prepared = prepare_records(engine.dialect.name, records)  # in place: after the sums
    dirty: list[int] = []
    with sqlite_writer_lock(engine), engine.begin() as conn:
        if records:
            inserted = insert_prepared(conn, prepared)
            result.inserted, result.duplicate = inserted, len(records) - inserted
            if inserted == len(records):
                add_increments(conn, sums)
            elif inserted:
                dirty = mark_hours_dirty(conn, sums)
        if rejects:
            quarantine(conn, rejects)
    if dirty:
        process_dirty(ids=dirty)
    return result
