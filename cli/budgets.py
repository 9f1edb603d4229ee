"""Credits, limits, the month-end forecast and its backtest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.common import fail, parse_day, refused, usd_text
from cli.keys import key_app
from cli.store import ensure_db, org_exists
from models.access.roles import Actor
from models.budgets.backtest import BacktestInputError, read_daily_csv
from models.budgets.backtest import backtest as run_backtest
from models.budgets.credits import add_credit, credit_status, remove_credit
from models.budgets.forecast import forecast_scope
from models.budgets.limits import KEEP, clear_limit, limits, set_limit
from models.validation import ValidationError

app = typer.Typer()
credit_app = typer.Typer(
    no_args_is_help=True, help="Credit grants: consumed oldest-expiring first before spend is billable."
)
limit_app = typer.Typer(no_args_is_help=True, help="Monthly soft/hard limits, approved quota and alert thresholds.")
app.add_typer(credit_app, name="credit")
app.add_typer(limit_app, name="limit")
limit_app.add_typer(key_app, name="key")


def _money_option(value: str | None, option: str):
    """None: not given (keep); 'off'/'none': clear; else the amount, validated by models.budgets."""
    if value is None:
        return KEEP
    if value.strip().lower() in ("off", "none", ""):
        return None
    return value


@credit_app.command("add")
def credit_add(
    org: Annotated[str, typer.Option(help="Organization id.")],
    amount: Annotated[str, typer.Option(help="Credit in USD, e.g. 18.")],
    expires: Annotated[str, typer.Option(help="First day the credit no longer applies, YYYY-MM-DD.")],
    granted: Annotated[str | None, typer.Option(help="First day it applies, YYYY-MM-DD (default: today).")] = None,
    note: Annotated[str, typer.Option(help="A label, e.g. 'trial credit'.")] = "",
) -> None:
    """Add a credit grant (adding the same grant again changes nothing)."""
    ensure_db()
    expires_day = parse_day(expires, "--expires")
    granted_day = parse_day(granted, "--granted") if granted else None
    with refused(ValidationError):
        grant, created = add_credit(Actor.cli(), org, amount, expires_day, granted_day, note)
    verb = "added" if created else "already exists:"
    typer.echo(
        f"{verb} credit #{grant.id} {usd_text(grant.amount_usd)} for {org}, "
        f"{grant.granted_on} until {grant.expires_on} ({usd_text(grant.remaining_usd)} left)"
    )


@credit_app.command("list")
def credit_list(
    org: Annotated[str, typer.Option(help="Organization id.")],
    format: Annotated[str, typer.Option("--format", help="text|json")] = "text",
) -> None:
    """Credit grants with what they covered so far and what is left."""

    ensure_db()
    org_exists(org)
    grants = credit_status(org)
    if format == "json":
        typer.echo(
            json.dumps(
                [
                    {
                        "id": g.id,
                        "amount_usd": float(g.amount_usd),
                        "used_usd": float(g.used_usd),
                        "remaining_usd": float(g.remaining_usd),
                        "granted": g.granted_on.isoformat(),
                        "expires": g.expires_on.isoformat(),
                        "state": g.state,
                        "note": g.note,
                    }
                    for g in grants
                ],
                indent=2,
            )
        )
        return
    if format != "text":
        fail(f"--format {format!r}: choose text or json")
    if not grants:
        typer.echo(f"no credit grants for {org} (add one with `spendsight credit add`)")
    for g in grants:
        typer.echo(
            f"#{g.id}\t{usd_text(g.amount_usd)}\tused {usd_text(g.used_usd)}\tleft {usd_text(g.remaining_usd)}"
            f"\t{g.granted_on}..{g.expires_on}\t{g.state}\t{g.note}"
        )


@credit_app.command("remove")
def credit_remove(
    org: Annotated[str, typer.Option(help="Organization id.")],
    id: Annotated[int, typer.Option("--id", min=1, max=2**63 - 1, help="Grant number from `credit list`.")],
) -> None:
    """Remove a credit grant."""
    ensure_db()
    with refused(ValidationError):
        remove_credit(Actor.cli(), org, id)
    typer.echo(f"removed credit #{id} from {org}")


@limit_app.command("set")
def limit_set(
    org: Annotated[str, typer.Option(help="Organization id.")],
    project: Annotated[str | None, typer.Option(help="Limit one project instead of the whole org.")] = None,
    soft: Annotated[str | None, typer.Option(help="Soft limit in USD per month ('off' clears).")] = None,
    hard: Annotated[str | None, typer.Option(help="Hard limit in USD per month ('off' clears).")] = None,
    quota: Annotated[str | None, typer.Option(help="Approved monthly usage limit in USD ('off' clears).")] = None,
    thresholds: Annotated[str | None, typer.Option(help="Alert at these % of the soft limit, e.g. 50,80,100.")] = None,
    strict: Annotated[
        bool | None,
        typer.Option(
            "--strict/--no-strict", help="Gateway reserves each request's worst-case cost, so the hard limit holds."
        ),
    ] = None,
) -> None:
    """Set limits; options not given keep their value."""
    ensure_db()
    values = {
        "soft": _money_option(soft, "--soft"),
        "hard": _money_option(hard, "--hard"),
        "quota": _money_option(quota, "--quota"),
        "thresholds": KEEP if thresholds is None else thresholds,
    }
    with refused(ValidationError):
        limit = set_limit(Actor.cli(), org, project, **values, strict=KEEP if strict is None else strict)
    typer.echo(
        f"{org} {limit.scope}: soft {usd_text(limit.soft_usd)}, hard {usd_text(limit.hard_usd)}, "
        f"quota {usd_text(limit.quota_usd)}, thresholds {','.join(map(str, limit.thresholds))}%"
        + (", strict" if limit.strict else "")
    )


@limit_app.command("show")
def limit_show(org: Annotated[str, typer.Option(help="Organization id.")]) -> None:
    """The org's limits (org-wide first, then per project)."""
    ensure_db()
    org_exists(org)
    rows = limits(org)
    if not rows:
        typer.echo(f"no limits for {org} (set one with `spendsight limit set`)")
    for limit in rows:
        typer.echo(
            f"{limit.scope}\tsoft {usd_text(limit.soft_usd)}\thard {usd_text(limit.hard_usd)}\t"
            f"quota {usd_text(limit.quota_usd)}\tthresholds {','.join(map(str, limit.thresholds))}"
        )


@limit_app.command("clear")
def limit_clear(
    org: Annotated[str, typer.Option(help="Organization id.")],
    project: Annotated[str | None, typer.Option(help="The project's limit instead of the org's.")] = None,
) -> None:
    """Remove a limit (and so its alerts)."""
    ensure_db()
    org_exists(org)
    with refused(ValidationError):
        removed = clear_limit(Actor.cli(), org, project)
    typer.echo(f"removed the limit of {org} {project or '(organization)'}" if removed else "no such limit")


@app.command()
def forecast(
    org: Annotated[str, typer.Option(help="Organization id.")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Last day to use, YYYY-MM-DD (default: now).")] = None,
    project: Annotated[str | None, typer.Option(help="Forecast one project against its limits.")] = None,
    format: Annotated[str, typer.Option("--format", help="text|json")] = "text",
) -> None:
    """Month-end spend forecast (p10/p50/p90) and the days the soft and hard limits are crossed."""

    ensure_db()
    if format not in ("text", "json"):
        fail(f"--format {format!r}: choose text or json")
    day = parse_day(as_of, "--as-of") if as_of else None
    org_exists(org)
    with refused(ValidationError):
        result = forecast_scope(org, project, as_of=day)
    data = result.as_json()
    if format == "json":
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(
        f"{org} {data['month']} as of {data['as_of']}: spent {usd_text(result.spent)}; month-end "
        f"p50 {usd_text(result.p50)} (p10 {usd_text(result.p10)}, p90 {usd_text(result.p90)})"
    )
    for name, limit, cross in (
        ("soft", result.soft_limit, result.soft_cross),
        ("hard", result.hard_limit, result.hard_cross),
    ):
        if limit is not None:
            typer.echo(
                f"{name} limit {usd_text(limit)}: " + (f"crossed on {cross}" if cross else "not projected this month")
            )
    track = data["track_record"]["summary"]
    if track["mape_pct"] is not None:
        typer.echo(
            f"track record, {track['months']} past months as of days 7/10/14/21: p50 off by {track['mape_pct']}% on "
            f"average, run-rate {track['run_rate_mape_pct']}%; p10-p90 held the actual {track['band_hit_rate']:.0%}"
        )


@app.command()
def backtest(
    daily_csv: Annotated[Path, typer.Option("--daily-csv", help="CSV with columns date,cost_usd.")],
    format: Annotated[str, typer.Option("--format", help="json|text")] = "json",
) -> None:
    """Backtest the forecast on a daily series: every complete month, as of days 7, 10, 14 and 21."""

    if format not in ("text", "json"):
        fail(f"--format {format!r}: choose json or text")
    with refused(BacktestInputError):
        daily = read_daily_csv(daily_csv)
    result = run_backtest(daily)
    if format == "json":
        typer.echo(json.dumps(result, indent=2))
        return
    s = result["summary"]
    if not result["runs"]:
        typer.echo("no complete calendar month in the file; nothing to backtest")
        return
    typer.echo(
        f"{s['runs']} runs over {s['months']} months: forecast MAPE {s['mape_forecast']}% vs naive run-rate "
        f"{s['mape_naive']}%; p10-p90 covered the actual {s['coverage_p10_p90']:.0%} of the time"
    )
    for day, d in s["by_as_of_day"].items():
        typer.echo(
            f"  as of day {day:>2}: forecast {d['mape_forecast']}%  naive {d['mape_naive']}%  "
            f"coverage {d['coverage_p10_p90']:.0%}"
        )
