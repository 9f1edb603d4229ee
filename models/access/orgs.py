"""Organizations and members: validated writes and simple reads."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session, select

from models.access.audit import record
from models.access.policy import may_create_org
from models.access.roles import Actor, PermissionDenied, require_owner
from models.db import session_scope
from models.spend.rollups import rebuild_org
from models.tables import ENVIRONMENTS, ROLES, Member, Organization
from models.validation import (
    ORG_ID_RE,
    ValidationError,
    validate_choice,
    validate_email,
    validate_name,
    validate_timezone,
)


def validate_org_id(value: str) -> str:
    value = (value or "").strip()
    if not ORG_ID_RE.match(value):
        raise ValidationError(
            f"organization id {value!r}: use 1-100 letters, digits, '-', '_', '.' or ':' (e.g. org-prod)"
        )
    return value


def create_org(
    session: Session,
    org_id: str,
    name: str,
    environment: str = "prod",
    timezone: str = "UTC",
    currency: str = "USD",
) -> Organization:
    org_id = validate_org_id(org_id)
    if session.get(Organization, org_id) is not None:
        raise ValidationError(f"organization {org_id!r} already exists")
    org = Organization(
        id=org_id,
        name=validate_name(name, "organization name"),
        environment=validate_choice(environment, ENVIRONMENTS, "environment"),
        timezone=validate_timezone(timezone),
        currency=validate_choice(currency, ("usd", "cny"), "currency").upper(),
    )
    session.add(org)
    session.flush()
    return org


def update_org(session: Session, org_id: str, **changes: str) -> Organization:
    org = get_org(session, org_id)
    validators: dict[str, Callable[[str], str]] = {
        "name": lambda v: validate_name(v, "organization name"),
        "environment": lambda v: validate_choice(v, ENVIRONMENTS, "environment"),
        "timezone": validate_timezone,
        "currency": lambda v: validate_choice(v, ("usd", "cny"), "currency").upper(),
    }
    for key, value in changes.items():
        if key not in validators:
            raise ValidationError(f"cannot change {key!r} of an organization")
        setattr(org, key, validators[key](value))
    session.add(org)
    session.flush()
    return org


def get_org(session: Session, org_id: str) -> Organization:
    # An id no org can have is not looked up: PostgreSQL refuses some text outright (NUL bytes), and
    # the answer is the same either way.
    org = session.get(Organization, org_id) if isinstance(org_id, str) and ORG_ID_RE.match(org_id) else None
    if org is None:
        raise ValidationError(f"organization {org_id!r} does not exist (create it with `spendsight org add`)")
    return org


def list_orgs(session: Session) -> list[Organization]:
    return list(session.exec(select(Organization).order_by(Organization.id)))


def set_member(session: Session, org_id: str, email: str, role: str) -> Member:
    """Add a member, or change the role of an existing one."""
    get_org(session, org_id)
    email = validate_email(email)
    role = validate_choice(role, ROLES, "role")
    member = session.exec(select(Member).where(Member.org_id == org_id, Member.email == email)).first()
    if member is None:
        member = Member(org_id=org_id, email=email, role=role)
    else:
        member.role = role
    session.add(member)
    session.flush()
    return member


def remove_member(session: Session, org_id: str, email: str) -> None:
    email = validate_email(email)
    member = session.exec(select(Member).where(Member.org_id == org_id, Member.email == email)).first()
    if member is None:
        raise ValidationError(f"{email} is not a member of {org_id}")
    session.delete(member)
    session.flush()


def members(session: Session, org_id: str) -> list[Member]:
    return list(session.exec(select(Member).where(Member.org_id == org_id).order_by(Member.email)))


def owner_emails(session: Session, org_id: str) -> list[str]:
    return [m.email for m in members(session, org_id) if m.role == "owner"]


# --- changes made by a signed-in actor (pages): permission check and audit in one transaction ---


def create_org_as(
    actor: Actor | None, org_id: str, name: str, environment: str = "prod", timezone: str = "UTC"
) -> Organization:
    """Create an organization (audited); a member creating it becomes its owner.

    The operator decides who may: the CLI (a system actor) always, members only when listed in
    SPENDSIGHT_ORG_CREATORS (an org's owner could otherwise name key variables for it)."""
    if actor is None or not (actor.system or actor.email):
        raise PermissionDenied("sign in to create an organization")
    if not actor.system and not may_create_org(actor.email):
        raise PermissionDenied("organizations are created by the operator (spendsight org add); ask them")
    with session_scope() as session:
        org = create_org(session, org_id, name, environment, timezone)
        if not actor.system and actor.email:  # (one of the two, checked above)
            set_member(session, org.id, actor.email, "owner")
        record(
            session,
            actor,
            "org.create",
            org.id,
            org.id,
            None,
            {"name": org.name, "environment": org.environment, "timezone": org.timezone},
        )
    return org


def update_org_as(actor: Actor, org_id: str, **changes: str) -> Organization:
    """Rename an organization or change its environment or time zone (owners; audited).

    A time-zone change re-cuts the daily rollups (days are in the org's zone)."""
    with session_scope() as session:
        require_owner(session, actor, org_id)
        org = get_org(session, org_id)
        before = {k: getattr(org, k) for k in changes}
        org = update_org(session, org_id, **changes)
        after = {k: getattr(org, k) for k in changes}
        if before != after:
            record(session, actor, "org.update", org_id, org_id, before, after)
        if before.get("timezone", org.timezone) != org.timezone:
            # Same transaction: a failed rebuild leaves the old zone and its rollups, never a mix.
            rebuild_org(org_id, conn=session.connection())
    return org


def _has_owner(session: Session, org_id: str) -> bool:
    return any(m.role == "owner" for m in members(session, org_id))


def _keep_an_owner(session: Session, org_id: str, had_owner: bool = True) -> None:
    """An org that had an owner keeps one (an org created by ingest may start with none)."""
    if had_owner and not _has_owner(session, org_id):
        raise ValidationError(f"{org_id} must keep at least one owner; make someone else owner first")


def set_member_as(actor: Actor, org_id: str, email: str, role: str) -> Member:
    """Add a member or change a role (owners only; audited as member.set)."""
    with session_scope() as session:
        require_owner(session, actor, org_id)
        email = validate_email(email)
        old = session.exec(select(Member).where(Member.org_id == org_id, Member.email == email)).first()
        before = {"role": old.role} if old else None
        had_owner = _has_owner(session, org_id)
        member = set_member(session, org_id, email, role)
        _keep_an_owner(session, org_id, had_owner)
        if before != {"role": member.role}:
            record(session, actor, "member.set", org_id, email, before, {"role": member.role})
    return member


def remove_member_as(actor: Actor, org_id: str, email: str) -> None:
    """Remove a member (owners only; the last owner stays; audited as member.remove)."""
    with session_scope() as session:
        require_owner(session, actor, org_id)
        email = validate_email(email)
        old = session.exec(select(Member).where(Member.org_id == org_id, Member.email == email)).first()
        had_owner = _has_owner(session, org_id)
        remove_member(session, org_id, email)
        _keep_an_owner(session, org_id, had_owner)
        record(session, actor, "member.remove", org_id, email, {"role": old.role if old else ""}, None)
