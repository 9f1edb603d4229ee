"""`spendsight limit key ...`: Anthropic API keys a limit switches off at its hard cap (opt-in)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cli.common import fail, refused
from cli.store import ensure_db
from models.access.roles import Actor
from models.budgets.key_links import key_actions, key_links, link_key, unlink_key
from models.validation import ValidationError

key_app = typer.Typer(
    no_args_is_help=True,
    help="Anthropic API keys switched off (through the Admin API) when a limit's hard cap is reached.",
)

Org = Annotated[str, typer.Option(help="Organization id.")]
Project = Annotated[str | None, typer.Option(help="The project's limit instead of the org's.")]
KeyId = Annotated[str, typer.Option("--key-id", help="The Anthropic API key id (apikey_...), not the key.")]


@key_app.command("add")
def key_add(
    org: Org,
    key_id: KeyId,
    source: Annotated[str, typer.Option(help="The org's Anthropic source whose admin key switches the key.")],
    project: Project = None,
) -> None:
    """List a key under a limit: at the hard limit it is set inactive, below it active again."""
    ensure_db()
    with refused(ValidationError):
        link = link_key(Actor.cli(), org, project, source, key_id)
    typer.echo(f"{org} {link.scope}: {link.api_key_id} is switched off at the hard limit (admin key of {source})")


@key_app.command("remove")
def key_remove(org: Org, key_id: KeyId, project: Project = None) -> None:
    """Stop switching a key (a key switched off stays off until you switch it on)."""
    ensure_db()
    with refused(ValidationError):
        removed = unlink_key(Actor.cli(), org, project, key_id)
    typer.echo(f"{key_id} is no longer switched by {org}'s limit" if removed else "no such key under that limit")


@key_app.command("list")
def key_list(
    org: Org,
    format: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """The org's listed keys, their state, and the last actions taken."""
    ensure_db()
    if format not in ("text", "json"):
        fail(f"--format {format!r}: expected text or json")
    with refused(ValidationError):
        links = key_links(Actor.cli(), org)
        actions = key_actions(Actor.cli(), org, limit=20)
    if format == "json":
        out = {
            "keys": [
                {"project": k.project_id, "key_id": k.api_key_id, "source": k.source, "state": k.state} for k in links
            ],
            "actions": [
                {
                    "at": a.at.isoformat(),
                    "key_id": a.api_key_id,
                    "project": a.project_id,
                    "action": a.action,
                    "ok": a.ok,
                    "reason": a.reason,
                    "error": a.error,
                }
                for a in actions
            ],
        }
        typer.echo(json.dumps(out, indent=2))
        return
    if not links:
        typer.echo(f"no keys listed for {org} (add one with `spendsight limit key add`)")
    for k in links:
        typer.echo(f"{k.scope}\t{k.api_key_id}\t{k.state}\tvia {k.source}")
    for a in actions:
        outcome = "done" if a.ok else f"failed: {a.error}"
        typer.echo(f"{a.at:%Y-%m-%d %H:%M}Z\t{a.api_key_id}\t{a.action}\t{outcome}\t{a.reason}")
