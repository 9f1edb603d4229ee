"""Limits: soft/hard limits, approved quota and alert thresholds per org (and per project).

Every change goes through a service here that takes an `Actor`, checks `require_owner` and writes an
audit row in the same transaction. Amounts are stored as integer micro-dollars and handed out as
`Decimal` dollars. Limits compare against gross spend (what usage costs); credits only change what
is *billable* (see `models.budgets.credits.month_billing`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from models.access.audit import record
from models.access.orgs import get_org
from models.access.roles import Actor, require_owner
from models.db import session_scope, utcnow
from models.numbers import parse_usd
from models.tables import BudgetLimit, BudgetLimitVersion
from models.units import micros_to_usd, usd_to_micros
from models.validation import ValidationError, validate_project

DEFAULT_THRESHOLDS = (50, 80, 100)


class KeepType:
    """Sentinel: leave this field as it is."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP = KeepType()


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
    strict: bool = False  # the gateway reserves worst-case cost before forwarding (docs/gateway.md)

    @property
    def scope(self) -> str:
        return self.project_id or "(organization)"

    def as_dict(self) -> dict[str, object]:
        return {
            "org": self.org_id,
            "project": self.project_id or None,
            "soft_usd": self.soft_usd,
            "hard_usd": self.hard_usd,
            "quota_usd": self.quota_usd,
            "thresholds": list(self.thresholds),
            "strict": self.strict,
        }


def _limit_view(row: BudgetLimit) -> Limit:
    return Limit(
        row.org_id,
        row.project_id,
        micros_to_usd(row.soft_micros),
        micros_to_usd(row.hard_micros),
        micros_to_usd(row.quota_micros),
        parse_thresholds(row.thresholds),
        row.updated_at,
        row.updated_by,
        bool(row.strict),
    )


# --- validation ------------------------------------------------------------------------------


def parse_thresholds(value: str | Iterable[object]) -> tuple[int, ...]:
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


# --- limits ----------------------------------------------------------------------------------


def set_limit(
    actor: Actor,
    org_id: str,
    project_id: str | None = None,
    *,
    soft: object = KEEP,
    hard: object = KEEP,
    quota: object = KEEP,
    thresholds: str | Iterable[object] | KeepType | None = KEEP,
    strict: bool | KeepType = KEEP,
    now: datetime | None = None,
) -> Limit:
    """Create or change the limit of an org (project None/"") or one of its projects.

    Each of soft, hard, quota and thresholds is KEEP (unchanged), None (cleared; thresholds go back
    to 50,80,100) or a new value. Soft must not exceed hard, nor hard the approved quota. `strict`
    (KEEP or a bool) makes the gateway reserve each request's worst case against the hard limit.
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
            micros = None if value is None else usd_to_micros(parse_usd(value, f"{name} limit"))
            setattr(row, f"{name}_micros", micros)
        if not isinstance(thresholds, KeepType):  # (KEEP is its one instance)
            row.thresholds = ",".join(map(str, parse_thresholds(thresholds) if thresholds else DEFAULT_THRESHOLDS))
        if not isinstance(strict, KeepType):
            if not isinstance(strict, bool):
                raise ValidationError("strict must be true or false")
            row.strict = strict
        _check_order(row)
        if before is not None and _limit_view(row).as_dict() == before:
            return _limit_view(row)  # an identical re-save: nothing written, nothing audited
        row.updated_at = now or utcnow()
        row.updated_by = actor.label
        session.add(row)
        session.flush()
        _new_version(session, row, actor, row.updated_at)
        view = _limit_view(row)
        record(session, actor, "limit.set", org_id, f"limit:{project_id or '*'}", before, view.as_dict())
        return view


def _check_order(row: BudgetLimit) -> None:
    soft, hard, quota = row.soft_micros, row.hard_micros, row.quota_micros
    if soft is not None and hard is not None and soft > hard:
        raise ValidationError(f"soft limit {_usd(soft)} must not exceed the hard limit {_usd(hard)}")
    if hard is not None and quota is not None and hard > quota:
        raise ValidationError(f"hard limit {_usd(hard)} must not exceed the approved quota {_usd(quota)}")


def _usd(micros: int) -> str:
    return f"${micros_to_usd(micros):,.2f}"


def clear_limit(actor: Actor, org_id: str, project_id: str | None = None, now: datetime | None = None) -> bool:
    """Remove a limit (and so its alerts); False when there was none. Its history stays."""
    project_id = validate_project(project_id)
    with session_scope() as session:
        require_owner(session, actor, org_id)
        row = _limit_row(session, org_id, project_id)
        if row is None:
            return False
        record(session, actor, "limit.clear", org_id, f"limit:{project_id or '*'}", _limit_view(row).as_dict(), None)
        _close_version(session, org_id, project_id, now or utcnow())
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


# --- history: the limit in force at a time -----------------------------------------------------
# budget_limit holds today's limit; budget_limit_version every version with the time it took effect,
# written in the same transaction as the change, so a past month's statement reads what applied then.


def _close_version(session: Session, org_id: str, project_id: str, at: datetime) -> None:
    query = select(BudgetLimitVersion).where(
        BudgetLimitVersion.org_id == org_id,
        BudgetLimitVersion.project_id == project_id,
        col(BudgetLimitVersion.valid_to).is_(None),
    )
    for open_version in session.exec(query):
        open_version.valid_to = at
        session.add(open_version)


def _new_version(session: Session, row: BudgetLimit, actor: Actor, at: datetime) -> None:
    """The version `row` starts at `at`; a second change at the same instant (a re-run seed, two
    saves within a clock tick) replaces that version rather than adding one that lasts no time."""
    same = session.exec(
        select(BudgetLimitVersion).where(
            BudgetLimitVersion.org_id == row.org_id,
            BudgetLimitVersion.project_id == row.project_id,
            BudgetLimitVersion.valid_from == at,
        )
    ).first()
    _close_version(session, row.org_id, row.project_id, at)
    version = same or BudgetLimitVersion(org_id=row.org_id, project_id=row.project_id, valid_from=at)
    version.soft_micros, version.hard_micros, version.quota_micros = row.soft_micros, row.hard_micros, row.quota_micros
    version.thresholds, version.strict, version.changed_by = row.thresholds, row.strict, actor.label
    version.valid_to = None
    session.add(version)


def _version_view(row: BudgetLimitVersion) -> Limit:
    return Limit(
        row.org_id,
        row.project_id,
        micros_to_usd(row.soft_micros),
        micros_to_usd(row.hard_micros),
        micros_to_usd(row.quota_micros),
        parse_thresholds(row.thresholds),
        row.valid_from,
        row.changed_by,
        bool(row.strict),
    )


def limit_in_force(org_id: str, start: datetime, end: datetime, project_id: str | None = None) -> Limit | None:
    """The limit that applied during [start, end): the last version that took effect before `end`
    and was still in force after `start` (a month's limit is the one it ended with)."""
    project_id = validate_project(project_id)
    with session_scope() as session:
        query = (
            select(BudgetLimitVersion)
            .where(
                BudgetLimitVersion.org_id == org_id,
                BudgetLimitVersion.project_id == project_id,
                BudgetLimitVersion.valid_from < end,
            )
            .order_by(col(BudgetLimitVersion.valid_from).desc())
        )
        row = session.exec(query).first()  # newer versions took effect after the period
        return _version_view(row) if row and (row.valid_to is None or row.valid_to > start) else None


def month_limit(org_id: str, timezone: str, start: date, end: date) -> Limit | None:
    """The org-wide limit in force in the local month [start, end) of an org in `timezone`."""
    zone = ZoneInfo(timezone or "UTC")
    return limit_in_force(
        org_id, datetime.combine(start, datetime.min.time(), zone), datetime.combine(end, datetime.min.time(), zone)
    )


def backfill_versions(session: Session) -> int:
    """A version for every limit that has none (databases from before history was kept): it is taken
    to have applied since it was last changed, which is all that is known."""
    done = {(v.org_id, v.project_id) for v in session.exec(select(BudgetLimitVersion))}
    added = 0
    for row in session.exec(select(BudgetLimit)):
        if (row.org_id, row.project_id) not in done:
            session.add(
                BudgetLimitVersion(
                    org_id=row.org_id,
                    project_id=row.project_id,
                    soft_micros=row.soft_micros,
                    hard_micros=row.hard_micros,
                    quota_micros=row.quota_micros,
                    thresholds=row.thresholds,
                    strict=row.strict,
                    valid_from=row.updated_at,
                    changed_by=row.updated_by,
                )
            )
            added += 1
    return added
