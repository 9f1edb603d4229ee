"""Dated display-currency rates (`fx`) and closed monthly statements (`statement`)."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from cli.common import fail, parse_day, refused, usd_text
from cli.store import ensure_db, org_exists
from models.access.roles import Actor, PermissionDenied
from models.budgets.snapshots import close_month, restate, versions
from models.budgets.subscriptions import subscribe
from models.fx import rate_text, rates, set_rate
from models.validation import ValidationError

app = typer.Typer()
fx_app = typer.Typer(no_args_is_help=True, help="Display-currency rates, dated: USD stays the stored amount.")
statement_app = typer.Typer(no_args_is_help=True, help="Monthly statements: close a month, restate, subscribe.")
app.add_typer(fx_app, name="fx")
app.add_typer(statement_app, name="statement")


Org = Annotated[str, typer.Option(help="Organization id.")]


def _month(value: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{4})-(\d{2})", value.strip())
    if not match or not 1 <= int(match[2]) <= 12:
        fail(f"--month {value!r}: expected YYYY-MM, e.g. 2026-10")
    return int(match[1]), int(match[2])


def _org_month(org: str, month: str) -> tuple[int, int]:
    """The database ready, the org known (exit 2 if not), and the month as (year, month)."""
    ensure_db()
    org_exists(org)
    return _month(month)


@fx_app.command("set")
def fx_set(
    currency: Annotated[str, typer.Option(help="Display currency, e.g. CNY.")],
    rate: Annotated[str, typer.Option(help="Units of it per USD, e.g. 7.10 (a decimal point, not a comma).")],
    since: Annotated[str, typer.Option(help="First day (UTC) the rate applies, YYYY-MM-DD.")],
) -> None:
    """Set the rate in force from a day on; figures of earlier days keep their rate."""
    ensure_db()
    day = parse_day(since, "--since")
    with refused(ValidationError):
        stored = set_rate(Actor.cli(), currency, rate, day)
    typer.echo(f"{stored.currency}: {stored.label()}")


@fx_app.command("list")
def fx_list(currency: Annotated[str, typer.Option(help="Display currency.")] = "CNY") -> None:
    """Every dated rate, newest first."""
    ensure_db()
    found = rates(currency.strip().upper())
    if not found:
        typer.echo(f"no dated {currency} rates: SPENDSIGHT_CNY_PER_USD applies (set one with `spendsight fx set`)")
    for r in found:
        typer.echo(f"{r.since}\t{rate_text(r.rate)}\t{r.label()}")


@statement_app.command("close")
def statement_close(
    org: Org,
    month: Annotated[str, typer.Option(help="The month, YYYY-MM (it must have ended).")],
) -> None:
    """Freeze a month's statement now (the worker does it a few days after the month ends)."""
    year, number = _org_month(org, month)
    with refused(ValidationError):
        version, created = close_month(Actor.cli(), org, year, number)
    verb = "closed" if created else "already closed"
    typer.echo(f"{verb} {org} {month} on {version.created_at:%Y-%m-%d}: spend {usd_text(version.total_usd)}")


@statement_app.command("restate")
def statement_restate(
    org: Org,
    month: Annotated[str, typer.Option(help="A closed month, YYYY-MM.")],
) -> None:
    """Store a dated restatement if the closed month's figures changed (a late log, a price override)."""
    year, number = _org_month(org, month)
    if not versions(org, year, number):
        fail(f"{org} {month} is not closed: close it first with `spendsight statement close`")
    found = restate(Actor.cli(), org, year, number)
    if found is None:
        typer.echo(f"{org} {month}: unchanged since it was closed")
    else:
        typer.echo(f"{org} {month}: restated ({found.difference_usd:+,.2f} USD): {found.reason}")


@statement_app.command("history")
def statement_history(
    org: Org,
    month: Annotated[str, typer.Option(help="The month, YYYY-MM.")],
) -> None:
    """The close and every restatement of a month."""
    year, number = _org_month(org, month)
    found = versions(org, year, number)
    if not found:
        typer.echo(f"{org} {month} is open (not closed yet)")
    for v in found:
        kind = "closed" if v.version == 0 else f"restatement {v.version}"
        typer.echo(
            f"{v.created_at:%Y-%m-%d %H:%M} UTC\t{kind}\t{usd_text(v.total_usd)}\t{v.difference_usd:+,.2f}\t{v.reason}"
        )


@statement_app.command("subscribe")
def statement_subscribe(
    org: Org,
    email: Annotated[str, typer.Option(help="A member's email address.")],
    lang: Annotated[str, typer.Option(help="en or zh.")] = "en",
    currency: Annotated[str | None, typer.Option(help="USD or CNY (default: the org's).")] = None,
    off: Annotated[bool, typer.Option("--off", help="Stop the email instead.")] = False,
) -> None:
    """Send a member the statement by email each time a month closes."""
    ensure_db()
    org_exists(org)
    with refused(ValidationError, PermissionDenied):
        changed = subscribe(Actor.cli(), org, not off, email, lang, currency)
    state = "unsubscribed" if off else "subscribed"
    typer.echo(f"{email} {state} for {org}" + ("" if changed else " (no change)"))
