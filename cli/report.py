"""`spendsight report`: spend per group between two dates, and estimated vs billed (`--billed`)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import fail, parse_day, refused
from cli.store import ensure_db
from models.access.orgs import get_org
from models.db import session_scope
from models.spend.reconcile import RECONCILE_COLUMNS, reconcile
from models.spend.report import REPORT_BY, REPORT_COLUMNS, render, report_rows
from models.validation import ValidationError

app = typer.Typer()


@app.command()
def report(
    org: Annotated[str, typer.Option(help="Organization id.")],
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD (org time zone).")],
    end: Annotated[str, typer.Option(help="Day after the last, YYYY-MM-DD (exclusive).")],
    by: Annotated[str, typer.Option(help="Comma list of day,model,project,api_key,user.")] = "",
    format: Annotated[str, typer.Option("--format", help="csv|json")] = "csv",
    billed: Annotated[
        bool, typer.Option("--billed", help="Estimated vs provider-billed per UTC day and project.")
    ] = False,
) -> None:
    """Spend per group between two dates (end exclusive), as CSV or JSON."""
    ensure_db()
    start_day, end_day = parse_day(start, "--start"), parse_day(end, "--end")
    if end_day <= start_day:
        fail(f"--end {end} must be after --start {start} (end is exclusive)")
    keys = tuple(k.strip() for k in by.split(",") if k.strip())
    for key in keys:
        if key not in REPORT_BY:
            fail(f"--by {key!r}: choose from {', '.join(REPORT_BY)}")
    if format not in ("csv", "json"):
        fail(f"--format {format!r}: choose csv or json")
    with refused(ValidationError):
        with session_scope() as session:
            get_org(session, org)
    if billed:
        return _report_billed(org, start_day, end_day, keys, format)
    rows = report_rows(org, start_day, end_day, keys)
    typer.echo(render(rows, [*keys, *REPORT_COLUMNS], format), nl=False)


def _report_billed(org: str, start_day, end_day, keys, format: str) -> None:
    """`report --billed`: day,provider,project,estimated_usd,billed_usd,drift_pct (UTC days, end exclusive)."""
    if keys:
        fail("--by does not apply to --billed (rows are per day, provider and project)")
    typer.echo(render(reconcile(org, start_day, end_day), list(RECONCILE_COLUMNS), format), nl=False)
