"""Worker jobs for the provider collectors (picked up by collectors.scheduler.default_jobs).

- `collect-usage`: every enabled source's usage endpoints, every `collect_interval_seconds` (60).
- `collect-costs`: every enabled source's cost endpoint, every `cost_interval_seconds` (3600).
- `collect-requested`: every few seconds, the sources an owner asked to run now (Sources page).
After each collection the rollups are brought up to date (the runner does it) and alerts are
evaluated for the orgs touched. A source whose run is already in progress is skipped, not queued.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import text
from sqlmodel import Session, select

from collectors.runner import SourceResult, notify_alerts, run_source
from collectors.scheduler import Job
from models.db import UTCDateTime, get_engine, utcnow
from models.tables import Source

log = logging.getLogger("spendsight.collect")
RUN_REQUEST_POLL_SECONDS = 5


def _enabled_sources(requested_only: bool = False) -> list[Source]:
    with Session(get_engine(), expire_on_commit=False) as session:
        query = select(Source).where(Source.enabled == True)  # noqa: E712 (SQL expression)
        if requested_only:
            query = query.where(Source.run_requested_at.is_not(None))
        return list(session.exec(query.order_by(Source.id)))


def _set_next_run(source_id: int, seconds: int) -> None:
    table = Source.__table__
    with get_engine().begin() as conn:
        conn.execute(table.update().where(table.c.id == source_id).values(next_run_at=utcnow() + timedelta(seconds=seconds)))


def collect_all(billed: bool, interval: int | None = None, wait: bool = False) -> list[SourceResult]:
    """One pass over the enabled sources (usage or costs); errors stay on each source."""
    results = []
    for source in _enabled_sources():
        result = run_source(source, billed=billed, wait=wait)
        if interval and not billed and not result.skipped:
            _set_next_run(source.id, interval)
        results.append(result)
        if not result.ok:
            log.warning("source %s: %s", source.name, result.errors())
    notify_alerts({r.org_id for r in results if r.rows})
    return results


def collect_requested(interval: int | None = None) -> list[SourceResult]:
    """Run every source whose owner pressed "run now"; the request is cleared when the run is done."""
    results = []
    for source in _enabled_sources(requested_only=True):
        requested_at = source.run_requested_at
        result = run_source(source, billed=None, wait=True)
        with get_engine().begin() as conn:
            # Only the request we served: one made during the run stays for the next poll.
            conn.execute(
                text("UPDATE source SET run_requested_at = NULL WHERE id = :id AND run_requested_at <= :at"),
                {"id": source.id, "at": UTCDateTime().process_bind_param(requested_at, conn.dialect)},
            )
        if interval:
            _set_next_run(source.id, interval)
        results.append(result)
    notify_alerts({r.org_id for r in results if r.rows})
    return results


def collector_jobs(settings) -> list[Job]:
    usage_every = max(1, int(settings.collect_interval_seconds))
    costs_every = max(1, int(settings.cost_interval_seconds))
    return [
        Job("collect-usage", lambda: collect_all(False, usage_every), usage_every),
        Job("collect-costs", lambda: collect_all(True), costs_every),
        Job("collect-requested", lambda: collect_requested(usage_every), RUN_REQUEST_POLL_SECONDS),
    ]
