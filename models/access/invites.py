"""Invitations: an owner sends a member without an account a one-time link to set a password.

The link carries a random token; the database keeps only its SHA-256, who it is for, when it ends
and when it was used, so a link works once, until it expires, and not after a newer one replaced it.
Sending the email is alerts/invites.py's job (models/ sends nothing).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from models.access import audit, auth
from models.access.roles import Actor, require_owner
from models.db import session_scope, utcnow
from models.tables import Invite, Member, User
from models.validation import ValidationError, validate_email

INVITE_LIFETIME = timedelta(hours=72)  # the default; SPENDSIGHT_AUTH_INVITE_HOURS sets it


class InviteError(ValidationError):
    """A link that cannot be used; `reason` is unknown | used | expired | replaced (for the page's text)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"this invitation link is {reason}")
        self.reason = reason


@dataclass(frozen=True)
class NewInvite:
    email: str
    org_id: str
    token: str  # goes into the emailed link only
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def has_account(session: Session, emails: Iterable[str]) -> set[str]:
    """Which of these addresses can sign in with a password."""
    wanted = sorted({e.lower() for e in emails if e})
    if not wanted:
        return set()
    return set(session.exec(select(User.email).where(col(User.email).in_(wanted))))


def pending_invites(session: Session, org_id: str, now: datetime | None = None) -> dict[str, datetime]:
    """email -> when its live invitation for this org expires."""
    now = now or utcnow()
    rows = session.exec(
        select(Invite).where(
            Invite.org_id == org_id,
            col(Invite.used_at).is_(None),
            col(Invite.revoked_at).is_(None),
            Invite.expires_at > now,
        )
    )
    return {r.email: r.expires_at for r in rows}


def account_status(org_id: str, now: datetime | None = None) -> dict[str, str]:
    """Each member of the org: "account" (can sign in with a password), "invited" (a live link) or "none"."""
    with session_scope() as session:
        emails = [m.email for m in session.exec(select(Member).where(Member.org_id == org_id))]
        accounts = has_account(session, emails)
        invited = pending_invites(session, org_id, now)
    return {e: "account" if e in accounts else "invited" if e in invited else "none" for e in emails}


def create_invite(
    actor: Actor, org_id: str, email: str, lifetime: timedelta = INVITE_LIFETIME, now: datetime | None = None
) -> NewInvite:
    """An owner invites a member of their org who has no account yet; an earlier link stops working."""
    now = now or utcnow()
    email = validate_email(email)
    with session_scope() as session:
        require_owner(session, actor, org_id)
        member = session.exec(select(Member).where(Member.org_id == org_id, Member.email == email)).first()
        if member is None:
            raise ValidationError(f"{email} is not a member of {org_id}: add them as a member first")
        if has_account(session, [email]):
            raise ValidationError(f"{email} already has an account and can sign in")
        for old in session.exec(
            select(Invite).where(Invite.email == email, col(Invite.used_at).is_(None), col(Invite.revoked_at).is_(None))
        ):
            old.revoked_at = now
            session.add(old)
        token = secrets.token_urlsafe(32)
        expires = now + lifetime
        session.add(
            Invite(
                token_sha256=_digest(token),
                email=email,
                org_id=org_id,
                invited_by=actor.label,
                created_at=now,
                expires_at=expires,
            )
        )
        audit.record(session, actor, "member.invite", org_id, email, None, {"email": email, "expires_at": expires})
    return NewInvite(email, org_id, token, expires)


def cancel_invite(actor: Actor, org_id: str, email: str, now: datetime | None = None) -> None:
    """An owner withdraws a link (sending it failed, or it went to the wrong place)."""
    email = validate_email(email)
    with session_scope() as session:
        require_owner(session, actor, org_id)
        for row in session.exec(
            select(Invite).where(
                Invite.org_id == org_id,
                Invite.email == email,
                col(Invite.used_at).is_(None),
                col(Invite.revoked_at).is_(None),
            )
        ):
            row.revoked_at = now or utcnow()
            session.add(row)
        audit.record(session, actor, "member.invite_cancel", org_id, email)


def _live(session: Session, token: str, now: datetime) -> Invite:
    row = session.exec(select(Invite).where(Invite.token_sha256 == _digest(token or ""))).first() if token else None
    if row is None:
        raise InviteError("unknown")
    if row.used_at is not None:
        raise InviteError("used")
    if row.revoked_at is not None:
        raise InviteError("replaced")
    if now >= row.expires_at:
        raise InviteError("expired")
    return row


def check_invite(token: str, now: datetime | None = None) -> str:
    """The invited email, or InviteError (the page shows the form only for a live link)."""
    with session_scope() as session:
        return _live(session, token, now or utcnow()).email


def accept_invite(token: str, password: str, now: datetime | None = None) -> str:
    """Set the invited member's password (creating the account) and use up the link; returns a session token."""
    now = now or utcnow()
    with session_scope() as session:
        row = _live(session, token, now)
        email = row.email
        auth.validate_password(password, email)
        if has_account(session, [email]):
            raise ValidationError(f"{email} already has an account and can sign in")
        row.used_at = now
        session.add(row)
        session.add(User(email=email, password_hash=auth.hash_password(password)))
        audit.record(session, Actor(email), "user.add", row.org_id, email, None, {"email": email, "via": "invite"})
    return auth.start_session(email, "password", now=now)
