"""Billing periods and credit consumption: date and money math (only `daily_spend` reads the database).

Periods are calendar months in the organization's time zone. Credit grants are consumed day by day,
oldest-expiring first, before any spend becomes billable. A grant can be used on the days
`granted_on <= day < expires_on` (the expiry date is the first day it no longer applies).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from models.spend.queries import SpendQuery, spend
from models.units import ZERO


def local_today(timezone: str, now: datetime | None = None) -> date:
    """Today's date in the org's time zone."""
    now = now or datetime.now(UTC)
    return now.astimezone(ZoneInfo(timezone or "UTC")).date()


def month_bounds(year: int, month: int) -> tuple[date, date]:
    """First day of the month and first day of the next (exclusive end), as local dates."""
    if not 1 <= month <= 12:
        raise ValueError(f"month {month} must be 1-12")
    start = date(year, month, 1)
    return start, start + timedelta(days=calendar.monthrange(year, month)[1])


def month_label(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def days_in_month(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def month_end(day: date) -> date:
    """Last day of the month containing `day`."""
    return day.replace(day=days_in_month(day))


def fraction_of_day_elapsed(timezone: str, now: datetime | None = None) -> float:
    now = (now or datetime.now(UTC)).astimezone(ZoneInfo(timezone or "UTC"))
    return (now.hour * 3600 + now.minute * 60 + now.second) / 86400


@dataclass(frozen=True)
class Grant:
    """A credit grant as billing sees it."""

    id: int
    amount: Decimal
    granted_on: date
    expires_on: date

    def active_on(self, day: date) -> bool:
        return self.granted_on <= day < self.expires_on


@dataclass
class Consumption:
    """What the grants covered, per day and per grant, over a run of days."""

    applied_by_day: dict[date, Decimal] = field(default_factory=dict)
    used_by_grant: dict[int, Decimal] = field(default_factory=dict)

    def applied_between(self, start: date, end: date) -> Decimal:
        """Credits applied on days start <= day < end."""
        return sum((v for d, v in self.applied_by_day.items() if start <= d < end), ZERO)

    def remaining(self, grant: Grant) -> Decimal:
        return grant.amount - self.used_by_grant.get(grant.id, ZERO)


def consume(grants: Iterable[Grant], daily_spend: Mapping[date, Decimal]) -> Consumption:
    """Apply grants to each day's spend in date order, the grant expiring soonest first.

    Ties on expiry go to the grant given earlier, then the lower id, so the result never depends
    on the order grants are listed in.
    """
    grants = sorted(grants, key=lambda g: (g.expires_on, g.granted_on, g.id))
    left = {g.id: g.amount for g in grants}
    out = Consumption(used_by_grant=dict.fromkeys(left, ZERO))
    for day in sorted(daily_spend):
        due = Decimal(daily_spend[day])
        if due <= 0:
            continue
        applied = ZERO
        for grant in grants:
            if due <= 0:
                break
            if not grant.active_on(day) or left[grant.id] <= 0:
                continue
            take = min(left[grant.id], due)
            left[grant.id] -= take
            out.used_by_grant[grant.id] += take
            due -= take
            applied += take
        if applied:
            out.applied_by_day[day] = applied
    return out


def daily_spend(org_id: str, start: date, end: date, project: str | None = None) -> dict[date, Decimal]:
    """Spend per local day of the org for start <= day < end (days without usage are absent)."""
    if end <= start:
        return {}
    filters = {"project": [project]} if project is not None else None
    rows = spend(SpendQuery.make(org_id, start, end, by=("day",), filters=filters))
    return {date.fromisoformat(str(r.keys["day"])): r.cost for r in rows}


def daily_spend_by_project(org_id: str, start: date, end: date) -> dict[str, dict[date, Decimal]]:
    """Spend per project and local day for start <= day < end, in one query (days without usage absent)."""
    if end <= start:
        return {}
    out: dict[str, dict[date, Decimal]] = {}
    for r in spend(SpendQuery.make(org_id, start, end, by=("project", "day"))):
        out.setdefault(str(r.keys["project"] or ""), {})[date.fromisoformat(str(r.keys["day"]))] = r.cost
    return out
