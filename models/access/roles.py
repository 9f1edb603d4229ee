"""Who may do what: the acting member or system, readers view and export their orgs, owners change
them; checked where data changes."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from models.tables import Member, Organization
from models.validation import ORG_ID_RE, ValidationError


@dataclass(frozen=True)
class Actor:
    """Who is making a change: a signed-in member's email, or a trusted system process (CLI, worker)."""

    email: str | None
    system: bool = False

    @classmethod
    def cli(cls) -> Actor:
        return cls("cli", system=True)

    @property
    def label(self) -> str:
        return self.email or "system"


class PermissionDenied(PermissionError):
    """The actor's role does not allow this; the message is safe to show."""


def role_of(session: Session, actor: Actor, org_id: str) -> str | None:
    """'owner', 'reader', or None; system actors (CLI, worker) act as owners everywhere."""
    if actor.system:
        return "owner"
    if not actor.email:
        return None
    member = session.exec(select(Member).where(Member.org_id == org_id, Member.email == actor.email.lower())).first()
    return member.role if member else None


def require_owner(session: Session, actor: Actor, org_id: str) -> None:
    if not (isinstance(org_id, str) and ORG_ID_RE.match(org_id)):
        # No org has such an id; said before any query (PostgreSQL refuses some text, NUL bytes, outright).
        raise ValidationError(f"organization {str(org_id)[:100]!r} does not exist")
    role = role_of(session, actor, org_id)
    if role != "owner":
        raise PermissionDenied(
            f"only owners of {org_id} can change it; {actor.label} is "
            + ("a reader" if role == "reader" else "not a member")
        )


def visible_orgs(session: Session, actor: Actor) -> list[str]:
    """The org ids an actor may see."""
    if actor.system:
        return list(session.exec(select(Organization.id).order_by(Organization.id)))
    if not actor.email:
        return []
    return list(session.exec(select(Member.org_id).where(Member.email == actor.email.lower()).order_by(Member.org_id)))


def owned_orgs(session: Session, actor: Actor) -> list[str]:
    if actor.system:
        return visible_orgs(session, actor)
    if not actor.email:
        return []
    query = select(Member.org_id).where(Member.email == actor.email.lower(), Member.role == "owner")
    return list(session.exec(query.order_by(Member.org_id)))
