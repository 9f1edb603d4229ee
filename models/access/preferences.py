"""A member's language and display currency, kept on the server so a reload, a second tab or the
sign-in page shows the dashboard (and alert emails) the way the member chose."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel import Session, col, select

from models.access import audit
from models.access.roles import Actor, PermissionDenied
from models.db import session_scope, utcnow
from models.tables import DISPLAY_CURRENCIES, LANGUAGES, UserPreference
from models.validation import validate_choice, validate_email


@dataclass(frozen=True)
class Preferences:
    lang: str = "en"
    currency: str = "USD"


DEFAULT = Preferences()


def validate_lang(value: str) -> str:
    return validate_choice((value or "").strip().lower(), LANGUAGES, "language")


def validate_currency(value: str) -> str:
    choices = tuple(c.lower() for c in DISPLAY_CURRENCIES)
    return validate_choice(value, choices, "display currency").upper()


def get_preferences(email: str | None, session: Session | None = None) -> Preferences:
    """The member's saved choice, or English in USD when they never chose."""
    if not email:
        return DEFAULT
    if session is None:
        with session_scope() as own:
            return get_preferences(email, own)
    row = session.get(UserPreference, email.strip().lower())
    return Preferences(row.lang, row.currency) if row else DEFAULT


def saved_preferences(email: str) -> Preferences | None:
    """The member's choice, or None when they never made one."""
    with session_scope() as session:
        row = session.get(UserPreference, email.strip().lower())
        return Preferences(row.lang, row.currency) if row else None


def preferences_of(session: Session, emails: Iterable[str]) -> dict[str, Preferences]:
    """Saved preferences of these addresses (absent: never chose), in one query."""
    wanted = sorted({e.strip().lower() for e in emails if e})
    if not wanted:
        return {}
    rows = session.exec(select(UserPreference).where(col(UserPreference.email).in_(wanted)))
    return {r.email: Preferences(r.lang, r.currency) for r in rows}


def set_preferences(actor: Actor, email: str, lang: str | None = None, currency: str | None = None) -> Preferences:
    """Save a member's own language and/or currency (the CLI may set anyone's); an unchanged save
    writes nothing, so switching back and forth does not fill the audit log with no-ops."""
    email = validate_email(email)
    if not actor.system and (actor.email or "").lower() != email:
        raise PermissionDenied(f"{actor.label} cannot change the preferences of {email}")
    with session_scope() as session:
        row = session.get(UserPreference, email)
        before = Preferences(row.lang, row.currency) if row else DEFAULT
        after = Preferences(
            validate_lang(lang) if lang is not None else before.lang,
            validate_currency(currency) if currency is not None else before.currency,
        )
        if row is not None and after == before:
            return after
        if row is None:
            row = UserPreference(email=email)
        row.lang, row.currency, row.updated_at = after.lang, after.currency, utcnow()
        session.add(row)
        audit.record(
            session,
            actor,
            "user.preferences",
            entity=email,
            before={"lang": before.lang, "currency": before.currency},
            after={"lang": after.lang, "currency": after.currency},
        )
    return after
