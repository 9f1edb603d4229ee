"""Alerts: evaluate and send now, a test message, history, the webhook and extra recipients."""

from __future__ import annotations

from typing import Annotated

import typer

from alerts import run_once, send_test
from alerts.config import add_recipient, recipients, redact_url, remove_recipient, set_webhook
from alerts.outbox import DeliveryReport, history
from cli.common import EXIT_FAILED, fail, refused
from cli.store import ensure_db, org_exists
from models.access.orgs import owner_emails
from models.access.roles import Actor
from models.db import session_scope
from models.validation import ValidationError

app = typer.Typer()
alerts_app = typer.Typer(
    no_args_is_help=True, help="Threshold, forecast, credit and spike alerts by email and webhook."
)
recipient_app = typer.Typer(no_args_is_help=True, help="Extra alert recipients besides the org's owners.")
app.add_typer(alerts_app, name="alerts")
alerts_app.add_typer(recipient_app, name="recipient")


def _delivery_lines(delivery: DeliveryReport) -> None:
    typer.echo(f"messages: {delivery}")
    for error in delivery.errors:
        typer.echo(f"  {error}", err=True)
    if delivery.waiting:
        typer.echo("  SMTP_HOST is not set: email stays queued until it is", err=True)


@alerts_app.command("run")
def alerts_run(org: Annotated[str | None, typer.Option(help="Only this organization.")] = None) -> None:
    """Evaluate alert rules once and send every pending message now, whatever its backoff."""
    ensure_db()
    if org:
        org_exists(org)
    report = run_once(org)
    typer.echo(f"alerts fired: {len(report.events)}")
    for error in report.errors:
        typer.echo(f"  evaluation failed: {error}", err=True)
    _delivery_lines(report.delivery)
    if report.errors or report.delivery.retrying or report.delivery.failed or report.delivery.waiting:
        raise typer.Exit(EXIT_FAILED)


@alerts_app.command("test")
def alerts_test(org: Annotated[str, typer.Option(help="Organization id.")]) -> None:
    """Send a test alert to the org's owners, its recipients and its webhook."""
    ensure_db()
    org_exists(org)
    report = send_test(Actor.cli(), org)
    _delivery_lines(report)
    if not report.sent or report.retrying or report.failed or report.waiting:
        raise typer.Exit(EXIT_FAILED)


@alerts_app.command("history")
def alerts_history(
    org: Annotated[str, typer.Option(help="Organization id.")],
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many rows.")] = 50,
) -> None:
    """Recent alerts and the state of each message: sent, pending, failed (with the reason)."""
    ensure_db()
    org_exists(org)
    for row in history([org], limit=limit):
        typer.echo(
            f"{row['created_at']:%Y-%m-%d %H:%M}\t{row['rule']}\t{row['project_id'] or '-'}\t{row['period']}"
            f"\t{row['status']}\t{row['recipient'] or '-'}\t{row['last_error']}"
        )


@alerts_app.command("webhook")
def alerts_webhook(
    org: Annotated[str, typer.Option(help="Organization id.")],
    url: Annotated[str | None, typer.Option(help="Slack-compatible incoming webhook URL.")] = None,
    remove: Annotated[bool, typer.Option(help="Remove the webhook.")] = False,
) -> None:
    """Set or remove the org's webhook (every alert is posted to it as {"text": ...})."""
    ensure_db()
    if bool(url) == remove:
        fail("pass either --url URL or --remove")
    with refused(ValidationError):
        set_webhook(Actor.cli(), org, None if remove else url)
    typer.echo(f"removed the webhook of {org}" if remove else f"webhook of {org}: {redact_url(url)}")


@recipient_app.command("add")
def recipient_add(
    org: Annotated[str, typer.Option(help="Organization id.")],
    email: Annotated[str, typer.Option(help="Address to notify.")],
    rule: Annotated[str, typer.Option(help="One rule (threshold, forecast_soft, ...) or * for all.")] = "*",
) -> None:
    """Also send alerts of one rule (or all) to this address."""
    ensure_db()
    with refused(ValidationError):
        r = add_recipient(Actor.cli(), org, email, rule)
    typer.echo(f"{r.email} gets {r.rule} alerts of {org}")


@recipient_app.command("remove")
def recipient_remove(
    org: Annotated[str, typer.Option(help="Organization id.")],
    email: Annotated[str, typer.Option(help="Address.")],
    rule: Annotated[str, typer.Option(help="The rule it was added for, or *.")] = "*",
) -> None:
    """Stop sending one rule's alerts (or all, *) to this address."""
    ensure_db()
    with refused(ValidationError):
        remove_recipient(Actor.cli(), org, email, rule)
    typer.echo(f"removed {email} from {rule} alerts of {org}")


@recipient_app.command("list")
def recipient_list(org: Annotated[str, typer.Option(help="Organization id.")]) -> None:
    """Who gets alerts: owners (always) and extra recipients per rule."""
    ensure_db()
    org_exists(org)
    with session_scope() as session:
        for email in owner_emails(session, org):
            typer.echo(f"*\t{email}\t(owner)")
    for r in recipients(org):
        typer.echo(f"{r.rule}\t{r.email}")
