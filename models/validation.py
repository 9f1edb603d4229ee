"""Validation of what people type: one error type whose message names the field, and the checks
every domain shares (names, emails, time zones, choices, project ids)."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


def validate_project(value: str | None) -> str:
    value = (value or "").strip()
    if len(value) > 200:
        raise ValidationError("project is longer than 200 characters")
    if CONTROL_RE.search(value):
        raise ValidationError("project contains control characters")
    return value


EMAIL_RE = re.compile(r"^[^@\s<>\"']{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$")


CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class ValidationError(ValueError):
    """User input that cannot be stored; the message says which field and why."""


def validate_name(value: str, field: str = "name", max_length: int = 200) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError(f"{field} must not be empty")
    if len(value) > max_length:
        raise ValidationError(f"{field} is longer than {max_length} characters")
    if CONTROL_RE.search(value):
        raise ValidationError(f"{field} contains control characters")
    return value


def validate_email(value: str) -> str:
    value = (value or "").strip().lower()
    if len(value) > 320 or not EMAIL_RE.match(value):
        raise ValidationError(f"email {value!r} is not a valid address (e.g. ana@example.com)")
    return value


def validate_timezone(value: str) -> str:
    value = (value or "UTC").strip()
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"time zone {value!r} is unknown; use an IANA name such as Europe/Berlin") from None
    return value


def validate_choice(value: str, choices: tuple[str, ...], field: str) -> str:
    value = (value or "").strip().lower()
    if value not in choices:
        raise ValidationError(f"{field} {value!r} must be one of {', '.join(choices)}")
    return value


def timezones() -> list[str]:
    return sorted(available_timezones())
