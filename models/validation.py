"""Validation of what people type: one error type whose message names the field, and the checks
every domain shares (names, emails, time zones, choices, project ids)."""

from __future__ import annotations

import re
from functools import cache
from zoneinfo import available_timezones

import email_validator


def validate_project(value: str | None) -> str:
    value = (value or "").strip()
    if len(value) > 200:
        raise ValidationError("project is longer than 200 characters")
    if CONTROL_RE.search(value):
        raise ValidationError("project contains control characters")
    return value


CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


ORG_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")  # what an organization id may be


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
    """One address, checked by email-validator (RFC 5322/6531 syntax, no DNS lookup): a list such as
    `ceo,attacker@evil.example` or a display name is refused, not stored and mailed as two."""
    text = (value or "").strip()
    try:
        checked = email_validator.validate_email(text, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        raise ValidationError(f"email {text[:320]!r} is not a valid address (e.g. ana@example.com): {exc}") from None
    return checked.normalized.lower()  # stored lower-case: sign-in and membership compare addresses exactly


def validate_timezone(value: str) -> str:
    """An IANA zone name from the list the Organizations page offers (timezones())."""
    value = (value or "UTC").strip()
    if value not in _zones():
        raise ValidationError(f"time zone {value[:80]!r} is unknown; use an IANA name such as Europe/Berlin")
    return value


def validate_choice(value: str, choices: tuple[str, ...], field: str) -> str:
    value = (value or "").strip().lower()
    if value not in choices:
        raise ValidationError(f"{field} {value!r} must be one of {', '.join(choices)}")
    return value


# What tzdata ships besides real zones: the POSIX-rule and leap-second copies, the local machine's
# zone and placeholders. ZoneInfo loads them all, but an org's day boundaries must not depend on them.
_NOT_ZONES = re.compile(r"^(?:posix/|right/)|^(?:posixrules|localtime|Factory)$")


@cache
def _zones() -> frozenset[str]:
    return frozenset(z for z in available_timezones() if not _NOT_ZONES.search(z))


def timezones() -> list[str]:
    """The IANA zone names an org may use, sorted (what the Organizations page offers)."""
    return sorted(_zones())
