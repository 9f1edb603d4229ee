"""Budgets: soft/hard limits, approved quota and alert thresholds per org (and per project), credit grants.

Every change goes through a service here that takes an `Actor`, checks `require_owner` and writes an
audit row in the same transaction. Amounts are stored as integer micro-dollars and handed out as
`Decimal` dollars. Limits compare against gross spend (what usage costs); credits only change what
is *billable* (see `month_billing`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation

from sqlalchemy import BigInteger, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, select

from models import billing
from models.access import require_owner
from models.audit import record
from models.db import UTCDateTime, session_scope, utcnow
from models.orgs import CONTROL_RE, Actor, ValidationError, get_org

DEFAULT_THRESHOLDS = (50, 80, 100)
MAX_USD = Decimal(1_000_000_000)
ORG_WIDE = ""  # project_id of a limit that covers the whole organization


class KeepType:
    """Sentinel: leave this field as it is."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP = KeepType()


# --- tables ----------------------------------------------------------------------------------


class BudgetLimitBase(SQLModel):
    org_id: str = Field(foreign_key="organization.id", index=True, ondelete="CASCADE", max_length=100)
    project_id: str = Field(default=ORG_WIDE, max_length=200)  # "" = the whole organization
    soft_micros: int | None = Field(default=None, sa_type=BigInteger)
    hard_micros: int | None = Field(default=None, sa_type=BigInteger)
    quota_micros: int | None = Field(default=None, sa_type=BigInteger)  # approved monthly usage limit
    thresholds: str = Field(default="50,80,100", max_length=200)  # percent of the soft limit


class BudgetLimit(BudgetLimitBase, table=True):
    __tablename__ = "budget_limit"
    __table_args__ = (UniqueConstraint("org_id", "project_id", name="uq_budget_limit_org_project"),)
    id: int | None = Field(default=None, primary_key=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_by: str = Field(default="", max_length=320)


class CreditGrantBase(SQLModel):
    org_id: str = Field(foreign_key="organization.id", index=True, ondelete="CASCADE", max_length=100)
    amount_micros: int = Field(sa_type=BigInteger)
    granted_on: date  # first local day it applies to
    expires_on: date  # first local day it no longer applies to
    note: str = Field(default="", max_length=200)


class CreditGrant(CreditGrantBase, table=True):
    __tablename__ = "credit_grant"
    __table_args__ = (
        UniqueConstraint("org_id", "granted_on", "expires_on", "amount_micros", "note", name="uq_credit_grant"),
    )
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(default="", max_length=320)


# --- plain views handed to pages, the CLI and alerts -------------------------------------------


@dataclass(frozen=True)
class Limit:
    org_id: str
    project_id: str
    soft_usd: Decimal | None
    hard_usd: Decimal | None
    quota_usd: Decimal | None
    thresholds: tuple[int, ...]
    updated_at: datetime | None = None
    updated_by: str = ""

    @property
    def scope(self) -> str:
        return self.project_id or "(organization)"

    def as_dict(self) -> dict:
        return {"org": self.org_id, "project": self.project_id or None, "soft_usd": self.soft_usd,
                "hard_usd": self.hard_usd, "quota_usd": self.quota_usd, "thresholds": list(self.thresholds)}


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


def _limit_view(row: BudgetLimit) -> Limit:
    return Limit(row.org_id, row.project_id, billing.micros_to_usd(row.soft_micros),
                 billing.micros_to_usd(row.hard_micros), billing.micros_to_usd(row.quota_micros),
                 parse_thresholds(row.thresholds), row.updated_at, row.updated_by)


def _grant(row: CreditGrant) -> billing.Grant:
    return billing.Grant(row.id, billing.micros_to_usd(row.amount_micros), row.granted_on, row.expires_on)


# --- validation ------------------------------------------------------------------------------


def parse_usd(value, field: str, allow_zero: bool = False) -> Decimal:
    """A dollar amount from user input: '120', '12.50', Decimal; clear errors otherwise."""
    text = str(value).strip().lstrip("$").replace(",", "") if not isinstance(value, Decimal) else value
    try:
        amount = Decimal(text)
    except (InvalidOperation, ValueError):
        raise ValidationError(f"{field} {value!r} is not an amount in USD (e.g. 120 or 12.50)") from None
    if not amount.is_finite():
        raise ValidationError(f"{field} {value!r} is not an amount in USD")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise ValidationError(f"{field} must be greater than 0 (got {value})")
    if amount > MAX_USD:
        raise ValidationError(f"{field} {value} is larger than {MAX_USD:,} USD")
    if amount != amount.quantize(Decimal("0.000001")):
        raise ValidationError(f"{field} {value} has more than 6 decimal places")
    return amount


def parse_thresholds(value) -> tuple[int, ...]:
    """'50,80,100' or [50, 80, 100] -> (50, 80, 100): percentages of the soft limit, ascending."""
    items = value.split(",") if isinstance(value, str) else list(value)
    out = []
    for item in items:
        text = str(item).strip().rstrip("%")
        if not text:
            continue
        if not re.fullmatch(r"\d{1,4}", text):
            raise ValidationError(f"thresholds: {str(item).strip()!r} is not a whole percentage (e.g. 50,80,100)")
        pct = int(text)
        if not 1 <= pct <= 1000:
            raise ValidationError(f"thresholds: {pct} must be between 1 and 1000 percent")
        out.append(pct)
    if not out:
        raise ValidationError("thresholds must list at least one percentage (e.g. 50,80,100)")
    if len(set(out)) != len(out):
        raise ValidationError(f"thresholds: {value!r} repeats a percentage")
    return tuple(sorted(out))


def validate_project(value: str | None) -> str:
    value = (value or "").strip()
    if len(value) > 200:
        raise ValidationError("project is longer than 200 characters")
    if CONTROL_RE.search(value):
        raise ValidationError("project contains control characters")
    return value


# --- limits ----------------------------------------------------------------------------------


def set_limit(actor: Actor, org_id: str, project_id: str | None = None, *, soft=KEEP, hard=KEEP, quota=KEEP,
              thresholds=KEEP) -> Limit:
    """Create or change the limit of an org (project None/"") or one of its projects.

    Each of soft, hard, quota and thresholds is KEEP (unchanged), None (cleared; thresholds go back
    to 50,80,100) or a new value. Soft must not exceed hard, nor hard the approved quota.
    """
    project_id = validate_project(project_id)
    with session_scope() as session:
        require_owner(session, actor, org_id)
        get_org(session, org_id)
        row = _limit_row(session, org_id, project_id)
        before = _limit_view(row).as_dict() if row else None
        if row is None:
            row = BudgetLimit(org_id=org_id, project_id=project_id)
        for name, value in (("soft", soft), ("hard", hard), ("quota", quota)):
            if value is KEEP:
                continue
            micros = None if value is None else billing.usd_to_micros(parse_usd(value, f"{name} limit"))
            setattr(row, f"{name}_micros", micros)
        if thresholds is not KEEP:
            row.thresholds = ",".join(map(str, parse_thresholds(thresholds) if thresholds else DEFAULT_THRESHOLDS))
        _check_order(row)
        row.updated_at = utcnow()
        row.updated_by = actor.label
        session.add(row)
        session.flush()
        view = _limit_view(row)
        record(session, actor, "limit.set", org_id, f"limit:{project_id or '*'}", before, view.as_dict())
        return view


def _check_order(row: BudgetLimit) -> None:
    soft, hard, quota = row.soft_micros, row.hard_micros, row.quota_micros
    if soft is not None and hard is not None and soft > hard:
        raise ValidationError(
            f"soft limit {_usd(soft)} must not exceed the hard limit {_usd(hard)}"
        )
    if hard is not None and quota is not None and hard > quota:
        raise ValidationError(
            f"hard limit {_usd(hard)} must not exceed the approved quota {_usd(quota)}"
        )


def _usd(micros: int) -> str:
    return f"${billing.micros_to_usd(micros):,.2f}"


def clear_limit(actor: Actor, org_id: str, project_id: str | None = None) -> bool:
    """Remove a limit (and so its alerts); False when there was none."""
    project_id = validate_project(project_id)
    with session_scope() as session:
        require_owner(session, actor, org_id)
        row = _limit_row(session, org_id, project_id)
        if row is None:
            return False
        record(session, actor, "limit.clear", org_id, f"limit:{project_id or '*'}", _limit_view(row).as_dict(), None)
        session.delete(row)
        return True


def _limit_row(session: Session, org_id: str, project_id: str) -> BudgetLimit | None:
    query = select(BudgetLimit).where(BudgetLimit.org_id == org_id, BudgetLimit.project_id == project_id)
    return session.exec(query).first()


def get_limit(org_id: str, project_id: str | None = None) -> Limit | None:
    with session_scope() as session:
        row = _limit_row(session, org_id, validate_project(project_id))
        return _limit_view(row) if row else None


def limits(org_id: str) -> list[Limit]:
    """The org-wide limit first, then project limits by project id."""
    with session_scope() as session:
        rows = session.exec(select(BudgetLimit).where(BudgetLimit.org_id == org_id).order_by(BudgetLimit.project_id))
        return [_limit_view(r) for r in rows]


# --- credit grants ---------------------------------------------------------------------------


def add_credit(actor: Actor, org_id: str, amount, expires_on: date, granted_on: date | None = None,
               note: str = "", now: datetime | None = None) -> tuple[GrantStatus, bool]:
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
        micros = billing.usd_to_micros(amount)
        existing = session.exec(
            select(CreditGrant).where(
                CreditGrant.org_id == org_id, CreditGrant.granted_on == granted_on,
                CreditGrant.expires_on == expires_on, CreditGrant.amount_micros == micros, CreditGrant.note == note,
            )
        ).first()
        if existing is not None:
            row, created = existing, False
        else:
            row = CreditGrant(org_id=org_id, amount_micros=micros, granted_on=granted_on, expires_on=expires_on,
                              note=note, created_by=actor.label)
            session.add(row)
            session.flush()
            record(session, actor, "credit.add", org_id, f"credit:{row.id}", None,
                   {"amount_usd": amount, "granted_on": granted_on, "expires_on": expires_on, "note": note})
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
        record(session, actor, "credit.remove", org_id, f"credit:{grant_id}",
               {"amount_usd": billing.micros_to_usd(row.amount_micros), "granted_on": row.granted_on,
                "expires_on": row.expires_on, "note": row.note}, None)
        session.delete(row)


def _grant_rows(org_id: str) -> list[CreditGrant]:
    with session_scope() as session:
        query = select(CreditGrant).where(CreditGrant.org_id == org_id)
        return list(session.exec(query.order_by(CreditGrant.expires_on, CreditGrant.granted_on, CreditGrant.id)))


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
        out.append(GrantStatus(row.id, org_id, grant.amount, _micro(used.used_by_grant.get(row.id, billing.ZERO)),
                               _micro(remaining), row.granted_on, row.expires_on, row.note, state))
    return out


# --- the monthly bill ------------------------------------------------------------------------


def month_billing(org_id: str, year: int, month: int) -> dict:
    """Spend, credits applied and billable amount for one calendar month in the org's time zone.

    Returns Decimal values {"spent_usd", "credits_applied_usd", "billable_usd", "soft_limit_usd",
    "hard_limit_usd", "quota_usd"}; the limits are the org-wide ones and None where not set.
    """
    start, end = billing.month_bounds(year, month)
    spent = sum(billing.daily_spend(org_id, start, end).values(), billing.ZERO)
    applied = _consumption(org_id, _grant_rows(org_id), end).applied_between(start, end)
    limit = get_limit(org_id)
    return {
        "spent_usd": _micro(spent),
        "credits_applied_usd": _micro(applied),
        "billable_usd": _micro(spent - applied),
        "soft_limit_usd": limit.soft_usd if limit else None,
        "hard_limit_usd": limit.hard_usd if limit else None,
        "quota_usd": limit.quota_usd if limit else None,
    }


def _micro(amount: Decimal) -> Decimal:
    return Decimal(amount).quantize(billing.MICRO)


# --- demo ------------------------------------------------------------------------------------


def load_demo_budgets(now: datetime) -> None:
    """Demo limits around this month's forecast, a project limit, and an $18 trial credit on staging."""
    from models.forecast import forecast_scope

    actor = Actor.cli()
    now = now.astimezone(UTC)
    prod = forecast_scope("org-prod", now=now)
    if prod is not None and prod.p50 > 0:
        set_limit(actor, "org-prod", soft=_round(prod.p50 * Decimal("0.85"), ROUND_FLOOR),
                  hard=_round(prod.p50 * Decimal("1.3"), ROUND_CEILING),
                  quota=_round(prod.p50 * Decimal("2"), ROUND_CEILING), thresholds=DEFAULT_THRESHOLDS)
    rag = forecast_scope("org-prod", project="search-rag", now=now)
    if rag is not None and rag.p50 > 0:
        set_limit(actor, "org-prod", "search-rag", soft=_round(rag.p50 * Decimal("1.1"), ROUND_CEILING),
                  hard=_round(rag.p50 * Decimal("1.5"), ROUND_CEILING), thresholds=(80, 100))
    with session_scope() as session:
        tz = get_org(session, "org-staging").timezone
    granted = billing.local_today(tz, now)  # staging burns ~$11 a day: a fresh grant shows it running out
    expires = _add_months(granted, 3)
    add_credit(actor, "org-staging", Decimal(18), expires, granted, note="trial credit", now=now)


def _round(amount: Decimal, rounding) -> Decimal:
    """A friendly limit: whole dollars, at least $1."""
    return max(Decimal(1), amount.quantize(Decimal(1), rounding=rounding))


def _add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, billing.days_in_month(date(year, month, 1))))
