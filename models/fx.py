"""Display-currency rates, dated: USD stays the stored truth; a CNY figure uses the rate of its day.

A rate is set from a day on (`since`, a UTC date) and holds until the next one. A day's figure uses
the rate in force that day, a month's figure the rate in force on its last day (or today, for the
month in progress). With no rate set, SPENDSIGHT_CNY_PER_USD applies and the label says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlmodel import Session, col, select

from models.access.audit import record
from models.access.roles import Actor, PermissionDenied, require_owner
from models.db import session_scope
from models.settings import get_settings
from models.tables import FxRate, Organization
from models.validation import ValidationError

CURRENCIES = ("CNY",)  # display currencies besides USD
MILLION = Decimal(1_000_000)
MAX_RATE = Decimal(100_000)
# Strict: digits and one decimal point, at most 6 places. "7,10" is refused rather than read as 710.
_RATE_RE = re.compile(r"\d{1,6}(\.\d{1,6})?")


@dataclass(frozen=True)
class Rate:
    currency: str
    rate: Decimal  # units of `currency` per USD
    since: date | None  # None: the SPENDSIGHT_CNY_PER_USD default, not a dated rate

    def label(self) -> str:
        """'at 7.10 CNY/USD since 2026-10-01' (the words a figure states next to it)."""
        base = f"{rate_text(self.rate)} {self.currency}/USD"
        return f"{base} since {self.since}" if self.since else f"{base} (SPENDSIGHT_CNY_PER_USD)"


USD = Rate("USD", Decimal(1), None)


def parse_currency(value: object) -> str:
    text = str(value or "").strip().upper()
    if text not in CURRENCIES:
        raise ValidationError(f"currency {value!r} is not one of {', '.join(CURRENCIES)}")
    return text


def parse_rate(value: object) -> Decimal:
    """A rate as typed: '7.10' (a decimal point; a comma is refused, not guessed)."""
    text = format(value, "f") if isinstance(value, Decimal) else str(value).strip()
    if not _RATE_RE.fullmatch(text):
        raise ValidationError(f"rate {value!r} is not a number like 7.10 (a decimal point, up to 6 decimals)")
    rate = Decimal(text)
    if rate <= 0 or rate > MAX_RATE:
        raise ValidationError(f"rate {value} must be greater than 0 and at most {MAX_RATE:,}")
    return rate


def _require_rate_owner(session: Session, actor: Actor) -> list[str]:
    """Rates apply to every organization, as prices do: only an owner of all of them (or the CLI).
    Returns those organizations' ids."""
    org_ids = list(session.exec(select(Organization.id).order_by(Organization.id)))
    if actor.system:
        return org_ids
    if not org_ids:
        raise PermissionDenied(f"{actor.label} cannot set exchange rates: there are no organizations to own")
    for org_id in org_ids:
        require_owner(session, actor, org_id)
    return org_ids


def set_rate(actor: Actor, currency: object, rate: object, since: date) -> Rate:
    """Set the rate in force from `since` on (replacing one set for the same day); audited as fx.set."""
    code, value = parse_currency(currency), parse_rate(rate)
    if not isinstance(since, date):
        raise ValidationError(f"since {since!r} is not a date")
    millionths = int(value * MILLION)
    with session_scope() as session:
        org_ids = _require_rate_owner(session, actor)
        row = session.exec(select(FxRate).where(FxRate.currency == code, FxRate.since == since)).first()
        before = None if row is None else {"rate": rate_text(_rate(row)), "since": since}
        if row is None:
            row = FxRate(currency=code, since=since, rate_millionths=millionths, created_by=actor.label)
        else:
            row.rate_millionths, row.created_by = millionths, actor.label
        session.add(row)
        after = {"rate": rate_text(value), "since": since}
        # One row per organization, as a price change has: each owner's audit log shows what moved
        # their CNY figures (a row with no organization would be in no one's log).
        if before != after:
            for org_id in org_ids or [""]:
                record(session, actor, "fx.set", org_id, f"fx:{code}:{since}", before, after)
    return Rate(code, value, since)


def rates(currency: str = "CNY") -> list[Rate]:
    """Every dated rate of a currency, newest first."""
    with session_scope() as session:
        rows = session.exec(select(FxRate).where(FxRate.currency == currency).order_by(col(FxRate.since).desc()))
        return [Rate(r.currency, _rate(r), r.since) for r in rows]


def _rate(row: FxRate) -> Decimal:
    return Decimal(row.rate_millionths) / MILLION


def rate_text(rate: Decimal) -> str:
    """7.1 -> '7.10', 7.12345 -> '7.12345': at least cents, never trailing noise."""
    cents = rate.quantize(Decimal("0.01"))
    return f"{cents:f}" if cents == rate else f"{rate.normalize():f}"


def rate_on(currency: str, day: date, table: list[Rate] | None = None) -> Rate:
    """The rate in force on `day` (USD is 1); the configured default before any dated rate."""
    if currency == "USD":
        return USD
    for rate in table if table is not None else rates(currency):
        if rate.since is not None and rate.since <= day:
            return rate
    return Rate(currency, Decimal(str(get_settings().cny_per_usd)), None)


def month_rate(currency: str, year: int, month: int, today: date) -> Rate:
    """A month's rate: the one in force on its last day, or today for the month in progress."""
    nxt = date(year + month // 12, month % 12 + 1, 1)
    last = date.fromordinal(nxt.toordinal() - 1)
    return rate_on(currency, min(last, today))
