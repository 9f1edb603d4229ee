"""`spendsight gateway`: run the gateway, manage its keys and the provider keys it forwards with."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cli.common import fail, refused
from cli.store import ensure_db
from models.access.roles import Actor, PermissionDenied
from models.db import session_scope
from models.gateway import create_key, list_keys, list_upstreams, revoke_key, set_upstream
from models.settings import get_settings
from models.validation import ValidationError

app = typer.Typer()
gateway_app = typer.Typer(help="The gateway in the request path: hard limits that reject requests.")
key_app = typer.Typer(no_args_is_help=True, help="Gateway keys (ssk-...) applications send instead of provider keys.")
upstream_app = typer.Typer(no_args_is_help=True, help="The provider key (by variable name) the gateway forwards with.")
app.add_typer(gateway_app, name="gateway")
gateway_app.add_typer(key_app, name="key")
gateway_app.add_typer(upstream_app, name="upstream")


@gateway_app.callback(invoke_without_command=True)
def gateway(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8788).", min=1, max=65535)] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Processes serving the port, each a replica with its own state (default 1).", min=1, max=64),
    ] = None,
) -> None:
    """Serve the gateway: OpenAI routes under /openai/v1/, Anthropic under /anthropic/v1/."""
    if ctx.invoked_subcommand is not None:
        return
    # lazy: the server and its app take 0.6 s to import, which `gateway key list` and the other
    # subcommands need not pay (measured after this module's own imports).
    from gateway.server import serve

    settings = get_settings()
    ensure_db()
    serve(settings, host or settings.gateway.host, port or settings.gateway.port, workers or settings.gateway.workers)


@key_app.command("create")
def key_create(
    org: Annotated[str, typer.Option(help="Organization id.")],
    project: Annotated[str | None, typer.Option(help="Fix the key to one project (else the request picks).")] = None,
    name: Annotated[str | None, typer.Option(help="A label for the key.")] = None,
    format: Annotated[str, typer.Option("--format", help="text|json")] = "text",
) -> None:
    """Create a key; it is printed this once (only its hash is stored)."""
    if format not in ("text", "json"):
        fail(f"--format {format!r}: choose text or json")
    ensure_db()
    with refused(ValidationError, PermissionDenied):
        token, view = create_key(Actor.cli(), org, project, name)
    if format == "json":
        typer.echo(json.dumps({"key": token, "id": view.id}))
        return
    typer.echo(f"created gateway key {view.id} for {org}" + (f" project {view.project_id}" if view.project_id else ""))
    typer.echo(token)
    typer.echo("this key is shown once: store it now", err=True)


@key_app.command("list")
def key_list(
    org: Annotated[str | None, typer.Option(help="Only this organization.")] = None,
    format: Annotated[str, typer.Option("--format", help="text|json")] = "text",
) -> None:
    """Keys with their org, project, name and state (never the key itself)."""
    if format not in ("text", "json"):
        fail(f"--format {format!r}: choose text or json")
    ensure_db()
    with session_scope() as session:
        keys = list_keys(session, [org] if org else None)
    if format == "json":
        typer.echo(json.dumps([k.as_dict() for k in keys], indent=2))
        return
    for k in keys:
        state = "revoked" if k.revoked_at else "active"
        typer.echo("\t".join([k.id, k.org_id, k.project_id or "-", k.name or "-", k.prefix + "...", state]))


@key_app.command("revoke")
def key_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (gk_...).")]) -> None:
    """Revoke a key: the gateway refuses it within its refresh interval (2 s by default)."""
    ensure_db()
    with refused(ValidationError, PermissionDenied):
        view = revoke_key(Actor.cli(), key_id)
    typer.echo(f"revoked gateway key {view.id} of {view.org_id}")


@upstream_app.command("set")
def upstream_set(
    org: Annotated[str, typer.Option(help="Organization id.")],
    provider: Annotated[str, typer.Option(help="openai|anthropic")],
    key_env: Annotated[str, typer.Option("--key-env", help="NAME of the variable holding the provider key.")],
    base_url: Annotated[str | None, typer.Option("--base-url", help="API base URL (default: the provider's).")] = None,
    shared_key: Annotated[
        bool, typer.Option("--shared-key", help="Allow a variable another org already uses (operator's decision).")
    ] = False,
) -> None:
    """Name the provider key the gateway uses for this org (the same policy as sources)."""
    ensure_db()
    with refused(ValidationError, PermissionDenied):
        view = set_upstream(Actor.cli(), org, provider, key_env, base_url, shared_key)
    typer.echo(f"{view.org_id} {view.provider}: {view.base_url}, key from ${view.key_env}")
    if not get_settings().has_secret(view.key_env):
        typer.echo(f"warning: {view.key_env} is not set yet in the gateway's environment", err=True)


@upstream_app.command("list")
def upstream_list(org: Annotated[str | None, typer.Option(help="Only this organization.")] = None) -> None:
    ensure_db()
    with session_scope() as session:
        for u in list_upstreams(session, org):
            typer.echo("\t".join([u.org_id, u.provider, u.base_url, "$" + u.key_env]))
