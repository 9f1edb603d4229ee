"""Reading provider result objects: counts and names, with errors that name the field."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from collectors.base import RowDict, usage_row

# A JSON object as the provider sent it; every field is checked as it is read.
JSONObject = Mapping[str, object]


def count(result: JSONObject, field: str, required: bool = False) -> int:
    """A non-negative integer field (missing or null: 0, unless required)."""
    value = result.get(field)
    if value is None:
        if required:
            raise ValueError(f"{field} is missing")
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        if isinstance(value, float) and value.is_integer() and value >= 0:
            return int(value)
        raise ValueError(f"{field} must be a non-negative integer, got {value!r}")
    return value


def name(result: JSONObject, field: str, max_length: int = 200) -> str:
    """A dimension value: null when not grouped by it, which we store as ''."""
    value = result.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a string or null, got {value!r}")
    if len(value) > max_length:
        raise ValueError(f"{field} is longer than {max_length} characters")
    return value


def flag(result: JSONObject, field: str) -> bool:
    value = result.get(field)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError(f"{field} must be true, false or null, got {value!r}")
    return value


def amount(value: object, field: str) -> Decimal:
    """An exact Decimal from a JSON number or numeric string (floats go through their shortest repr)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{field} must be a number, got {value!r}")
    try:
        number = (
            Decimal(str(value))
            if isinstance(value, float)
            else Decimal(value)
            if isinstance(value, (int, str))
            else None
        )
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise ValueError(f"{field} must be a number, got {value!r}")
    return number


def usage(context: Mapping[str, object], **values: object) -> RowDict:
    """A usage bucket row: the window's context (org, source, time, width, kind) plus these values."""
    return usage_row(request_id="", **context, **values)


def billed(context: Mapping[str, object], **values: object) -> RowDict:
    row = {k: context[k] for k in ("org_id", "source", "provider", "bucket_start", "bucket_width")}
    row.update(project_id="", line_item="", model="", service_tier="", currency="USD")
    row.update(values)
    return row
