"""`spendsight otlp`: the OTLP/HTTP traces receiver on its own, and its ingest tokens (`otlp token ...`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
import uvicorn

from cli.common import fail, refused
from cli.store import ensure_db, org_exists
from collectors.otlp.receiver import PATH, make_app
from models.access.roles import Actor
from models.access.tokens import create_token, list_tokens, revoke_token
from models.validation import ValidationError

app = typer.Typer()
otlp_app = typer.Typer(help="OTLP/HTTP GenAI traces: run the receiver, manage ingest tokens.")
token_app = typer.Typer(no_args_is_help=True, help="Ingest tokens: each writes its org's usage only.")
app.add_typer(otlp_app, name="otlp")
otlp_app.add_typer(token_app, name="token")


@otlp_app.callback(invoke_without_command=True)
def otlp(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (4318 is OTLP/HTTP's).")] = 4318,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Processes sharing the port (decoding spans is CPU-bound: one per core).")
    ] = 1,
) -> None:
    """Receive OTLP/HTTP traces on POST /v1/traces and store their GenAI usage (runs until stopped)."""
    if ctx.invoked_subcommand is not None:
        return
    if not 0 < port < 65536:
        fail(f"--port {port}: expected 1-65535")
    ensure_db()
    # Alerts are not evaluated here: every write updates the org's rollup_state, which the worker's
    # alerts-watch job reads every few seconds (as for usage any other process writes).
    typer.echo(f"OTLP receiver on http://{host}:{port}{PATH} (protobuf and JSON, gzip or not)")
    options: dict[str, Any] = dict(host=host, port=port, log_level="warning", access_log=False)
    if workers > 1:
        # uvicorn's supervisor binds the port once and starts `workers` processes accepting on it, each
        # with its own receiver (make_worker_app: one request at a time, connections closed after each
        # answer, so batches spread over the processes). A request is one transaction whichever takes
        # it, and SQLite's writers queue on one OS lock (models.db.sqlite_writer_lock), so they share a
        # database as parallel ingest's helpers do; decoding and mapping spans run side by side.
        uvicorn.run("collectors.otlp.receiver:make_worker_app", factory=True, workers=workers, **options)
        return
    uvicorn.run(make_app(), **options)


@token_app.command("create")
def token_create(
    org: Annotated[str, typer.Option(help="Organization id the token writes to.")],
    name: Annotated[str, typer.Option(help="A label, e.g. the application's name.")] = "",
    format: Annotated[str, typer.Option("--format", help="text|json")] = "text",
) -> None:
    """Create an ingest token; it is printed once and only its hash is kept."""
    if format not in ("text", "json"):
        fail(f"--format {format!r}: choose text or json")
    ensure_db()
    org_exists(org)
    with refused(ValidationError):
        token, info = create_token(Actor.cli(), org, name)
    if format == "json":
        typer.echo(json.dumps({"token": token, "id": info.id}))
        return
    typer.echo(f"token {info.id} for {info.org_id} (shown once; keep it secret):")
    typer.echo(token)
    typer.echo(f"exporters send it as: Authorization: Bearer {token[:8]}...")


@token_app.command("list")
def token_list(org: Annotated[str, typer.Option(help="Organization id.")]) -> None:
    """List an org's ingest tokens (never the tokens themselves)."""
    ensure_db()
    org_exists(org)
    for info in list_tokens(Actor.cli(), org):
        state = f"revoked {info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else "active"
        typer.echo(f"{info.id}\t{state}\t{info.created_at:%Y-%m-%d %H:%M}\t{info.name}")


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Option("--id", min=1, max=2**63 - 1, help="Token id (from `otlp token list`).")],
) -> None:
    """Revoke an ingest token: requests carrying it are refused from now on."""
    ensure_db()
    with refused(ValidationError):
        info = revoke_token(Actor.cli(), token_id)
    typer.echo(f"revoked token {info.id} of {info.org_id}")
