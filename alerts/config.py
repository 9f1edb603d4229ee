"""Who gets alerts: extra recipients per rule and the optional webhook (owners always get them)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlmodel import select

from models.access.audit import record
from models.access.orgs import get_org, owner_emails
from models.access.policy import check_webhook_url
from models.access.roles import Actor, require_owner
from models.db import session_scope, utcnow
from models.tables import ALL_RULES, RULES, TEST_RULE, AlertRecipient, AlertWebhook
from models.validation import ValidationError, validate_email


@dataclass(frozen=True)
class Recipient:
    org_id: str
    rule: str
    email: str


def validate_rule(rule: str | None) -> str:
    rule = (rule or ALL_RULES).strip().lower()
    if rule not in (ALL_RULES, *RULES):
        raise ValidationError(f"rule {rule!r} must be one of {', '.join((ALL_RULES, *RULES))}")
    return rule


def add_recipient(actor: Actor, org_id: str, email: str, rule: str | None = None) -> Recipient:
    email, rule = validate_email(email), validate_rule(rule)
    with session_scope() as session:
        require_owner(session, actor, org_id)
        get_org(session, org_id)
        existing = session.exec(
            select(AlertRecipient).where(
                AlertRecipient.org_id == org_id, AlertRecipient.rule == rule, AlertRecipient.email == email
            )
        ).first()
        if existing is None:
            session.add(AlertRecipient(org_id=org_id, rule=rule, email=email, created_by=actor.label))
            record(
                session,
                actor,
                "alert.recipient.add",
                org_id,
                f"recipient:{rule}:{email}",
                None,
                {"rule": rule, "email": email},
            )
    return Recipient(org_id, rule, email)


def remove_recipient(actor: Actor, org_id: str, email: str, rule: str | None = None) -> None:
    email, rule = validate_email(email), validate_rule(rule)
    with session_scope() as session:
        require_owner(session, actor, org_id)
        row = session.exec(
            select(AlertRecipient).where(
                AlertRecipient.org_id == org_id, AlertRecipient.rule == rule, AlertRecipient.email == email
            )
        ).first()
        if row is None:
            raise ValidationError(f"{email} is not a recipient of {rule} alerts in {org_id}")
        record(
            session,
            actor,
            "alert.recipient.remove",
            org_id,
            f"recipient:{rule}:{email}",
            {"rule": rule, "email": email},
            None,
        )
        session.delete(row)


def recipients(org_id: str) -> list[Recipient]:
    with session_scope() as session:
        rows = session.exec(
            select(AlertRecipient)
            .where(AlertRecipient.org_id == org_id)
            .order_by(AlertRecipient.rule, AlertRecipient.email)
        )
        return [Recipient(r.org_id, r.rule, r.email) for r in rows]


def addresses_for(org_id: str, rule: str) -> list[str]:
    """The org's owners plus the extra addresses for this rule (a test goes to everyone listed)."""
    with session_scope() as session:
        owners = owner_emails(session, org_id)
    extra = [r.email for r in recipients(org_id) if rule == TEST_RULE or r.rule in (ALL_RULES, rule)]
    return sorted(set(owners) | set(extra))


# --- webhook ---------------------------------------------------------------------------------


def validate_webhook_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or len(url) > 1000 or any(c.isspace() for c in url):
        raise ValidationError("webhook URL must be an http(s) URL such as https://hooks.slack.com/services/...")
    return url


def redact_url(url: str | None) -> str:
    """Scheme and host only: a webhook URL's path is its password."""
    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/..."


def set_webhook(actor: Actor, org_id: str, url: str | None) -> None:
    """Set (or with None, remove) the org's webhook; the audit log keeps only its host."""
    url = validate_webhook_url(url) if url else None
    with session_scope() as session:
        require_owner(session, actor, org_id)  # first: a non-member may not probe what names resolve to
        if url:
            check_webhook_url(url)  # the operator's hosts, or public addresses only (checked again at delivery)
        get_org(session, org_id)
        row = session.get(AlertWebhook, org_id)
        before = redact_url(row.url) if row else None
        if (row.url if row else None) == url:
            return  # an identical re-save: nothing written, nothing audited
        if url is None:
            if row is not None:
                session.delete(row)
        else:
            row = row or AlertWebhook(org_id=org_id, url=url)
            row.url, row.updated_at, row.updated_by = url, utcnow(), actor.label
            session.add(row)
        record(session, actor, "alert.webhook.set", org_id, "webhook", before, redact_url(url) if url else None)


def webhook_url(org_id: str) -> str | None:
    with session_scope() as session:
        row = session.get(AlertWebhook, org_id)
        return row.url if row else None
