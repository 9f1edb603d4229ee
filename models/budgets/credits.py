"""Credit grants: consumed oldest-expiring first before spend is billable, and the monthly bill.

Every change goes through a service here that takes an `Actor`, checks `require_owner` and writes an
audit row in the same transaction. A grant applies on the org's local days `granted_on <= day <
expires_on`; how grants are consumed is `models.budgets.billing.consume`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TypedDict

from sqlmodel import col, select

from models.access.audit import record
from models.access.orgs import get_org
from models.access.roles import Actor, require_owner
from models.budgets import billing
from models.budgets.limits import month_limit
from models.db import session_scope
from models.numbers import parse_usd
from models.tables import CreditGrant
from models.units import MICRO, ZERO, micros_to_usd, usd_to_micros
from models.validation import CONTROL_RE, ValidationError


@dataclass(frozen=True)
class GrantStatus:
    id: int
    org_id: str
    amount_usd: Decimal
    used_usd: Decimal
    remaining_usd: Decimal
    granted_on: date
    expires_on: date
    note: str
    state: str  # "upcoming", "active", "used up", "expired"


def _grant(row: CreditGrant) -> billing.Grant:
    assert row.id is not None  # read from the table
    return billing.Grant(row.id, micros_to_usd(row.amount_micros), row.granted_on, row.expires_on)


def add_credit(
    actor: Actor,
    org_id: str,
    amount: object,
    expires_on: date,
    granted_on: date | None = None,
    note: str = "",
    now: datetime | None = None,
) -> tuple[GrantStatus, bool]:
    """Add a credit grant; returns (grant, created). The same grant added again is not added twice."""
    amount = parse_usd(amount, "amount")
    note = (note or "").strip()
    if len(note) > 200 or CONTROL_RE.search(note):
        raise ValidationError("note must be at most 200 characters without control characters")
    with session_scope() as session:
        require_owner(session, actor, org_id)
        org = get_org(session, org_id)
        granted_on = granted_on or billing.local_today(org.timezone, now)
        if expires_on <= granted_on:
            raise ValidationError(f"expires {expires_on} must be after granted {granted_on}")
        micros = usd_to_micros(amount)
        existing = session.exec(
            select(CreditGrant).where(
                CreditGrant.org_id == org_id,
                CreditGrant.granted_on == granted_on,
                CreditGrant.expires_on == expires_on,
                CreditGrant.amount_micros == micros,
                CreditGrant.note == note,
            )
        ).first()
        if existing is not None:
            row, created = existing, False
        else:
            row = CreditGrant(
                org_id=org_id,
                amount_micros=micros,
                granted_on=granted_on,
                expires_on=expires_on,
                note=note,
                created_by=actor.label,
            )
            session.add(row)
            session.flush()
            record(
                session,
                actor,
                "credit.add",
                org_id,
                f"credit:{row.id}",
                None,
                {"amount_usd": amount, "granted_on": granted_on, "expires_on": expires_on, "note": note},
            )
            created = True
        grant_id = row.id
    status = next(g for g in credit_status(org_id, now=now) if g.id == grant_id)
    return status, created


def remove_credit(actor: Actor, org_id: str, grant_id: int) -> None:
    with session_scope() as session:
        require_owner(session, actor, org_id)
        row = session.get(CreditGrant, grant_id)
        if row is None or row.org_id != org_id:
            raise ValidationError(f"credit grant {grant_id} does not exist in {org_id}")
        record(
            session,
            actor,
            "credit.remove",
            org_id,
            f"credit:{grant_id}",
            {
                "amount_usd": micros_to_usd(row.amount_micros),
                "granted_on": row.granted_on,
                "expires_on": row.expires_on,
                "note": row.note,
            },
            None,
        )
        session.delete(row)


def _grant_rows(org_id: str) -> list[CreditGrant]:
    with session_scope() as session:
        query = select(CreditGrant).where(CreditGrant.org_id == org_id)
        return list(
            session.exec(query.order_by(col(CreditGrant.expires_on), col(CreditGrant.granted_on), col(CreditGrant.id)))
        )


def _consumption(org_id: str, rows: list[CreditGrant], through: date) -> billing.Consumption:
    """Consume every grant against the org's spend from the first grant day up to `through` (exclusive)."""
    grants = [_grant(r) for r in rows]
    if not grants:
        return billing.Consumption()
    start = min(g.granted_on for g in grants)
    end = min(through, max(g.expires_on for g in grants))
    return billing.consume(grants, billing.daily_spend(org_id, start, end))


def credit_status(org_id: str, today: date | None = None, now: datetime | None = None) -> list[GrantStatus]:
    """Every grant with what it has covered so far (through today, in the org's zone) and what is left."""
    rows = _grant_rows(org_id)
    if not rows:
        return []
    if today is None:
        with session_scope() as session:
            today = billing.local_today(get_org(session, org_id).timezone, now)
    used = _consumption(org_id, rows, today + timedelta(days=1))
    out = []
    for row in rows:
        grant = _grant(row)
        remaining = used.remaining(grant)
        if today < grant.granted_on:
            state = "upcoming"
        elif today >= grant.expires_on:
            state = "expired"
        elif remaining <= 0:
            state = "used up"
        else:
            state = "active"
        out.append(
            GrantStatus(
                grant.id,
                org_id,
                grant.amount,
                _micro(used.used_by_grant.get(grant.id, ZERO)),
                _micro(remaining),
                row.granted_on,
                row.expires_on,
                row.note,
                state,
            )
        )
    return out


class MonthBilling(TypedDict):
    spent_usd: Decimal
    credits_applied_usd: Decimal
    billable_usd: Decimal
    soft_limit_usd: Decimal | None
    hard_limit_usd: Decimal | None
    quota_usd: Decimal | None


def month_billing(org_id: str, year: int, month: int) -> MonthBilling:
    """Spend, credits applied and billable amount for one calendar month in the org's time zone.

    Returns Decimal values {"spent_usd", "credits_applied_usd", "billable_usd", "soft_limit_usd",
    "hard_limit_usd", "quota_usd"}; the limits are the org-wide ones in force that month (from
    their history, so changing today's limit leaves a past month as it was), None where not set.
    """
    start, end = billing.month_bounds(year, month)
    with session_scope() as session:
        timezone = get_org(session, org_id).timezone
    spent = sum(billing.daily_spend(org_id, start, end).values(), ZERO)
    applied = _consumption(org_id, _grant_rows(org_id), end).applied_between(start, end)
    limit = month_limit(org_id, timezone, start, end)
    return {
        "spent_usd": _micro(spent),
        "credits_applied_usd": _micro(applied),
        "billable_usd": _micro(spent - applied),
        "soft_limit_usd": limit.soft_usd if limit else None,
        "hard_limit_usd": limit.hard_usd if limit else None,
        "quota_usd": limit.quota_usd if limit else None,
    }


def _micro(amount: Decimal) -> Decimal:
    return Decimal(amount).quantize(MICRO)
