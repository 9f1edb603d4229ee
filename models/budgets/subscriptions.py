"""Monthly statement subscriptions: a reader or owner asks for the org's statement by email.

A member subscribes themselves (the CLI, a system actor, may subscribe any member). The email goes
out when the org's month closes (models.budgets.snapshots), in the language and currency kept here;
they default to the org's currency and English. Hook: once member preferences exist (issue 16,
"Sessions"), `subscribe` callers pass the member's saved language and currency.
"""

from __future__ import annotations

from sqlmodel import select

from models.access.audit import record
from models.access.orgs import get_org
from models.access.roles import Actor, PermissionDenied, role_of
from models.db import session_scope
from models.tables import StatementSubscription
from models.validation import ValidationError, validate_email

LANGUAGES = ("en", "zh")
CURRENCIES = ("USD", "CNY")


def _who(actor: Actor, email: str | None) -> str:
    address = validate_email(email or actor.email or "")
    if not actor.system and address != (actor.email or "").lower():
        raise PermissionDenied(f"{actor.label} can subscribe only themselves, not {address}")
    return address


def subscribe(
    actor: Actor,
    org_id: str,
    on: bool,
    email: str | None = None,
    lang: str = "en",
    currency: str | None = None,
) -> bool:
    """Turn the monthly statement email on or off for a member; True when something changed."""
    address = _who(actor, email)
    if lang not in LANGUAGES:
        raise ValidationError(f"language {lang!r} is not one of {', '.join(LANGUAGES)}")
    with session_scope() as session:
        org = get_org(session, org_id)
        if role_of(session, Actor(address), org_id) is None:
            raise PermissionDenied(f"{address} is not a member of {org_id}")
        code = (currency or org.currency or "USD").upper()
        if code not in CURRENCIES:
            raise ValidationError(f"currency {currency!r} is not one of {', '.join(CURRENCIES)}")
        row = session.exec(
            select(StatementSubscription).where(
                StatementSubscription.org_id == org_id, StatementSubscription.email == address
            )
        ).first()
        before = None if row is None else {"lang": row.lang, "currency": row.currency}
        if not on:
            if row is None:
                return False
            session.delete(row)
            record(session, actor, "statement.unsubscribe", org_id, f"subscription:{address}", before, None)
            return True
        after = {"lang": lang, "currency": code}
        if before == after:
            return False
        row = row or StatementSubscription(org_id=org_id, email=address)
        row.lang, row.currency = lang, code
        session.add(row)
        record(session, actor, "statement.subscribe", org_id, f"subscription:{address}", before, after)
        return True


def subscription(org_id: str, email: str | None) -> dict[str, str] | None:
    """{lang, currency} of a member's subscription, or None."""
    if not email:
        return None
    with session_scope() as session:
        row = session.exec(
            select(StatementSubscription).where(
                StatementSubscription.org_id == org_id, StatementSubscription.email == email.lower()
            )
        ).first()
        return None if row is None else {"lang": row.lang, "currency": row.currency}
