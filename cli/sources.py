"""Provider admin-API sources and collecting from them (`spendsight source ...`, `spendsight collect`)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated

import typer

from cli.common import EXIT_FAILED, fail, parse_day, progress, refused
from cli.store import after_usage, ensure_db
from collectors.runner import load_source, run_source
from models.access.roles import Actor, PermissionDenied
from models.db import session_scope
from models.settings import get_settings
from models.sources import add_source, list_sources, set_enabled
from models.validation import ValidationError

app = typer.Typer()
source_app = typer.Typer(
    no_args_is_help=True, help="Provider admin-API sources (OpenAI, Anthropic) of an organization."
)
app.add_typer(source_app, name="source")


@source_app.command("add")
def source_add(
    org: Annotated[str, typer.Option(help="Organization id.")],
    provider: Annotated[str, typer.Option(help="openai|anthropic")],
    key_env: Annotated[str, typer.Option("--key-env", help="NAME of the variable holding the admin key.")],
    base_url: Annotated[str | None, typer.Option("--base-url", help="API base URL (default: the provider's).")] = None,
    name: Annotated[str | None, typer.Option(help="Source name (default: ORG-PROVIDER).")] = None,
    shared_key: Annotated[
        bool,
        typer.Option("--shared-key", help="Let this org use a key variable another org already uses."),
    ] = False,
) -> None:
    """Add a source; the key itself is read from the variable (or .streamlit/secrets.toml) at run time.

    The variable must match SPENDSIGHT_KEY_ENVS and the base URL the official API or
    SPENDSIGHT_ALLOWED_BASE_URLS (docs/security.md)."""
    ensure_db()
    with refused(ValidationError, PermissionDenied):
        with session_scope() as session:
            source = add_source(session, Actor.cli(), org, provider, key_env, base_url, name, shared_key=shared_key)
    typer.echo(f"added source {source.name} ({source.provider}, {source.base_url}, key from ${source.key_env})")
    if not get_settings().has_secret(source.key_env):
        typer.echo(
            f"warning: {source.key_env} is not set yet; export it or add it to .streamlit/secrets.toml", err=True
        )


@source_app.command("list")
def source_list(org: Annotated[str | None, typer.Option(help="Only this organization.")] = None) -> None:
    """List sources: name, org, provider, enabled, key variable, base URL, last success, last error."""
    ensure_db()
    with session_scope() as session:
        for s in list_sources(session, org):
            success = s.last_success_at.strftime("%Y-%m-%dT%H:%M:%SZ") if s.last_success_at else "-"
            typer.echo(
                "\t".join(
                    [
                        s.name,
                        s.org_id,
                        s.provider,
                        "enabled" if s.enabled else "disabled",
                        s.key_env,
                        s.base_url,
                        success,
                        s.last_error or "-",
                    ]
                )
            )


def _set_source_enabled(name: str, enabled: bool) -> None:
    ensure_db()
    with refused(ValidationError, PermissionDenied):
        with session_scope() as session:
            set_enabled(session, Actor.cli(), name, enabled)
    typer.echo(f"{'enabled' if enabled else 'disabled'} {name}")


@source_app.command("disable")
def source_disable(name: Annotated[str, typer.Argument(help="Source name.")]) -> None:
    """Stop collecting a source (its data and cursor stay)."""
    _set_source_enabled(name, False)


@source_app.command("enable")
def source_enable(name: Annotated[str, typer.Argument(help="Source name.")]) -> None:
    """Collect a disabled source again; it resumes from its cursor."""
    _set_source_enabled(name, True)


@app.command()
def collect(
    org: Annotated[str | None, typer.Option(help="Only this organization's sources.")] = None,
    source: Annotated[str | None, typer.Option(help="Only this source (even if disabled).")] = None,
    since: Annotated[str | None, typer.Option(help="Re-collect from this UTC day, YYYY-MM-DD (backfill).")] = None,
) -> None:
    """Collect usage and costs once, in the foreground; one summary line per endpoint."""

    ensure_db()
    since_at = datetime.combine(parse_day(since, "--since"), time(), UTC) if since else None
    if since_at and since_at > datetime.now(UTC):
        fail(f"--since {since} is in the future")
    if source:
        found = load_source(name=source)
        if found is None or (org and found.org_id != org):
            fail(
                f"--source {source!r}: no such source"
                + (f" in {org}" if org else "")
                + " (see `spendsight source list`)"
            )
        chosen = [found]
    else:
        with session_scope() as session:
            chosen = [s for s in list_sources(session, org) if s.enabled]
        if not chosen:
            fail("no enabled sources" + (f" in {org}" if org else "") + ": add one with `spendsight source add`")
    failed = False
    touched = set()
    with progress("steps") as bars:
        for src in chosen:
            result = run_source(src, since=since_at, progress=bars.steps)
            if result.error:
                typer.echo(f"{src.name}: error: {result.error}", err=True)
            for outcome in result.endpoints:
                typer.echo(outcome.summary(src.name))
            failed = failed or not result.ok
            if result.rows:
                touched.add(src.org_id)
    after_usage(touched)
    if failed:
        raise typer.Exit(EXIT_FAILED)
