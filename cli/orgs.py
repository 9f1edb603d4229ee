"""Organizations and their members (`spendsight org ...`, `spendsight member ...`)."""

from __future__ import annotations

from typing import Annotated

import typer

from alerts.invites import invite_member
from cli.common import fail, refused
from cli.store import ensure_db
from models.access.orgs import create_org_as, list_orgs, remove_member_as, set_member_as, update_org_as
from models.access.roles import Actor
from models.db import session_scope
from models.validation import ValidationError

app = typer.Typer()
org_app = typer.Typer(no_args_is_help=True, help="Organizations.")
member_app = typer.Typer(no_args_is_help=True, help="Members of an organization and their roles.")
app.add_typer(org_app, name="org")
app.add_typer(member_app, name="member")


@org_app.command("add")
def org_add(
    id: Annotated[str, typer.Option("--id", help="Organization id, e.g. org-prod.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    env: Annotated[str, typer.Option(help="prod|staging")] = "prod",
    timezone: Annotated[str, typer.Option(help="IANA time zone for days and months.")] = "UTC",
) -> None:
    """Create an organization."""
    ensure_db()
    with refused(ValidationError):
        org = create_org_as(Actor.cli(), id, name, env, timezone)
    typer.echo(f"created {org.id} ({org.environment}, {org.timezone})")


@org_app.command("update")
def org_update(
    id: Annotated[str, typer.Option("--id", help="Organization id.")],
    name: Annotated[str | None, typer.Option(help="New display name.")] = None,
    env: Annotated[str | None, typer.Option(help="prod|staging")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone.")] = None,
) -> None:
    """Rename an organization or change its environment or time zone."""
    ensure_db()
    changes = {k: v for k, v in {"name": name, "environment": env, "timezone": timezone}.items() if v is not None}
    if not changes:
        fail("nothing to change: pass --name, --env or --timezone")
    with refused(ValidationError):
        org = update_org_as(Actor.cli(), id, **changes)  # a time-zone change re-cuts the daily rollups
    typer.echo(f"updated {org.id}")


@org_app.command("list")
def org_list() -> None:
    """List organizations."""
    ensure_db()
    with session_scope() as session:
        for org in list_orgs(session):
            typer.echo(f"{org.id}\t{org.environment}\t{org.timezone}\t{org.name}")


@member_app.command("add")
def member_add(
    org: Annotated[str, typer.Option(help="Organization id.")],
    email: Annotated[str, typer.Option(help="Member's email.")],
    role: Annotated[str, typer.Option(help="reader|owner")] = "reader",
) -> None:
    """Add a member to an organization (or change their role)."""
    ensure_db()
    with refused(ValidationError):
        member = set_member_as(Actor.cli(), org, email, role)
    typer.echo(f"{member.email} is {member.role} of {member.org_id}")


@member_app.command("remove")
def member_remove(
    org: Annotated[str, typer.Option(help="Organization id.")],
    email: Annotated[str, typer.Option(help="Member's email.")],
) -> None:
    """Remove a member from an organization."""
    ensure_db()
    with refused(ValidationError):
        remove_member_as(Actor.cli(), org, email)
    typer.echo(f"removed {email} from {org}")


@member_app.command("invite")
def member_invite(
    org: Annotated[str, typer.Option(help="Organization id.")],
    email: Annotated[str, typer.Option(help="A member of the organization without an account.")],
    lang: Annotated[str, typer.Option(help="en|zh: the email's language if the member chose none")] = "en",
) -> None:
    """Email a member a one-time link to set a password (SMTP_* must be set)."""
    ensure_db()
    with refused(ValidationError):
        invite = invite_member(Actor.cli(), org, email, lang)
    typer.echo(f"invitation sent to {invite.email}; the link works once, until {invite.expires_at:%Y-%m-%d %H:%M} UTC")
