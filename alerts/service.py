"""What alerts do: evaluate the rules for orgs, record what fired in the outbox, deliver it.

Entry points:
- `after_usage(org_ids)`: evaluate these orgs and send what is due now (after an ingest or a collection).
- `run_cycle()` and `Watcher()`: the worker's jobs (full evaluation every alert_interval_seconds, a
  quick look at orgs whose rollups changed and at due retries every WATCH_SECONDS).
- `run_once(org_id)`: `spendsight alerts run`: evaluate, then try every pending message now.
- `notify(org_id, candidates)`: events from outside the rules (provider key actions), same outbox.
- `send_test(actor, org_id)`: `spendsight alerts test`: a test message through the same outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text

from alerts import outbox
from alerts.render import ENGLISH_USD, Message, Reader, render
from alerts.rules import Candidate, org_candidates
from models.access.audit import record
from models.access.orgs import get_org, list_orgs
from models.access.roles import Actor, require_owner
from models.budgets import billing
from models.db import bind_time, get_engine, session_scope
from models.settings import get_settings
from models.spend.queries import SpendQuery, SpendRow, spend

log = logging.getLogger("spendsight.alerts")

WATCH_SECONDS = 10
TOP_DRIVERS = 5
Drivers = list[tuple[object, Decimal]]  # (model or project, cost this month), biggest first


@dataclass
class RunReport:
    events: list[int] = field(default_factory=list)
    delivery: outbox.DeliveryReport = field(default_factory=outbox.DeliveryReport)
    errors: list[str] = field(default_factory=list)


def _org_ids(org_ids: Iterable[str] | None) -> list[str]:
    if org_ids is not None:
        return sorted(set(org_ids))
    with session_scope() as session:
        return [o.id for o in list_orgs(session)]


def _renderer(org_id: str, now: datetime) -> Callable[[Candidate, Reader], Message]:
    """A render(candidate) for one org: names, top drivers of the month and the dashboard link."""
    with session_scope() as session:
        org = get_org(session, org_id)
        name, timezone = org.name, org.timezone
    today = billing.local_today(timezone, now)
    start, end = today.replace(day=1), today + timedelta(days=1)
    cache: dict[str, tuple[Drivers, Drivers]] = {}

    def drivers(project: str) -> tuple[Drivers, Drivers]:
        if project not in cache:
            filters = {"project": [project]} if project else None
            models = spend(SpendQuery.make(org_id, start, end, by=("model",), filters=filters))
            projects = spend(SpendQuery.make(org_id, start, end, by=("project",), filters=filters))
            cache[project] = (_top(models, "model"), [] if project else _top(projects, "project"))
        return cache[project]

    def render_candidate(c: Candidate, reader: Reader = ENGLISH_USD) -> Message:
        top_models, top_projects = drivers(c.project_id)
        return render(
            org_id=org_id,
            org_name=name,
            project=c.project_id,
            rule=c.rule,
            headline=c.headline,
            facts=c.facts,
            top_models=top_models,
            top_projects=top_projects,
            public_url=get_settings().public_url,
            reader=reader,
            say=c.say,
        )

    return render_candidate


def _top(rows: list[SpendRow], key: str) -> Drivers:
    """The biggest TOP_DRIVERS costs of `rows` by `key`, leaving out what cost nothing."""
    return [(r.keys[key], r.cost) for r in sorted(rows, key=lambda r: -r.cost)[:TOP_DRIVERS] if r.cost > 0]


def evaluate(
    org_ids: Iterable[str] | None = None, now: datetime | None = None, errors: list[str] | None = None
) -> list[int]:
    """Record every alert that should have fired and has not; returns the new event ids.

    An org whose evaluation fails is logged (and its error appended to `errors`) and skipped.
    """
    now = now or datetime.now(UTC)
    created: list[int] = []
    for org_id in _org_ids(org_ids):
        try:
            candidates = org_candidates(org_id, now)
            if candidates:
                created += outbox.record(org_id, candidates, _renderer(org_id, now), now)
        except Exception as exc:  # one org's trouble must not stop the others (or an ingest)
            log.exception("alert evaluation failed for %s", org_id)
            if errors is not None:
                errors.append(f"{org_id}: {type(exc).__name__}: {exc}")
    return created


def after_usage(org_ids: Iterable[str] | None) -> None:
    """New usage arrived for these orgs: evaluate them and send what is due now. Never raises."""
    ids = sorted(set(org_ids or ()))
    if not ids:
        return
    evaluate(ids)
    try:
        outbox.deliver(ids)
    except Exception:
        log.exception("alert delivery failed")


def notify(org_id: str, candidates: list[Candidate], now: datetime | None = None) -> list[int]:
    """Record events that come from outside the rules (a provider key switched off, say) and send them.

    Same outbox, so each fires once per (org, project, rule, threshold, period); never raises on delivery.
    """
    now = now or datetime.now(UTC)
    created = outbox.record(org_id, candidates, _renderer(org_id, now), now)
    try:
        outbox.deliver([org_id])
    except Exception:
        log.exception("alert delivery failed")
    return created


def run_once(org_id: str | None = None, now: datetime | None = None) -> RunReport:
    """Evaluate (one org or all) and try every pending message now, whatever its backoff."""
    report = RunReport()
    report.events = evaluate([org_id] if org_id else None, now, report.errors)
    report.delivery = outbox.deliver([org_id] if org_id else None, force=True, now=now)
    return report


def deliver_now(actor: Actor, org_id: str, now: datetime | None = None) -> outbox.DeliveryReport:
    """An owner's "try pending messages now" for one org (like `alerts run` without evaluating)."""
    with session_scope() as session:
        require_owner(session, actor, org_id)
        record(session, actor, "alert.deliver", org_id, "deliveries", None, None)
    return outbox.deliver([org_id], force=True, now=now)


def send_test(actor: Actor, org_id: str, now: datetime | None = None) -> outbox.DeliveryReport:
    """Queue a test message to every recipient of the org and send it now; returns the delivery report."""
    now = now or datetime.now(UTC)
    with session_scope() as session:
        require_owner(session, actor, org_id)
        record(session, actor, "alert.test", org_id, "test", None, {"at": now})
    candidate = Candidate(
        org_id,
        "",
        "test",
        0,
        now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "test alert: email delivery works",
        {},
        say=("test", {}),
    )
    outbox.record(org_id, [candidate], _renderer(org_id, now), now)
    return outbox.deliver([org_id], force=True, now=now)


def run_cycle() -> None:
    """Evaluate every org, then send what is due."""
    evaluate()
    outbox.deliver()


class Watcher:
    """Every few seconds: evaluate orgs whose rollups changed since the last look, send due retries."""

    def __init__(self) -> None:
        self.since = datetime.now(UTC)

    def __call__(self) -> None:
        started = datetime.now(UTC)
        with get_engine().connect() as conn:
            rows = conn.execute(
                text("SELECT org_id FROM rollup_state WHERE updated_at >= :since"),
                {"since": bind_time(conn, self.since)},
            ).all()
        changed = sorted({r[0] for r in rows})
        self.since = started
        if changed:
            evaluate(changed)
        outbox.deliver()
