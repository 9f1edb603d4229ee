"""Sign-in accounts (`spendsight user ...`); passwords are stored as argon2id hashes."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cli.common import fail, refused
from cli.store import ensure_db
from models.access.auth import add_user, list_users, remove_user, set_password
from models.access.roles import Actor, PermissionDenied, visible_orgs
from models.db import session_scope
from models.validation import ValidationError, validate_email

app = typer.Typer()
user_app = typer.Typer(no_args_is_help=True, help="Sign-in accounts (passwords are stored as argon2id hashes).")
app.add_typer(user_app, name="user")


def _read_password(from_stdin: bool) -> str:
    """The new password: the first line of stdin with --password-stdin, else asked twice, hidden."""
    if from_stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        if not password:
            fail('--password-stdin: standard input is empty; pipe the password in, e.g. `printf %s "$PW" |`')
        return password
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def _user_change(change, *args) -> None:
    ensure_db()
    with refused(ValidationError, PermissionDenied):
        with session_scope() as session:
            change(session, Actor.cli(), *args)


@user_app.command("add")
def user_add(
    email: Annotated[str, typer.Option(help="The user's email (their sign-in name).")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a sign-in account; `member add --org O --email E --role owner` then gives it an organization."""
    with refused(ValidationError):
        email = validate_email(email)
    _user_change(add_user, email, _read_password(password_stdin))
    typer.echo(f"added user {email}")

    with session_scope() as session:
        if not visible_orgs(session, Actor(email)):
            typer.echo(
                f"{email} is not a member of any organization yet: "
                f"spendsight member add --org ORG --email {email} --role owner",
                err=True,
            )


@user_app.command("passwd")
def user_passwd(
    email: Annotated[str, typer.Option(help="The user's email.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Set a new password; ends the user's sessions and lifts a sign-in lockout."""
    _user_change(set_password, email, _read_password(password_stdin))
    typer.echo(f"changed the password of {email.strip().lower()}; their sessions have ended")


@user_app.command("remove")
def user_remove(email: Annotated[str, typer.Option(help="The user's email.")]) -> None:
    """Delete a sign-in account and end its sessions (memberships stay: see `member remove`)."""
    _user_change(remove_user, email)
    typer.echo(f"removed user {email.strip().lower()}")


@user_app.command("list")
def user_list() -> None:
    """Sign-in accounts: email, created, live sessions."""
    ensure_db()
    with session_scope() as session:
        for user in list_users(session):
            typer.echo(f"{user['email']}\t{user['created_at']:%Y-%m-%d}\tsessions={user['sessions']}")
