"""The one parser for numbers and money people type: a decimal point, commas only between thousands.

A decimal comma (`1,5`, `2,50`) is refused rather than read as 15 or 250: stripping commas, as the
old parser did, silently multiplied a European-style amount by ten or a hundred. Python's Decimal
alone accepts `1_000`, `NaN`, `Infinity` and exponents, none of which a person means by an amount.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from models.validation import ValidationError

MAX_USD = Decimal(1_000_000_000)  # a billion dollars: far above any budget, far below what BIGINT micros hold

# Optional sign; digits, either plain or grouped by commas in threes (1,500 / 12,345,678); an
# optional fraction after a point; or a bare fraction (.5).
_NUMBER = re.compile(r"[+-]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?")


def parse_decimal(value: object, field: str, what: str = "a number") -> Decimal:
    """`value` (text, int or Decimal) as a finite Decimal; ValidationError naming `field` otherwise."""
    if isinstance(value, bool):
        raise ValidationError(f"{field} {value!r} is not {what}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValidationError(f"{field} {value} is not {what}")
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValidationError(f"{field} {value!r} is not {what}")
        return Decimal(repr(value))
    text = str(value).strip() if value is not None else ""
    if not _NUMBER.fullmatch(text):
        if re.fullmatch(r"[+-]?\d+,\d{1,2}", text):
            hint = "; use a point for decimals (1.5), commas only between thousands (1,500.25)"
        else:
            hint = " (e.g. 120, 12.50 or 1,500.25)"
        raise ValidationError(f"{field} {text[:40]!r} is not {what}{hint}")
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:  # the pattern admits only what Decimal reads; kept for safety
        raise ValidationError(f"{field} {text[:40]!r} is not {what}") from None


def parse_usd(value: object, field: str, allow_zero: bool = False) -> Decimal:
    """A dollar amount: '120', '$12.50', '1,500.25', Decimal; at most 6 decimals, up to MAX_USD."""
    if isinstance(value, str):
        value = value.strip().removeprefix("$").strip()
    amount = parse_decimal(value, field, "an amount in USD")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise ValidationError(f"{field} must be greater than 0 (got {value})")
    if amount > MAX_USD:
        raise ValidationError(f"{field} {value} is larger than {MAX_USD:,} USD")
    if amount != amount.quantize(Decimal("0.000001")):
        raise ValidationError(f"{field} {value} has more than 6 decimal places")
    return amount
