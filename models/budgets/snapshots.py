"""Closed months: a statement frozen when its month closes, and dated restatements after it.

Closing stores the statement as version 0 of (org, month). Later a late log or a price override
can change what the month cost; `restate` compares the live figures with the last version and,
when they differ, stores the next version with the difference, recorded in the audit log. The
page and the emails show the last version with the list of restatements. When a month closes:
`due_months` (the worker, `close_after_days` after the month ends in the org's zone) or
`spendsight statement close` (operators).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from models.access.audit import record
from models.access.orgs import get_org
from models.access.roles import Actor, require_owner
from models.budgets.billing import local_today, month_bounds, month_label
from models.budgets.credits import MonthBilling
from models.budgets.statement import FRAMES, Statement, statement
from models.db import session_scope, utcnow
from models.tables import Organization, StatementDelivery, StatementSnapshot, StatementSubscription
from models.units import MICRO, ZERO, add_months, micros_to_usd, usd_to_micros
from models.validation import ValidationError

WORKER = Actor("worker", system=True)
MONEY = ("cost_usd", "prev_cost_usd")
RATIOS = ("delta_pct", "share")


@dataclass(frozen=True)
class Version:
    """One stored version of a month's statement, with what changed since the one before."""

    version: int
    created_at: datetime
    created_by: str
    total_usd: Decimal
    billable_usd: Decimal
    difference_usd: Decimal  # total minus the previous version's (0 for the close)
    reason: str


# --- (de)serialising a statement -------------------------------------------------------------


def _cell(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if value is None or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "item"):  # numpy scalars from pandas
        return value.item()
    return value


def to_body(s: Statement) -> dict[str, Any]:
    """Everything the page and the downloads show, as JSON-ready values (Decimals as exact text)."""
    return {
        "total": str(s.total),
        "previous_total": str(s.previous_total),
        "requests": int(s.requests),
        "tokens": int(s.tokens),
        "unpriced_requests": int(s.unpriced_requests),
        "billed": None if s.billed is None else str(s.billed),
        "billing": {k: None if v is None else str(v) for k, v in s.billing.items()},
        **{
            name: [{k: _cell(v) for k, v in row.items()} for row in getattr(s, name).to_dict("records")]
            for name in FRAMES
        },
    }


def _frame(rows: list[dict[str, Any]], columns: Iterable[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(columns))
    if "unpriced_tokens" in frame.columns:  # versions stored before it was kept: none known
        frame["unpriced_tokens"] = frame["unpriced_tokens"].fillna(0).astype(int)
    for name in frame.columns:
        if name in MONEY or name in RATIOS:
            # (pandas-stubs list no Decimal among a column's scalars; an object column holds it exactly)
            frame[name] = [None if v is None else Decimal(v) for v in frame[name]]  # type: ignore[assignment]
    return frame


def from_body(
    org_id: str, name: str, environment: str, timezone: str, year: int, month: int, row: StatementSnapshot
) -> Statement:
    body = json.loads(row.body)
    start, end = month_bounds(year, month)
    billing: MonthBilling = {k: None if v is None else Decimal(v) for k, v in body["billing"].items()}  # type: ignore[assignment]  # (the stored MonthBilling keys)
    return Statement(
        org_id,
        name,
        environment,
        timezone,
        year,
        month,
        start,
        end,
        Decimal(body["total"]),
        Decimal(body["previous_total"]),
        body["requests"],
        body["tokens"],
        body["unpriced_requests"],
        None if body["billed"] is None else Decimal(body["billed"]),
        billing,
        _frame(body["by_project"], FRAMES["by_project"]),
        _frame(body["by_model"], FRAMES["by_model"]),
        _frame(body["by_project_model"], FRAMES["by_project_model"]),
        generated_at=row.created_at,
        closed_at=row.created_at,
        version=row.version,
    )


def _essence(body: dict[str, Any]) -> dict[str, Any]:
    """What a restatement is about: this month's own figures (not the previous month's, shown for comparison)."""
    # Unpriced tokens are left out too: versions stored before they were kept lack them, and usage
    # that gains or loses a price moves the requests or the cost anyway.
    drop = {"previous_total", "prev_cost_usd", "delta_pct", "unpriced_tokens"}
    out = {k: v for k, v in body.items() if k not in drop}
    for name in FRAMES:
        out[name] = [{k: v for k, v in r.items() if k not in drop} for r in body[name]]
    return out


# --- closing and restating -------------------------------------------------------------------


def _rows(session: Session, org_id: str, label: str) -> list[StatementSnapshot]:
    query = select(StatementSnapshot).where(StatementSnapshot.org_id == org_id, StatementSnapshot.month == label)
    return list(session.exec(query.order_by(col(StatementSnapshot.version))))


def _check_month(year: int, month: int, today: date) -> str:
    start, end = month_bounds(year, month)
    if end > today:
        raise ValidationError(f"{month_label(year, month)} has not ended yet (today is {today} in the org's zone)")
    return month_label(year, month)


def close_month(actor: Actor, org_id: str, year: int, month: int, now: datetime | None = None) -> tuple[Version, bool]:
    """Freeze a month's statement (version 0); (version, created). Closing again changes nothing.

    The org's subscribers get it by email: one delivery row per subscriber and month, queued here."""
    with session_scope() as session:
        require_owner(session, actor, org_id)
        org = get_org(session, org_id)
        label = _check_month(year, month, local_today(org.timezone, now))
        existing = _rows(session, org_id, label)
        if existing:
            return _versions(existing)[0], False
    s = statement(org_id, year, month)
    body = to_body(s)
    try:
        with session_scope() as session:
            require_owner(session, actor, org_id)
            row = _store(session, actor, org_id, label, 0, s, body, "closed")
            record(session, actor, "statement.close", org_id, f"statement:{label}", None, _summary(s))
            for sub in session.exec(select(StatementSubscription).where(StatementSubscription.org_id == org_id)):
                session.add(
                    StatementDelivery(
                        org_id=org_id,
                        month=label,
                        email=sub.email,
                        next_attempt_at=now or utcnow(),
                        message_id=f"<statement-{uuid.uuid4().hex}@spendsight>",  # the same on every retry
                    )
                )
            session.flush()
            return _versions([row])[0], True
    except IntegrityError:  # closed at the same moment by someone else: theirs stands
        return versions(org_id, year, month)[0], False


def restate(actor: Actor, org_id: str, year: int, month: int) -> Version | None:
    """If a closed month's figures changed since its last version, store a dated restatement with
    the difference (audited as statement.restate); None when nothing changed or the month is open."""
    label = month_label(year, month)
    with session_scope() as session:
        require_owner(session, actor, org_id)
        existing = _rows(session, org_id, label)
    if not existing:
        return None
    last = existing[-1]
    s = statement(org_id, year, month)
    body = to_body(s)
    if _essence(body) == _essence(json.loads(last.body)):
        return None
    before = micros_to_usd(last.total_micros)
    reason = _what_changed(json.loads(last.body), body)
    try:
        with session_scope() as session:
            require_owner(session, actor, org_id)
            row = _store(session, actor, org_id, label, last.version + 1, s, body, reason)
            record(
                session,
                actor,
                "statement.restate",
                org_id,
                f"statement:{label}",
                {
                    "version": last.version,
                    "total_usd": before,
                    "billable_usd": micros_to_usd(last.billable_micros),
                },
                _summary(s)
                | {"version": row.version, "difference_usd": (s.total - before).quantize(MICRO), "reason": reason},
            )
    except IntegrityError:  # restated at the same moment by someone else
        return None
    return versions(org_id, year, month)[-1]


def _store(
    session: Session,
    actor: Actor,
    org_id: str,
    label: str,
    version: int,
    s: Statement,
    body: dict[str, Any],
    reason: str,
) -> StatementSnapshot:
    row = StatementSnapshot(
        org_id=org_id,
        month=label,
        version=version,
        created_by=actor.label,
        total_micros=usd_to_micros(s.total),
        billable_micros=usd_to_micros(s.billing["billable_usd"]),
        reason=reason[:300],
        body=json.dumps(body, sort_keys=True),
    )
    session.add(row)
    session.flush()
    return row


def _summary(s: Statement) -> dict[str, object]:
    return {
        "total_usd": s.total,
        "billable_usd": s.billing["billable_usd"],
        "credits_applied_usd": s.billing["credits_applied_usd"],
        "soft_limit_usd": s.billing["soft_limit_usd"],
        "hard_limit_usd": s.billing["hard_limit_usd"],
        "requests": s.requests,
    }


def _what_changed(old: dict[str, Any], new: dict[str, Any]) -> str:
    """'spend +$1.2300; requests +1; web +$1.2300' — the figures that moved, largest project changes first."""
    parts = []
    diff = Decimal(new["total"]) - Decimal(old["total"])
    if diff:
        parts.append(f"spend {diff:+,.4f} USD")
    if new["requests"] != old["requests"]:
        parts.append(f"requests {new['requests'] - old['requests']:+,}")
    credits = Decimal(new["billing"]["credits_applied_usd"]) - Decimal(old["billing"]["credits_applied_usd"])
    if credits:
        parts.append(f"credits applied {credits:+,.4f} USD")
    before = {r["project"]: Decimal(r["cost_usd"]) for r in old["by_project"]}
    after = {r["project"]: Decimal(r["cost_usd"]) for r in new["by_project"]}
    moved = {p: after.get(p, ZERO) - before.get(p, ZERO) for p in set(before) | set(after)}
    for project, delta in sorted(moved.items(), key=lambda kv: -abs(kv[1]))[:3]:
        if delta:
            parts.append(f"{project or '(no project)'} {delta:+,.4f} USD")
    return "; ".join(parts) or "line items changed"


# --- reading ---------------------------------------------------------------------------------


def _versions(rows: list[StatementSnapshot]) -> list[Version]:
    out, previous = [], None
    for row in rows:
        total = micros_to_usd(row.total_micros)
        out.append(
            Version(
                row.version,
                row.created_at,
                row.created_by,
                total,
                micros_to_usd(row.billable_micros),
                ZERO if previous is None else total - previous,
                row.reason,
            )
        )
        previous = total
    return out


def versions(org_id: str, year: int, month: int) -> list[Version]:
    """The close and every restatement of a month, oldest first (empty: the month is open)."""
    with session_scope() as session:
        return _versions(_rows(session, org_id, month_label(year, month)))


def month_statement(org_id: str, year: int, month: int) -> tuple[Statement, list[Version]]:
    """What the page shows: a closed month's last stored version, or the live figures of an open one."""
    with session_scope() as session:
        rows = _rows(session, org_id, month_label(year, month))
        org = get_org(session, org_id)
        name, environment, timezone = org.name, org.environment, org.timezone
    if not rows:
        return statement(org_id, year, month), []
    return from_body(org_id, name, environment, timezone, year, month, rows[-1]), _versions(rows)


def due_months(now: datetime | None = None, close_after_days: int = 3) -> list[tuple[str, int, int]]:
    """(org, year, month) of every org whose previous month ended `close_after_days` ago and is not closed."""
    now = now or datetime.now(UTC)
    out = []
    with session_scope() as session:
        orgs = list(session.exec(select(Organization.id, Organization.timezone)))
        closed = set(session.exec(select(StatementSnapshot.org_id, StatementSnapshot.month)))
    for org_id, timezone in orgs:
        today = local_today(timezone, now)
        last = add_months(today.replace(day=1), -1)
        if (today - today.replace(day=1)).days >= close_after_days and (
            org_id,
            month_label(last.year, last.month),
        ) not in closed:
            out.append((org_id, last.year, last.month))
    return out


def closed_months(limit_months: int, now: datetime | None = None) -> list[tuple[str, int, int]]:
    """(org, year, month) of closed months among the last `limit_months`, to look for corrections in."""
    now = now or datetime.now(UTC)
    first = add_months(now.date().replace(day=1), -limit_months - 1)
    with session_scope() as session:
        query = select(StatementSnapshot.org_id, StatementSnapshot.month).where(
            StatementSnapshot.version == 0, StatementSnapshot.month >= month_label(first.year, first.month)
        )
        rows = sorted(set(session.exec(query)))
    return [(org, int(m[:4]), int(m[5:])) for org, m in rows]


def run_closes(now: datetime | None = None, close_after_days: int = 3, restate_months: int = 3) -> dict[str, int]:
    """The worker's pass: close what is due, then restate closed months whose figures changed."""
    closed = restated = 0
    for org_id, year, month in due_months(now, close_after_days):
        closed += close_month(WORKER, org_id, year, month, now)[1]
    for org_id, year, month in closed_months(restate_months, now):
        restated += restate(WORKER, org_id, year, month) is not None
    return {"closed": closed, "restated": restated}
