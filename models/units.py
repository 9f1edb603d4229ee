"""Units every domain shares, defined once: micro-dollars, hours and days, months."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import overload

ZERO = Decimal(0)
MICRO = Decimal("0.000001")  # one micro-dollar: stored amounts are integers of these
MICROS_PER_USD = Decimal(1_000_000)
HOUR, DAY = 3600, 86400  # seconds: bucket widths as providers and the usage table state them


def usd_to_micros(amount: Decimal) -> int:
    """Dollars to whole micro-dollars, half to even (banker's rounding, as providers round)."""
    return int((Decimal(amount) * MICROS_PER_USD).to_integral_value(ROUND_HALF_EVEN))


@overload
def micros_to_usd(micros: int) -> Decimal: ...
@overload
def micros_to_usd(micros: int | None) -> Decimal | None: ...
def micros_to_usd(micros: int | None) -> Decimal | None:
    if micros is None:
        return None
    return Decimal(micros) / MICROS_PER_USD


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def floor_day(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    """The same day `months` later (or earlier), clamped to the month's length."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
