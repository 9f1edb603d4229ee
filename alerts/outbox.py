"""The outbox: record an alert once (a unique row), then deliver it, exactly once per recipient.

Recording: `INSERT ... ON CONFLICT DO NOTHING RETURNING id` on the (org, project, rule, threshold,
period) key; only the writer that gets an id back adds the delivery rows, in the same transaction.

Delivering: rows are claimed with `UPDATE ... SET status='sending', claimed_by=<token> WHERE id IN
(...) AND status='pending'`, which one writer wins per row on SQLite and PostgreSQL alike; the
winner sends and marks each row sent, or puts it back to pending with a backoff, or gives up
(permanent refusal, or MAX_ATTEMPTS). A claim is a lease: if the sender dies mid-send, the row goes
back to pending after LEASE, with the same Message-ID so the receiving side can drop a repeat.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, select, text, update

from alerts import leases, mail, webhook
from alerts.config import addresses_for, webhook_url
from alerts.render import ENGLISH_USD, Message, Reader
from alerts.rules import Candidate
from models.access.audit import record as audit
from models.access.preferences import preferences_of
from models.access.roles import Actor, require_owner
from models.db import get_engine, insert_for, session_scope, table_of
from models.fx import rate_on
from models.settings import Settings, get_settings
from models.tables import AlertDelivery, AlertEvent, AlertMessage

log = logging.getLogger("spendsight.alerts")

EVENTS = table_of(AlertEvent)
DELIVERIES = table_of(AlertDelivery)
MESSAGES = table_of(AlertMessage)
BATCH = 100
NOBODY = "(nobody)"


def _json(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


# --- recording -------------------------------------------------------------------------------


def fired_keys(org_id: str, periods: Iterable[str]) -> set[tuple[str, str, int, str]]:
    periods = sorted(set(periods))
    if not periods:
        return set()
    query = select(EVENTS.c.project_id, EVENTS.c.rule, EVENTS.c.threshold, EVENTS.c.period).where(
        EVENTS.c.org_id == org_id, EVENTS.c.period.in_(periods)
    )
    with get_engine().connect() as conn:
        return {tuple(r) for r in conn.execute(query)}


def merge(candidates: list[Candidate]) -> list[Candidate]:
    """Of new alerts of one family for one scope, only the strongest is sent; the rest are recorded
    as superseded (spend jumping from 40% to 120% sends one email, not three)."""
    strongest: dict[tuple[str, str], Candidate] = {}
    for c in candidates:
        if c.family:
            best = strongest.get((c.project_id, c.family))
            if best is None or c.strength > best.strength:
                strongest[(c.project_id, c.family)] = c
    for c in candidates:
        if c.family and strongest[(c.project_id, c.family)] is not c:
            c.state = "superseded"
    return sorted(candidates, key=lambda c: (c.project_id, c.rule, c.threshold, c.period))


def readers(addresses: Iterable[str], now: datetime | None = None) -> dict[str, Reader]:
    """The recipients who chose another language or currency than English in USD, and how to write to
    them (CNY at the rate in force on the day the alert fired)."""
    addresses = list(addresses)
    with session_scope() as session:
        chosen = preferences_of(session, addresses)
    rate = rate_on("CNY", (now or datetime.now(UTC)).date()).rate
    out = {}
    for address in addresses:
        p = chosen.get(address.strip().lower())
        if p is None:
            continue
        reader = Reader(p.lang, p.currency, rate if p.currency == "CNY" else Decimal(1))
        if not reader.is_default:
            out[address] = reader
    return out


def record(
    org_id: str,
    candidates: list[Candidate],
    render: Callable[[Candidate, Reader], Message],
    now: datetime | None = None,
) -> list[int]:
    """Insert the events not fired yet (and their deliveries); returns the ids this call created.

    `render(candidate, reader) -> Message` is only called for candidates that are new: once in
    English and USD (the event's own message), once per other language and currency a recipient chose.
    """
    done = fired_keys(org_id, (c.period for c in candidates))
    new = merge([c for c in candidates if c.key not in done])
    created = []
    for c in new:
        message: Message = render(c, ENGLISH_USD)
        to = addresses_for(org_id, c.rule) if c.state == "fired" else []
        hook = webhook_url(org_id) if c.state == "fired" else None
        written: dict[Reader, Message] = {}
        localized = {}
        for address, reader in readers(to, now).items():
            if reader not in written:
                written[reader] = render(c, reader)
            localized[address] = written[reader]
        event_id = insert_event(c, message, to, hook, now, localized)
        if event_id is not None:
            created.append(event_id)
            log.info(
                "alert %s fired for %s%s (%s %s)",
                c.rule,
                org_id,
                f"/{c.project_id}" if c.project_id else "",
                c.threshold,
                c.period,
            )
    return created


def insert_event(
    c: Candidate,
    message: Message,
    to: list[str],
    hook: str | None,
    now: datetime | None = None,
    localized: Mapping[str, Message] | None = None,
) -> int | None:
    """One transaction: the event row first (or nothing, if someone else has it), then its deliveries
    (and the messages written for recipients in another language or currency)."""
    now = now or datetime.now(UTC)
    values = {
        "org_id": c.org_id,
        "project_id": c.project_id,
        "rule": c.rule,
        "threshold": c.threshold,
        "period": c.period,
        "created_at": now,
        "state": c.state,
        "summary": message.summary[:500],
        "subject": message.subject[:300],
        "body_text": message.text,
        "body_html": message.html,
        "facts": json.dumps(c.facts, default=_json, sort_keys=True),
    }
    with get_engine().begin() as conn:
        stmt = (
            insert_for(conn, EVENTS)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["org_id", "project_id", "rule", "threshold", "period"])
            .returning(EVENTS.c.id)
        )
        event_id: int | None = conn.execute(stmt).scalar()
        if event_id is None:
            return None
        rows = [{"channel": "email", "recipient": address, "status": "pending", "last_error": ""} for address in to]
        if hook:
            rows.append({"channel": "webhook", "recipient": "webhook", "status": "pending", "last_error": ""})
        if not rows and c.state == "fired":
            rows.append(
                {
                    "channel": "email",
                    "recipient": NOBODY,
                    "status": "skipped",
                    "last_error": "no owners or recipients for this org: add one on the Budgets & alerts page",
                }
            )
        if rows:
            token = uuid.uuid4().hex[:16]
            conn.execute(
                DELIVERIES.insert(),
                [
                    r
                    | {
                        "event_id": event_id,
                        "org_id": c.org_id,
                        "attempts": 0,
                        "next_attempt_at": now,
                        "claimed_by": "",
                        "created_at": now,
                        "message_id": f"<alert-{event_id}-{i}-{token}@spendsight>",
                    }
                    for i, r in enumerate(rows)
                ],
            )
        if localized:
            conn.execute(
                MESSAGES.insert(),
                [
                    {
                        "event_id": event_id,
                        "recipient": address,
                        "subject": m.subject[:300],
                        "body_text": m.text,
                        "body_html": m.html,
                    }
                    for address, m in sorted(localized.items())
                ],
            )
    return event_id


# --- delivering ------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    waiting: int = 0  # pending and not tried this round (SMTP not configured, or backoff)
    errors: list[str] = field(default_factory=list)

    def add(self, other: DeliveryReport) -> None:
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed
        self.waiting = other.waiting
        self.errors += [e for e in other.errors if e not in self.errors]

    def __str__(self) -> str:
        return f"sent={self.sent} retrying={self.retrying} failed={self.failed} waiting={self.waiting}"


def release_stale(now: datetime) -> int:
    """Rows whose sender died mid-send go back to pending."""
    return leases.release_stale(DELIVERIES, now)


def _due(org_ids: list[str] | None, force: bool, now: datetime, channels: tuple[str, ...], after: int) -> list[int]:
    query = select(DELIVERIES.c.id).where(
        DELIVERIES.c.status == "pending", DELIVERIES.c.channel.in_(channels), DELIVERIES.c.id > after
    )
    if not force:
        query = query.where(DELIVERIES.c.next_attempt_at <= now)
    if org_ids is not None:
        query = query.where(DELIVERIES.c.org_id.in_(org_ids))
    with get_engine().connect() as conn:
        return list(conn.execute(query.order_by(DELIVERIES.c.id).limit(BATCH)).scalars())


def claim(ids: list[int], now: datetime) -> tuple[str, list[dict[str, Any]]]:
    """Atomically take pending rows; returns the claim token and the rows this caller won."""
    token = leases.claim(DELIVERIES, ids, now)
    if not ids:
        return token, []
    # A recipient's own message (their language and currency) where one was written, else the event's.
    query = (
        select(
            DELIVERIES,
            func.coalesce(MESSAGES.c.subject, EVENTS.c.subject).label("subject"),
            func.coalesce(MESSAGES.c.body_text, EVENTS.c.body_text).label("body_text"),
            func.coalesce(MESSAGES.c.body_html, EVENTS.c.body_html).label("body_html"),
            EVENTS.c.summary,
        )
        .join(EVENTS, EVENTS.c.id == DELIVERIES.c.event_id)
        .outerjoin(
            MESSAGES,
            (MESSAGES.c.event_id == DELIVERIES.c.event_id) & (MESSAGES.c.recipient == DELIVERIES.c.recipient),
        )
        .where(DELIVERIES.c.claimed_by == token, DELIVERIES.c.status == "sending")
        .order_by(DELIVERIES.c.id)
    )
    with get_engine().connect() as conn:
        return token, [dict(r._mapping) for r in conn.execute(query)]


def _finish(row: Mapping[str, Any], token: str, now: datetime, failure: mail.SendFailure | None) -> str:
    return leases.finish(DELIVERIES, row, token, now, failure)


def _note_waiting(org_ids: list[str] | None, reason: str) -> int:
    """Pending email when SMTP is not configured: say why on the row, keep it queued, count nothing."""
    query = update(DELIVERIES).where(DELIVERIES.c.status == "pending", DELIVERIES.c.channel == "email")
    if org_ids is not None:
        query = query.where(DELIVERIES.c.org_id.in_(org_ids))
    with get_engine().begin() as conn:
        return conn.execute(query.values(last_error=reason)).rowcount


def deliver(org_ids: list[str] | None = None, force: bool = False, now: datetime | None = None) -> DeliveryReport:
    """Send what is due (everything pending with `force`, whatever its backoff); never raises for
    delivery trouble, which stays on the rows."""
    settings = get_settings()
    now = now or datetime.now(UTC)
    release_stale(now)
    channels = ("email", "webhook") if mail.smtp_configured(settings) else ("webhook",)
    report = DeliveryReport()
    after = 0
    while True:
        ids = _due(org_ids, force, now, channels, after)
        if not ids:
            break
        after = max(ids)
        token, rows = claim(ids, now)
        report.add(_send(rows, token, now, settings))
    if not mail.smtp_configured(settings):
        report.waiting = _note_waiting(org_ids, "SMTP_HOST is not set; the email waits in the outbox")
    return report


def _send(rows: list[dict[str, Any]], token: str, now: datetime, settings: Settings) -> DeliveryReport:
    report = DeliveryReport()

    def done(row: Mapping[str, Any], failure: mail.SendFailure | None) -> None:
        status = _finish(row, token, now, failure)
        if status == "sent":
            report.sent += 1
        elif status == "failed":
            report.failed += 1
        else:
            report.retrying += 1
        if failure is not None:
            log.warning(
                "alert delivery %s to %s: %s",
                row["id"],
                row["recipient"] if row["channel"] == "email" else "webhook",
                failure.reason,
            )
            if failure.reason not in report.errors:
                report.errors.append(failure.reason)

    emails = [r for r in rows if r["channel"] == "email"]
    if emails:
        with mail.Mailer(settings) as mailer:
            for row in emails:
                msg = mail.build_message(
                    settings, row["recipient"], row["subject"], row["body_text"], row["body_html"], row["message_id"]
                )
                try:
                    mailer.send(msg)
                except mail.SendFailure as failure:
                    done(row, failure)
                else:
                    done(row, None)
    for row in rows:
        if row["channel"] != "webhook":
            continue
        url = webhook_url(row["org_id"])
        try:
            if not url:
                raise mail.SendFailure("the webhook was removed", permanent=True)
            webhook.post(url, row["summary"])
        except mail.SendFailure as failure:
            done(row, failure)
        else:
            done(row, None)
    return report


# --- reading, for the history page and the CLI -------------------------------------------------


_WEBHOOK_BODY = re.compile(r"(answered \d{3}) .*", re.DOTALL)


def history(org_ids: list[str], limit: int = 500, statuses: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Deliveries (with their event), newest first; superseded events appear once with status 'superseded'."""
    query = (
        select(
            EVENTS.c.id.label("event_id"),
            EVENTS.c.org_id,
            EVENTS.c.project_id,
            EVENTS.c.rule,
            EVENTS.c.threshold,
            EVENTS.c.period,
            EVENTS.c.created_at,
            EVENTS.c.state,
            EVENTS.c.summary,
            EVENTS.c.subject,
            DELIVERIES.c.id.label("delivery_id"),
            DELIVERIES.c.channel,
            DELIVERIES.c.recipient,
            DELIVERIES.c.status,
            DELIVERIES.c.attempts,
            DELIVERIES.c.next_attempt_at,
            DELIVERIES.c.sent_at,
            DELIVERIES.c.last_error,
        )
        .select_from(EVENTS.outerjoin(DELIVERIES, DELIVERIES.c.event_id == EVENTS.c.id))
        .where(EVENTS.c.org_id.in_(org_ids))
        .order_by(EVENTS.c.created_at.desc(), EVENTS.c.id.desc(), DELIVERIES.c.id)
        .limit(limit)
    )
    with get_engine().connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for row in rows:
        if row["channel"] == "webhook" and row["last_error"]:
            # Errors stored before answer bodies were dropped (alerts/webhook.py) kept up to 200 of
            # the endpoint's characters after the status code: never show them.
            row["last_error"] = _WEBHOOK_BODY.sub(r"\1", row["last_error"])
        if row["delivery_id"] is None:
            row["status"] = "superseded" if row["state"] == "superseded" else "no delivery"
            row["channel"] = row["recipient"] = ""
            row["attempts"] = 0
            row["last_error"] = (
                "a stronger alert of the same kind fired at the same time" if row["state"] == "superseded" else ""
            )
    if statuses is not None:
        wanted = set(statuses)
        rows = [r for r in rows if r["status"] in wanted]
    return rows


def counts(org_ids: list[str]) -> dict[str, int]:
    if not org_ids:
        return {}
    sql = text("SELECT status, COUNT(*) FROM alert_delivery WHERE org_id IN :orgs GROUP BY status").bindparams(
        bindparam("orgs", expanding=True)
    )
    with get_engine().connect() as conn:
        return {status: int(n) for status, n in conn.execute(sql, {"orgs": org_ids})}


def retry_failed(actor: Actor, org_id: str) -> int:
    """Put an org's failed deliveries back in the queue (after fixing an address or the SMTP settings)."""
    with session_scope() as session:
        require_owner(session, actor, org_id)
        n: int = session.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.org_id == org_id, DELIVERIES.c.status == "failed")
            .values(
                status="pending",
                attempts=0,
                next_attempt_at=datetime.now(UTC),
                last_error=f"queued again by {actor.label}",
            )
        ).rowcount  # type: ignore[attr-defined]  # sqlmodel types Session.execute as any Result; an UPDATE's has rowcount
        audit(session, actor, "alert.retry", org_id, "deliveries", None, {"requeued": n})
        return n
