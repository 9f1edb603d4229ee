"""Audit log: who changed which limit, grant, member, source or price, from what to what, when."""

from __future__ import annotations

import json
from datetime import datetime

from sqlmodel import Session, col, select

from models.access.roles import Actor, PermissionDenied, owned_orgs
from models.tables import AuditLog

# Every kind of change the log records. `record` refuses any other, so a new kind is added here, and
# the audit page's test then asks for its sentence (ui/audit_sentences.py).
ACTIONS = frozenset(
    {
        "alert.deliver",
        "alert.recipient.add",
        "alert.recipient.remove",
        "alert.retry",
        "alert.test",
        "alert.webhook.set",
        "credit.add",
        "credit.remove",
        "fx.set",
        "gateway.key.create",
        "gateway.key.revoke",
        "gateway.upstream.set",
        "ingest_token.create",
        "ingest_token.revoke",
        "limit.clear",
        "limit.key_deactivate",
        "limit.key_link",
        "limit.key_reactivate",
        "limit.key_unlink",
        "limit.set",
        "member.invite",
        "member.invite_cancel",
        "member.remove",
        "member.set",
        "org.create",
        "org.update",
        "price.edit",
        "price.override",
        "price.override.remove",
        "source.add",
        "source.disable",
        "source.enable",
        "source.run",
        "statement.close",
        "statement.restate",
        "statement.subscribe",
        "statement.unsubscribe",
        "user.add",
        "user.passwd",
        "user.preferences",
        "user.remove",
    }
)


def record(
    session: Session,
    actor: Actor,
    action: str,
    org_id: str = "",
    entity: str = "",
    before: object = None,
    after: object = None,
) -> AuditLog:
    """Add an audit row in the caller's transaction, so the change and its record commit together."""
    if action not in ACTIONS:
        raise ValueError(f"audit action {action!r} is not one of models.access.audit.ACTIONS")
    row = AuditLog(
        actor=actor.label, org_id=org_id, action=action, entity=entity, before=_dump(before), after=_dump(after)
    )
    session.add(row)
    return row


def _dump(value: object) -> str:
    if value is None:
        return ""
    return json.dumps(value, default=str, sort_keys=True)


def entries(session: Session, org_ids: list[str] | None = None, limit: int = 500) -> list[AuditLog]:
    query = select(AuditLog).order_by(col(AuditLog.at).desc(), col(AuditLog.id).desc()).limit(limit)
    if org_ids is not None:
        query = query.where(col(AuditLog.org_id).in_(org_ids))
    return list(session.exec(query))


def owner_entries(
    session: Session,
    actor: Actor,
    org_ids: list[str] | None = None,
    since: datetime | None = None,
    action: str | None = None,
    actor_contains: str = "",
    limit: int = 1000,
) -> list[AuditLog]:
    """Audit rows an owner may read: only orgs they own; asking for another org is refused."""
    owned = owned_orgs(session, actor)
    if org_ids is None:
        org_ids = owned
    refused = sorted(set(org_ids) - set(owned))
    if refused:
        raise PermissionDenied(f"only owners can read the audit log; {actor.label} does not own {', '.join(refused)}")
    if not org_ids:
        return []
    query = select(AuditLog).where(col(AuditLog.org_id).in_(org_ids))
    if since is not None:
        query = query.where(AuditLog.at >= since)
    if action:
        query = query.where(AuditLog.action == action)
    if actor_contains.strip():
        query = query.where(col(AuditLog.actor).contains(actor_contains.strip().lower(), autoescape=True))
    return list(session.exec(query.order_by(col(AuditLog.at).desc(), col(AuditLog.id).desc()).limit(limit)))
