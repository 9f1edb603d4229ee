"""Gateway keys, upstream provider settings and strict-limit reservations: owner-only, audited changes
and the reads the gateway makes.

A gateway key is a high-entropy `ssk-` token shown once; only its SHA-256 is stored (a fast hash is
enough for 256 random bits: there is nothing to guess). The upstream provider key is named by the
variable holding it, never stored, and goes through the same key-name and base-URL policy as sources.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text
from sqlmodel import Session, col, select

from models.access.audit import record
from models.access.orgs import get_org
from models.access.policy import PolicyError, check_base_url, check_key_env, check_key_env_at_run
from models.access.roles import Actor, require_owner
from models.db import bind_time, get_engine, insert_for, session_scope, table_of, utcnow
from models.sources import validate_base_url, validate_key_env
from models.tables import GatewayBudget, GatewayKey, GatewayUpstream
from models.validation import CONTROL_RE, ValidationError, validate_project

TOKEN_PREFIX = "ssk-"
GATEWAY_PROVIDERS = ("openai", "anthropic")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True)
class KeyView:
    id: str  # the public id, gk_...
    org_id: str
    project_id: str
    name: str
    prefix: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "org": self.org_id,
            "project": self.project_id or None,
            "name": self.name,
            "prefix": self.prefix,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def _view(row: GatewayKey) -> KeyView:
    return KeyView(
        row.public_id, row.org_id, row.project_id, row.name, row.prefix, row.created_at, row.created_by, row.revoked_at
    )


def _name(value: str | None) -> str:
    value = (value or "").strip()
    if len(value) > 200 or CONTROL_RE.search(value):
        raise ValidationError("name must be at most 200 characters without control characters")
    return value


def create_key(
    actor: Actor, org_id: str, project_id: str | None = None, name: str | None = None
) -> tuple[str, KeyView]:
    """A new gateway key: (the token, shown this once, and its view)."""
    project = validate_project(project_id)
    label = _name(name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with session_scope() as session:
        require_owner(session, actor, org_id)
        get_org(session, org_id)
        row = GatewayKey(
            public_id="gk_" + secrets.token_hex(8),
            org_id=org_id,
            project_id=project,
            name=label,
            key_sha256=hash_token(token),
            prefix=token[:10],
            created_by=actor.label,
        )
        session.add(row)
        session.flush()
        view = _view(row)
        record(session, actor, "gateway.key.create", org_id, f"gateway_key:{row.public_id}", None, view.as_dict())
    return token, view


def revoke_key(actor: Actor, key_id: str) -> KeyView:
    """Revoke a key (by its gk_ id); the gateway refuses it from its next refresh (seconds)."""
    with session_scope() as session:
        row = session.exec(select(GatewayKey).where(GatewayKey.public_id == key_id)).first()
        if row is None:
            raise ValidationError(f"gateway key {key_id!r} does not exist")
        require_owner(session, actor, row.org_id)
        before = _view(row).as_dict()
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            row.revoked_by = actor.label
            session.add(row)
            session.flush()
            record(
                session, actor, "gateway.key.revoke", row.org_id, f"gateway_key:{key_id}", before, _view(row).as_dict()
            )
        return _view(row)


def list_keys(session: Session, org_ids: list[str] | None = None) -> list[KeyView]:
    query = select(GatewayKey).order_by(col(GatewayKey.org_id), col(GatewayKey.created_at))
    if org_ids is not None:
        query = query.where(col(GatewayKey.org_id).in_(org_ids))
    return [_view(r) for r in session.exec(query)]


@dataclass(frozen=True)
class GatewayIdentity:
    """What the gateway knows about a presented key."""

    key_id: str
    org_id: str
    project_id: str
    revoked: bool


def key_identities(conn: Connection) -> dict[str, GatewayIdentity]:
    """SHA-256 -> identity of every key, revoked ones included (so a revoked key never costs a lookup)."""
    rows = conn.execute(text("SELECT key_sha256, public_id, org_id, project_id, revoked_at FROM gateway_key"))
    return {r[0]: GatewayIdentity(r[1], r[2], r[3], r[4] is not None) for r in rows}


def find_key(conn: Connection, sha: str) -> GatewayIdentity | None:
    row = conn.execute(
        text("SELECT public_id, org_id, project_id, revoked_at FROM gateway_key WHERE key_sha256 = :s"), {"s": sha}
    ).first()
    return GatewayIdentity(row[0], row[1], row[2], row[3] is not None) if row else None


# --- upstream ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpstreamView:
    org_id: str
    provider: str
    key_env: str
    base_url: str


def set_upstream(
    actor: Actor,
    org_id: str,
    provider: str,
    key_env: str,
    base_url: str | None = None,
    shared_key: bool = False,
) -> UpstreamView:
    """Name the variable holding the provider key the gateway uses for this org (and the base URL)."""
    if provider not in GATEWAY_PROVIDERS:
        raise ValidationError(f"provider {provider!r}: choose {' or '.join(GATEWAY_PROVIDERS)}")
    key_env = validate_key_env(key_env)
    try:
        url = validate_base_url(check_base_url(base_url, provider))
    except PolicyError as exc:
        raise ValidationError(str(exc)) from None
    with session_scope() as session:
        require_owner(session, actor, org_id)
        get_org(session, org_id)
        try:  # the same key-name policy as sources: declared names, bound to one org unless shared
            check_key_env(session, org_id=org_id, name=key_env, shared=shared_key, by=actor.label)
        except PolicyError as exc:
            raise ValidationError(str(exc)) from None
        row = session.exec(
            select(GatewayUpstream).where(GatewayUpstream.org_id == org_id, GatewayUpstream.provider == provider)
        ).first()
        before = None
        if row is None:
            row = GatewayUpstream(org_id=org_id, provider=provider, key_env=key_env, base_url=url)
        else:
            before = {"key_env": row.key_env, "base_url": row.base_url}
            if before == {"key_env": key_env, "base_url": url}:
                return UpstreamView(org_id, provider, key_env, url)  # an identical re-save: nothing audited
            row.key_env, row.base_url = key_env, url
        row.updated_at, row.updated_by = utcnow(), actor.label
        session.add(row)
        record(
            session,
            actor,
            "gateway.upstream.set",
            org_id,
            f"gateway_upstream:{provider}",
            before,
            {"key_env": key_env, "base_url": url},
        )
        return UpstreamView(org_id, provider, key_env, url)


def upstreams(conn: Connection) -> dict[tuple[str, str], UpstreamView]:
    rows = conn.execute(text("SELECT org_id, provider, key_env, base_url FROM gateway_upstream"))
    return {(r[0], r[1]): UpstreamView(r[0], r[1], r[2], r[3]) for r in rows}


def upstream_allowed(session: Session, view: UpstreamView) -> bool:
    """Before the gateway reads an upstream's key: the variable is still declared and bound to the org."""
    try:
        check_key_env_at_run(session, org_id=view.org_id, name=view.key_env)
        check_base_url(view.base_url, view.provider)
    except PolicyError:
        return False
    return True


def list_upstreams(session: Session, org_id: str | None = None) -> list[UpstreamView]:
    query = select(GatewayUpstream).order_by(col(GatewayUpstream.org_id), col(GatewayUpstream.provider))
    if org_id:
        query = query.where(GatewayUpstream.org_id == org_id)
    return [UpstreamView(r.org_id, r.provider, r.key_env, r.base_url) for r in session.exec(query)]


# --- strict limits: reservations -------------------------------------------------------------------


def reserve(conn: Connection, org_id: str, project_id: str, period: str, micros: int, hard_micros: int) -> bool:
    """Take `micros` of the scope's hard limit, or nothing: one conditional UPDATE, atomic on both
    backends (PostgreSQL re-checks the condition on the locked row; SQLite has one writer)."""
    params = {"o": org_id, "p": project_id, "m": period, "x": micros, "h": hard_micros}
    sql = text(
        "UPDATE gateway_budget SET reserved_micros = reserved_micros + :x "
        "WHERE org_id = :o AND project_id = :p AND period = :m AND spent_micros + reserved_micros + :x <= :h"
    )
    if conn.execute(sql, params).rowcount:
        return True
    if ensure_budget(conn, org_id, project_id, period):  # a new month's row: made, then tried once more
        return bool(conn.execute(sql, params).rowcount)
    return False


def ensure_budget(conn: Connection, org_id: str, project_id: str, period: str, spent_micros: int = 0) -> bool:
    """Create the scope's row for `period` if missing; True when this call made it."""
    insert = insert_for(conn, table_of(GatewayBudget)).on_conflict_do_nothing()
    values = {
        "org_id": org_id,
        "project_id": project_id,
        "period": period,
        "spent_micros": spent_micros,
        "reserved_micros": 0,
        "updated_at": utcnow(),
    }
    return bool(conn.execute(insert, values).rowcount)


def settle(conn: Connection, org_id: str, project_id: str, period: str, reserved: int, actual: int) -> None:
    """Swap a reservation for the actual cost, in the transaction that writes the request's usage."""
    conn.execute(
        text(
            "UPDATE gateway_budget SET reserved_micros = reserved_micros - :r, spent_micros = spent_micros + :a "
            "WHERE org_id = :o AND project_id = :p AND period = :m"
        ),
        {"o": org_id, "p": project_id, "m": period, "r": reserved, "a": actual},
    )


def lock_budget(conn: Connection, org_id: str, project_id: str, period: str) -> None:
    """Hold the scope's row until the caller's transaction ends (the refresh reads spend meanwhile)."""
    ensure_budget(conn, org_id, project_id, period)
    conn.execute(
        text("UPDATE gateway_budget SET updated_at = :now WHERE org_id = :o AND project_id = :p AND period = :m"),
        {"o": org_id, "p": project_id, "m": period, "now": bind_time(conn, utcnow())},
    )


def set_spent(conn: Connection, org_id: str, project_id: str, period: str, spent_micros: int) -> None:
    conn.execute(
        text("UPDATE gateway_budget SET spent_micros = :s WHERE org_id = :o AND project_id = :p AND period = :m"),
        {"o": org_id, "p": project_id, "m": period, "s": spent_micros},
    )


# --- what the Gateway page shows --------------------------------------------------------------------


def activity(org_id: str, since: datetime) -> list[tuple[str, str, int]]:
    """(UTC minute 'YYYY-MM-DD HH:MM', series, count) since `since`: answered requests ("requests")
    from the gateway's usage rows, and each rejection reason from gateway_rejection."""
    engine = get_engine()
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            minute_of = "substr({col}, 1, 16)"
        else:
            minute_of = "to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')"
        since_bound = bind_time(conn, since)
        answered = conn.execute(
            text(
                f"SELECT {minute_of.format(col='bucket_start')} AS m, COUNT(*) FROM usage "
                "WHERE org_id = :o AND source = 'gateway' AND bucket_start >= :s GROUP BY m"
            ),
            {"o": org_id, "s": since_bound},
        ).all()
        refused = conn.execute(
            text(
                f"SELECT {minute_of.format(col='at')} AS m, reason, COUNT(*) FROM gateway_rejection "
                "WHERE org_id = :o AND at >= :s GROUP BY m, reason"
            ),
            {"o": org_id, "s": since_bound},
        ).all()
    out = [(str(m), "requests", int(n)) for m, n in answered]
    out += [(str(m), str(reason), int(n)) for m, reason, n in refused]
    return sorted(out)
