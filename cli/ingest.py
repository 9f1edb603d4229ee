"""`spendsight ingest`: request logs into usage; prints `read=N ingested=N duplicate=N quarantined=N`.

The one module whose imports of the database and ingest code wait inside the command: they take
about half a second, which the helper processes that parse a big file in parallel (started first)
spend importing the same code (collectors/logs/parallel.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import EXIT_FAILED, EXIT_QUARANTINED, fail, progress, refused
from collectors.logs.parallel import Helpers

app = typer.Typer()


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Log files (JSONL, CSV; .gz allowed).")],
    format: Annotated[str, typer.Option("--format", help="auto|openai-jsonl|anthropic-jsonl|litellm-csv|csv")] = "auto",
    org: Annotated[str | None, typer.Option(help="Organization for lines that do not name one.")] = None,
    project: Annotated[str | None, typer.Option(help="Project for lines that do not name one.")] = None,
    model: Annotated[str | None, typer.Option(help="Model for lines that do not name one.")] = None,
    map: Annotated[list[str] | None, typer.Option("--map", help="FIELD=COLUMN for --format csv.")] = None,
    at: Annotated[str | None, typer.Option(help="ISO time for lines without one.")] = None,
) -> None:
    """Ingest request logs; prints `read=N ingested=N duplicate=N quarantined=N`."""
    # Before the heavy imports in `_ingest`: helper processes import the same code meanwhile.
    helpers = Helpers.for_paths(paths, format)
    try:
        result = _ingest(paths, format, org, project, model, map, at, helpers)
    finally:
        failures = helpers.close() if helpers else []
    if failures:
        fail(f"a parallel ingest process failed: {failures[0]}", EXIT_FAILED)
    for created in result.orgs_created:
        typer.echo(f"created organization {created} (rename it with `spendsight org update`)", err=True)
    for problem in result.problems:
        typer.echo(f"quarantined {problem}", err=True)
    from cli.store import after_usage  # lazy: imported by `_ingest` already (see there)

    after_usage(result.orgs_touched)
    typer.echo(result.summary())
    if result.quarantined:
        raise typer.Exit(EXIT_QUARANTINED)


def _ingest(paths, format, org, project, model, map, at, helpers):
    """Check the options and run the ingest; the heavy imports happen here, after helpers started."""
    # lazy: these imports take ~0.5 s; the helper processes started by `ingest` spend it in parallel.
    from cli.store import ensure_db
    from collectors.logs.formats import Reject, parse_time
    from collectors.logs.ingest import Defaults, UsageError, parse_map
    from collectors.logs.ingest import ingest as run_ingest

    ensure_db()
    try:
        mapping = parse_map(map or [])
        when = parse_time(at, "--at") if at else None
    except UsageError as exc:
        fail(str(exc))
    except Reject as exc:
        fail(exc.reason)
    defaults = Defaults(org=org, project=project, model=model, at=when)
    with refused(UsageError):
        with progress("bytes") as bars:
            return run_ingest(paths, format, defaults, mapping, progress=bars.bytes, on_file=bars.file, helpers=helpers)
