"""The worker's jobs: what runs when, tying collectors, rollups and alerts together.

- `rollups`: every 30 s, bring the rollups up to date for ranges whose raw usage changed.
- `inbox`: every `inbox_interval_seconds` (5), tail the logs in `<data dir>/inbox/`.
- `collect-usage`: every enabled source's usage endpoints, every `collect_interval_seconds` (60).
- `collect-costs`: every enabled source's cost endpoint, every `cost_interval_seconds` (3600).
- `collect-requested`: every few seconds, the sources an owner asked to run now (Sources page).
- `alerts`: every `alert_interval_seconds` (60), evaluate every org and send what is due.
- `alerts-watch`: every few seconds, evaluate orgs whose rollups changed and send due retries.
- `provider-keys`: every `alert_interval_seconds`, switch listed Anthropic keys off at a hard limit
  (and on again below it); also right after new usage arrives.
- `statements`: every `statement.interval_seconds` (3600), close last month's statements that are
  due, restate closed months whose figures changed, and email statements to subscribers.
After each collection or inbox pass the rollups are brought up to date (the collectors do it) and
alerts are evaluated for the orgs touched. A source whose run is already in progress is skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text
from sqlmodel import Session, col, select

import alerts
from alerts.statements import deliver_statements
from collectors.logs.watch import scan
from collectors.runner import SourceResult, run_source
from models.budgets.snapshots import run_closes
from models.db import bind_time, get_engine, table_of, utcnow
from models.settings import Settings, get_settings
from models.spend.rollups import process_dirty
from models.tables import Source
from worker.key_actions import enforce as enforce_provider_keys
from worker.scheduler import Job

log = logging.getLogger("spendsight.collect")
RUN_REQUEST_POLL_SECONDS = 5
ROLLUP_SECONDS = 30


def _enabled_sources(requested_only: bool = False) -> list[Source]:
    with Session(get_engine(), expire_on_commit=False) as session:
        query = select(Source).where(Source.enabled == True)  # noqa: E712 (SQL expression)
        if requested_only:
            query = query.where(col(Source.run_requested_at).is_not(None))
        return list(session.exec(query.order_by(col(Source.id))))


def _set_next_run(source_id: int, seconds: int) -> None:
    table = table_of(Source)
    with get_engine().begin() as conn:
        conn.execute(
            table.update().where(table.c.id == source_id).values(next_run_at=utcnow() + timedelta(seconds=seconds))
        )


def collect_all(billed: bool, interval: int | None = None, wait: bool = False) -> list[SourceResult]:
    """One pass over the enabled sources (usage or costs); errors stay on each source."""
    results = []
    for source in _enabled_sources():
        assert source.id is not None  # a stored source (and below)
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
        assert source.id is not None and requested_at is not None  # (selected for it)
        result = run_source(source, billed=None, wait=True)
        with get_engine().begin() as conn:
            # Only the request we served: one made during the run stays for the next poll.
            conn.execute(
                text("UPDATE source SET run_requested_at = NULL WHERE id = :id AND run_requested_at <= :at"),
                {"id": source.id, "at": bind_time(conn, requested_at)},
            )
        if interval:
            _set_next_run(source.id, interval)
        results.append(result)
    notify_alerts({r.org_id for r in results if r.rows})
    return results


def notify_alerts(org_ids: Iterable[str]) -> None:
    """Evaluate alerts for orgs with new usage; alerting trouble never undoes or fails a collection."""
    if not org_ids:
        return
    try:
        alerts.after_usage(sorted(set(org_ids)))
    except Exception:
        log.exception("alert evaluation after collection failed")
    enforce_provider_keys(sorted(set(org_ids)))  # never raises: one org's trouble is logged


def scan_inbox(root: Path) -> None:
    """Read what was appended to the inbox, then let alerts look at the orgs that got new usage."""
    notify_alerts(scan(root).orgs_touched)


def collector_jobs(settings: Settings) -> list[Job]:
    usage_every = max(1, int(settings.worker.collect_interval_seconds))
    costs_every = max(1, int(settings.worker.cost_interval_seconds))
    return [
        Job("collect-usage", lambda: collect_all(False, usage_every), usage_every),
        Job("collect-costs", lambda: collect_all(True), costs_every),
        Job("collect-requested", lambda: collect_requested(usage_every), RUN_REQUEST_POLL_SECONDS),
    ]


def alert_jobs(settings: Settings) -> list[Job]:
    """A full evaluation every alert_interval_seconds; a quick look at changed orgs and due retries."""
    return [
        Job("alerts", alerts.run_cycle, settings.worker.alert_interval_seconds),
        Job("alerts-watch", alerts.Watcher(), alerts.WATCH_SECONDS),
        Job("provider-keys", enforce_provider_keys, settings.worker.alert_interval_seconds),
    ]


def statements(settings: Settings) -> dict[str, int]:
    """Close what is due, restate what changed, then send the statement emails that are waiting."""
    group = settings.statement
    done = run_closes(close_after_days=group.close_after_days, restate_months=group.restate_months)
    return done | deliver_statements()


def statement_jobs(settings: Settings) -> list[Job]:
    return [Job("statements", lambda: statements(settings), max(60, settings.statement.interval_seconds))]


def default_jobs(settings: Settings | None = None) -> list[Job]:
    """Every job the leader runs, with its interval in seconds."""
    settings = settings or get_settings()
    inbox = settings.data_dir / "inbox"
    return [
        Job("rollups", process_dirty, ROLLUP_SECONDS),
        Job("inbox", lambda: scan_inbox(inbox), settings.worker.inbox_interval_seconds),
        *collector_jobs(settings),
        *alert_jobs(settings),
        *statement_jobs(settings),
    ]
