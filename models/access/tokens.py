"""OTLP ingest tokens: owners create and revoke them; the receiver resolves one to the org it writes to.

A token is shown once, when created; the database keeps its SHA-256. A token writes only to its own
org, whatever the spans it carries say about themselves.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text
from sqlmodel import Session, col, select

from models.access import audit
from models.access.orgs import get_org, validate_org_id
from models.access.roles import Actor, require_owner
from models.db import session_scope, utcnow
from models.tables import IngestToken
from models.validation import ValidationError

PREFIX = "sst_"  # recognisable in a leaked-secret scan and in a misplaced header
MAX_TOKEN = 200  # longer bearer values are refused before hashing


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token after its creation: never the token itself."""

    id: int
    org_id: str
    name: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _info(row: IngestToken) -> TokenInfo:
    assert row.id is not None  # rows read back from the database have ids
    return TokenInfo(row.id, row.org_id, row.name, row.created_at, row.created_by, row.revoked_at)


def create_token(actor: Actor, org_id: str, name: str = "") -> tuple[str, TokenInfo]:
    """A new token for `org_id` (owners only); returns the token, the only time it is seen, and its info."""
    org_id = validate_org_id(org_id)
    name = (name or "").strip()
    if len(name) > 200:
        raise ValidationError("token name is longer than 200 characters")
    token = PREFIX + secrets.token_urlsafe(32)
    with session_scope() as session:
        get_org(session, org_id)
        require_owner(session, actor, org_id)
        row = IngestToken(org_id=org_id, token_sha256=_digest(token), name=name, created_by=actor.label)
        session.add(row)
        session.flush()
        audit.record(session, actor, "ingest_token.create", org_id, f"token {row.id}", None, {"name": name})
        info = _info(row)
    return token, info


def list_tokens(actor: Actor, org_id: str) -> list[TokenInfo]:
    """The org's tokens, newest first, revoked ones included (owners only: they are credentials)."""
    with session_scope() as session:
        get_org(session, org_id)
        require_owner(session, actor, org_id)
        query = select(IngestToken).where(col(IngestToken.org_id) == org_id).order_by(col(IngestToken.id).desc())
        return [_info(row) for row in session.exec(query)]


def revoke_token(actor: Actor, token_id: int) -> TokenInfo:
    """Revoke a token by id (owners of its org only); revoking twice changes nothing."""
    with session_scope() as session:
        row = _get(session, token_id)
        require_owner(session, actor, row.org_id)
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            session.add(row)
            audit.record(
                session,
                actor,
                "ingest_token.revoke",
                row.org_id,
                f"token {token_id}",
                {"revoked": False},
                {"revoked": True},
            )
            session.flush()
        return _info(row)


def _get(session: Session, token_id: int) -> IngestToken:
    row = session.get(IngestToken, token_id)
    if row is None:
        raise ValidationError(f"ingest token {token_id} does not exist")
    return row


def org_for_token(conn: Connection, token: str) -> str | None:
    """The org a presented token writes to, or None when it is unknown or revoked."""
    if not token.startswith(PREFIX) or len(token) > MAX_TOKEN:
        return None
    digest = _digest(token)
    found = conn.execute(
        text("SELECT token_sha256, org_id FROM ingest_token WHERE token_sha256 = :d AND revoked_at IS NULL"),
        {"d": digest},
    ).first()
    # The lookup is by digest; comparing again in constant time costs nothing and keeps timing flat.
    if found is None or not hmac.compare_digest(found[0], digest):
        return None
    return str(found[1])
