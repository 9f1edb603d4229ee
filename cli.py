"""The `spendsight` command line: thin commands over models/, collectors/ and alerts/."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, help="Spendsight: LLM API usage and cost monitor.")
org_app = typer.Typer(no_args_is_help=True, help="Organizations.")
member_app = typer.Typer(no_args_is_help=True, help="Members of an organization and their roles.")
app.add_typer(org_app, name="org")
app.add_typer(member_app, name="member")

EXIT_USAGE = 2
EXIT_QUARANTINED = 3


def fail(message: str, code: int = EXIT_USAGE) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r}: expected a date YYYY-MM-DD")


def _db():
    """Initialize the database (idempotent) and hand back nothing; commands then use sessions."""
    from models.db import init_db

    init_db()


@app.command()
def init() -> None:
    """Create the data dir, the database tables and a prices.toml to edit."""
    from models.prices import default_prices_text
    from models.settings import get_settings

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _db()
    if not settings.prices_file.exists():
        settings.prices_file.write_text(default_prices_text())
        typer.echo(f"wrote {settings.prices_file}")
    typer.echo(f"database ready: {_safe_url(settings.db_url)}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command()
def demo(
    force: Annotated[bool, typer.Option(help="Load even when data exists.")] = False,
) -> None:
    """Load 90 days of demo data (no-op when the database already has organizations)."""
    from models.demo import load_demo

    _db()
    loaded = load_demo(force=force)
    typer.echo(loaded)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Log files (JSONL, CSV; .gz allowed).")],
    format: Annotated[str, typer.Option("--format", help="auto|openai-jsonl|anthropic-jsonl|litellm-csv|csv")] = "auto",
    org: Annotated[Optional[str], typer.Option(help="Organization for lines that do not name one.")] = None,
    project: Annotated[Optional[str], typer.Option(help="Project for lines that do not name one.")] = None,
    model: Annotated[Optional[str], typer.Option(help="Model for lines that do not name one.")] = None,
    map: Annotated[Optional[list[str]], typer.Option("--map", help="FIELD=COLUMN for --format csv.")] = None,
    at: Annotated[Optional[str], typer.Option(help="ISO time for lines without one.")] = None,
) -> None:
    """Ingest request logs; prints `read=N ingested=N duplicate=N quarantined=N`."""
    from collectors.parallel import Helpers

    # Before the heavy imports below: helper processes import the same code meanwhile.
    helpers = Helpers.for_paths(paths, format)
    try:
        result = _ingest(paths, format, org, project, model, map, at, helpers)
    finally:
        failures = helpers.close() if helpers else []
    if failures:
        fail(f"a parallel ingest process failed: {failures[0]}", 1)
    for created in result.orgs_created:
        typer.echo(f"created organization {created} (rename it with `spendsight org update`)", err=True)
    for problem in result.problems:
        typer.echo(f"quarantined {problem}", err=True)
    _after_usage(result.orgs_touched)
    typer.echo(result.summary())
    if result.quarantined:
        raise typer.Exit(EXIT_QUARANTINED)


def _ingest(paths, format, org, project, model, map, at, helpers):
    """Check the options and run the ingest; the heavy imports happen here, after helpers started."""
    from collectors.logs import Defaults, UsageError, parse_map
    from collectors.logs import ingest as run_ingest
    from collectors.logs.formats import Reject, parse_time

    _db()
    try:
        mapping = parse_map(map or [])
        when = parse_time(at, "--at") if at else None
    except UsageError as exc:
        fail(str(exc))
    except Reject as exc:
        fail(exc.reason)
    defaults = Defaults(org=org, project=project, model=model, at=when)
    try:
        with _progress() as advance:
            return run_ingest(paths, format, defaults, mapping, progress=advance.bytes, on_file=advance.file,
                              helpers=helpers)
    except UsageError as exc:
        fail(str(exc))


class _NoProgress:
    def bytes(self, n: int) -> None:
        pass

    def file(self, path, size) -> None:
        pass


class _progress:
    """A progress bar on a terminal; silence otherwise (pipes, CI, tests)."""

    def __enter__(self):
        if not sys.stderr.isatty():
            self._bar = None
            return _NoProgress()
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        self._bar = Progress("{task.description}", BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                             transient=True)
        self._bar.__enter__()
        bar = self._bar
        state = {"task": None}

        class Advance:
            def file(self, path, size):
                state["task"] = bar.add_task(str(path), total=size)

            def bytes(self, n):
                if state["task"] is not None:
                    bar.advance(state["task"], n)

        return Advance()

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
        return False


def _after_usage(org_ids) -> None:
    """After new usage: evaluate alerts for the orgs it touched (when the alerts package provides it)."""
    if not org_ids:
        return
    hook = _alerts_hook()
    if hook is not None:
        hook(sorted(org_ids))


def _alerts_hook():
    try:
        from alerts import after_usage
    except ImportError:
        return None
    return after_usage


@app.command()
def report(
    org: Annotated[str, typer.Option(help="Organization id.")],
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD (org time zone).")],
    end: Annotated[str, typer.Option(help="Day after the last, YYYY-MM-DD (exclusive).")],
    by: Annotated[str, typer.Option(help="Comma list of day,model,project,api_key,user.")] = "",
    format: Annotated[str, typer.Option("--format", help="csv|json")] = "csv",
    billed: Annotated[bool, typer.Option("--billed", help="Estimated vs provider-billed per UTC day and project.")] = False,
) -> None:
    """Spend per group between two dates (end exclusive), as CSV or JSON."""
    from models.db import session_scope
    from models.orgs import ValidationError, get_org
    from models.report import REPORT_BY, REPORT_COLUMNS, render, report_rows

    _db()
    start_day, end_day = parse_day(start, "--start"), parse_day(end, "--end")
    if end_day <= start_day:
        fail(f"--end {end} must be after --start {start} (end is exclusive)")
    keys = tuple(k.strip() for k in by.split(",") if k.strip())
    for key in keys:
        if key not in REPORT_BY:
            fail(f"--by {key!r}: choose from {', '.join(REPORT_BY)}")
    if format not in ("csv", "json"):
        fail(f"--format {format!r}: choose csv or json")
    try:
        with session_scope() as session:
            get_org(session, org)
    except ValidationError as exc:
        fail(str(exc))
    if billed:
        return _report_billed(org, start_day, end_day, keys, format)
    rows = report_rows(org, start_day, end_day, keys)
    typer.echo(render(rows, [*keys, *REPORT_COLUMNS], format), nl=False)


@org_app.command("add")
def org_add(
    id: Annotated[str, typer.Option("--id", help="Organization id, e.g. org-prod.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    env: Annotated[str, typer.Option(help="prod|staging")] = "prod",
    timezone: Annotated[str, typer.Option(help="IANA time zone for days and months.")] = "UTC",
) -> None:
    """Create an organization."""
    from models.orgs import Actor, ValidationError, create_org_as

    _db()
    try:
        org = create_org_as(Actor.cli(), id, name, env, timezone)
    except ValidationError as exc:
        fail(str(exc))
    typer.echo(f"created {org.id} ({org.environment}, {org.timezone})")


@org_app.command("update")
def org_update(
    id: Annotated[str, typer.Option("--id", help="Organization id.")],
    name: Annotated[Optional[str], typer.Option(help="New display name.")] = None,
    env: Annotated[Optional[str], typer.Option(help="prod|staging")] = None,
    timezone: Annotated[Optional[str], typer.Option(help="IANA time zone.")] = None,
) -> None:
    """Rename an organization or change its environment or time zone."""
    from models.orgs import Actor, ValidationError, update_org_as

    _db()
    changes = {k: v for k, v in {"name": name, "environment": env, "timezone": timezone}.items() if v is not None}
    if not changes:
        fail("nothing to change: pass --name, --env or --timezone")
    try:
        org = update_org_as(Actor.cli(), id, **changes)  # a time-zone change re-cuts the daily rollups
    except ValidationError as exc:
        fail(str(exc))
    typer.echo(f"updated {org.id}")


@org_app.command("list")
def org_list() -> None:
    """List organizations."""
    from models.db import session_scope
    from models.orgs import list_orgs

    _db()
    with session_scope() as session:
        for org in list_orgs(session):
            typer.echo(f"{org.id}\t{org.environment}\t{org.timezone}\t{org.name}")


@member_app.command("add")
def member_add(
    org: Annotated[str, typer.Option(help="Organization id.")],
    email: Annotated[str, typer.Option(help="Member's email.")],
    role: Annotated[str, typer.Option(help="reader|owner")] = "reader",
) -> None:
    """Add a member to an organization (or change their role)."""
    from models.orgs import Actor, ValidationError, set_member_as

    _db()
    try:
        member = set_member_as(Actor.cli(), org, email, role)
    except ValidationError as exc:
        fail(str(exc))
    typer.echo(f"{member.email} is {member.role} of {member.org_id}")


@member_app.command("remove")
def member_remove(
    org: Annotated[str, typer.Option(help="Organization id.")],
    email: Annotated[str, typer.Option(help="Member's email.")],
) -> None:
    """Remove a member from an organization."""
    from models.orgs import Actor, ValidationError, remove_member_as

    _db()
    try:
        remove_member_as(Actor.cli(), org, email)
    except ValidationError as exc:
        fail(str(exc))
    typer.echo(f"removed {email} from {org}")


@app.command()
def rollup(
    org: Annotated[Optional[str], typer.Option(help="Only this organization.")] = None,
) -> None:
    """Rebuild rollups from raw usage (after editing data by hand)."""
    from models.db import session_scope
    from models.orgs import list_orgs
    from models.rollups import rebuild_org

    _db()
    with session_scope() as session:
        ids = [org] if org else [o.id for o in list_orgs(session)]
    for org_id in ids:
        rebuild_org(org_id)
        typer.echo(f"rebuilt rollups of {org_id}")


@app.command()
def worker() -> None:
    """Run the scheduler in the foreground until Ctrl-C (standby while another worker leads)."""
    import logging
    import signal
    import threading

    from collectors.scheduler import Worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per job run is noise
    _db()
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    runner = Worker()
    runner.start()
    typer.echo("worker started (Ctrl-C stops it)", err=True)
    done.wait()
    runner.stop()
    typer.echo("worker stopped", err=True)


# --- sources and collection (collectors/) -------------------------------------------------------

source_app = typer.Typer(no_args_is_help=True, help="Provider admin-API sources (OpenAI, Anthropic) of an organization.")
app.add_typer(source_app, name="source")
EXIT_COLLECT_FAILED = 1


@source_app.command("add")
def source_add(
    org: Annotated[str, typer.Option(help="Organization id.")],
    provider: Annotated[str, typer.Option(help="openai|anthropic")],
    key_env: Annotated[str, typer.Option("--key-env", help="NAME of the variable holding the admin key.")],
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="API base URL (default: the provider's).")] = None,
    name: Annotated[Optional[str], typer.Option(help="Source name (default: ORG-PROVIDER).")] = None,
) -> None:
    """Add a source; the key itself is read from the variable (or .streamlit/secrets.toml) at run time."""
    from collectors.sources import add_source
    from models.access import PermissionDenied
    from models.db import session_scope
    from models.orgs import Actor, ValidationError
    from models.settings import get_settings

    _db()
    try:
        with session_scope() as session:
            source = add_source(session, Actor.cli(), org, provider, key_env, base_url, name)
    except (ValidationError, PermissionDenied) as exc:
        fail(str(exc))
    typer.echo(f"added source {source.name} ({source.provider}, {source.base_url}, key from ${source.key_env})")
    if not get_settings().has_secret(source.key_env):
        typer.echo(f"warning: {source.key_env} is not set yet; export it or add it to .streamlit/secrets.toml",
                   err=True)


@source_app.command("list")
def source_list(org: Annotated[Optional[str], typer.Option(help="Only this organization.")] = None) -> None:
    """List sources: name, org, provider, enabled, key variable, base URL, last success, last error."""
    from collectors.sources import list_sources
    from models.db import session_scope

    _db()
    with session_scope() as session:
        for s in list_sources(session, org):
            success = s.last_success_at.strftime("%Y-%m-%dT%H:%M:%SZ") if s.last_success_at else "-"
            typer.echo("\t".join([s.name, s.org_id, s.provider, "enabled" if s.enabled else "disabled", s.key_env,
                                  s.base_url, success, s.last_error or "-"]))


def _set_source_enabled(name: str, enabled: bool) -> None:
    from collectors.sources import set_enabled
    from models.access import PermissionDenied
    from models.db import session_scope
    from models.orgs import Actor, ValidationError

    _db()
    try:
        with session_scope() as session:
            set_enabled(session, Actor.cli(), name, enabled)
    except (ValidationError, PermissionDenied) as exc:
        fail(str(exc))
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
    org: Annotated[Optional[str], typer.Option(help="Only this organization's sources.")] = None,
    source: Annotated[Optional[str], typer.Option(help="Only this source (even if disabled).")] = None,
    since: Annotated[Optional[str], typer.Option(help="Re-collect from this UTC day, YYYY-MM-DD (backfill).")] = None,
) -> None:
    """Collect usage and costs once, in the foreground; one summary line per endpoint."""
    from datetime import UTC, datetime, time

    from collectors.runner import load_source, run_source
    from collectors.sources import list_sources
    from models.db import session_scope

    _db()
    since_at = datetime.combine(parse_day(since, "--since"), time(), UTC) if since else None
    if since_at and since_at > datetime.now(UTC):
        fail(f"--since {since} is in the future")
    if source:
        chosen = [load_source(name=source)]
        if chosen[0] is None or (org and chosen[0].org_id != org):
            fail(f"--source {source!r}: no such source" + (f" in {org}" if org else "") + " (see `spendsight source list`)")
    else:
        with session_scope() as session:
            chosen = [s for s in list_sources(session, org) if s.enabled]
        if not chosen:
            fail("no enabled sources" + (f" in {org}" if org else "") + ": add one with `spendsight source add`")
    failed = False
    touched = set()
    with _collect_progress() as progress:
        for src in chosen:
            result = run_source(src, since=since_at, progress=progress)
            if result.error:
                typer.echo(f"{src.name}: error: {result.error}", err=True)
            for outcome in result.endpoints:
                typer.echo(outcome.summary(src.name))
            failed = failed or not result.ok
            if result.rows:
                touched.add(src.org_id)
    _after_usage(touched)
    if failed:
        raise typer.Exit(EXIT_COLLECT_FAILED)


class _collect_progress:
    """One bar per endpoint on a terminal (windows done of planned); silence otherwise."""

    def __enter__(self):
        if not sys.stderr.isatty():
            self._bar = None
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress

        self._bar = Progress("{task.description}", BarColumn(), MofNCompleteColumn(), transient=True)
        self._bar.__enter__()
        tasks: dict[str, int] = {}

        def advance(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = self._bar.add_task(label, total=total)
            self._bar.update(tasks[label], completed=done, total=total)

        return advance

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
        return False


def _report_billed(org: str, start_day, end_day, keys, format: str) -> None:
    """`report --billed`: day,provider,project,estimated_usd,billed_usd,drift_pct (UTC days, end exclusive)."""
    from models.reconcile import RECONCILE_COLUMNS, reconcile
    from models.report import render

    if keys:
        fail("--by does not apply to --billed (rows are per day, provider and project)")
    typer.echo(render(reconcile(org, start_day, end_day), list(RECONCILE_COLUMNS), format), nl=False)


# --- budgets, credits, forecast and alerts (models/budgets.py, models/forecast.py, alerts/) -----

credit_app = typer.Typer(no_args_is_help=True, help="Credit grants: consumed oldest-expiring first before spend is billable.")
limit_app = typer.Typer(no_args_is_help=True, help="Monthly soft/hard limits, approved quota and alert thresholds.")
alerts_app = typer.Typer(no_args_is_help=True, help="Threshold, forecast, credit and spike alerts by email and webhook.")
recipient_app = typer.Typer(no_args_is_help=True, help="Extra alert recipients besides the org's owners.")
app.add_typer(credit_app, name="credit")
app.add_typer(limit_app, name="limit")
app.add_typer(alerts_app, name="alerts")
alerts_app.add_typer(recipient_app, name="recipient")


def _money_option(value: Optional[str], option: str):
    """None: not given (keep); 'off'/'none': clear; else the amount, validated by models.budgets."""
    from models.budgets import KEEP

    if value is None:
        return KEEP
    if value.strip().lower() in ("off", "none", ""):
        return None
    return value


def _org_exists(org: str) -> None:
    from models.db import session_scope
    from models.orgs import ValidationError, get_org

    try:
        with session_scope() as session:
            get_org(session, org)
    except ValidationError as exc:
        fail(str(exc))


def _usd_text(value) -> str:
    return "-" if value is None else f"${value:,.2f}"


@credit_app.command("add")
def credit_add(
    org: Annotated[str, typer.Option(help="Organization id.")],
    amount: Annotated[str, typer.Option(help="Credit in USD, e.g. 18.")],
    expires: Annotated[str, typer.Option(help="First day the credit no longer applies, YYYY-MM-DD.")],
    granted: Annotated[Optional[str], typer.Option(help="First day it applies, YYYY-MM-DD (default: today).")] = None,
    note: Annotated[str, typer.Option(help="A label, e.g. 'trial credit'.")] = "",
) -> None:
    """Add a credit grant (adding the same grant again changes nothing)."""
    from models.budgets import add_credit
    from models.orgs import Actor, ValidationError

    _db()
    expires_day = parse_day(expires, "--expires")
    granted_day = parse_day(granted, "--granted") if granted else None
    try:
        grant, created = add_credit(Actor.cli(), org, amount, expires_day, granted_day, note)
    except ValidationError as exc:
        fail(str(exc))
    verb = "added" if created else "already exists:"
    typer.echo(f"{verb} credit #{grant.id} {_usd_text(grant.amount_usd)} for {org}, "
               f"{grant.granted_on} until {grant.expires_on} ({_usd_text(grant.remaining_usd)} left)")


@credit_app.command("list")
def credit_list(
    org: Annotated[str, typer.Option(help="Organization id.")],
    format: Annotated[str, typer.Option("--format", help="text|json")] = "text",
) -> None:
    """Credit grants with what they covered so far and what is left."""
    import json

    from models.budgets import credit_status

    _db()
    _org_exists(org)
    grants = credit_status(org)
    if format == "json":
        typer.echo(json.dumps([{"id": g.id, "amount_usd": float(g.amount_usd), "used_usd": float(g.used_usd),
                                "remaining_usd": float(g.remaining_usd), "granted": g.granted_on.isoformat(),
                                "expires": g.expires_on.isoformat(), "state": g.state, "note": g.note}
                               for g in grants], indent=2))
        return
    if format != "text":
        fail(f"--format {format!r}: choose text or json")
    if not grants:
        typer.echo(f"no credit grants for {org} (add one with `spendsight credit add`)")
    for g in grants:
        typer.echo(f"#{g.id}\t{_usd_text(g.amount_usd)}\tused {_usd_text(g.used_usd)}\tleft {_usd_text(g.remaining_usd)}"
                   f"\t{g.granted_on}..{g.expires_on}\t{g.state}\t{g.note}")


@credit_app.command("remove")
def credit_remove(
    org: Annotated[str, typer.Option(help="Organization id.")],
    id: Annotated[int, typer.Option("--id", help="Grant number from `credit list`.")],
) -> None:
    """Remove a credit grant."""
    from models.budgets import remove_credit
    from models.orgs import Actor, ValidationError

    _db()
    try:
        remove_credit(Actor.cli(), org, id)
    except ValidationError as exc:
        fail(str(exc))
    typer.echo(f"removed credit #{id} from {org}")


@limit_app.command("set")
def limit_set(
    org: Annotated[str, typer.Option(help="Organization id.")],
    project: Annotated[Optional[str], typer.Option(help="Limit one project instead of the whole org.")] = None,
    soft: Annotated[Optional[str], typer.Option(help="Soft limit in USD per month ('off' clears).")] = None,
    hard: Annotated[Optional[str], typer.Option(help="Hard limit in USD per month ('off' clears).")] = None,
    quota: Annotated[Optional[str], typer.Option(help="Approved monthly usage limit in USD ('off' clears).")] = None,
    thresholds: Annotated[Optional[str], typer.Option(help="Alert at these % of the soft limit, e.g. 50,80,100.")] = None,
) -> None:
    """Set limits; options not given keep their value."""
    from models.budgets import KEEP, set_limit
    from models.orgs import Actor, ValidationError

    _db()
    values = {"soft": _money_option(soft, "--soft"), "hard": _money_option(hard, "--hard"),
              "quota": _money_option(quota, "--quota"), "thresholds": KEEP if thresholds is None else thresholds}
    try:
        limit = set_limit(Actor.cli(), org, project, **values)
    except ValidationError as exc:
        fail(str(exc))
    typer.echo(f"{org} {limit.scope}: soft {_usd_text(limit.soft_usd)}, hard {_usd_text(limit.hard_usd)}, "
               f"quota {_usd_text(limit.quota_usd)}, thresholds {','.join(map(str, limit.thresholds))}%")


@limit_app.command("show")
def limit_show(org: Annotated[str, typer.Option(help="Organization id.")]) -> None:
    """The org's limits (org-wide first, then per project)."""
    from models.budgets import limits

    _db()
    _org_exists(org)
    rows = limits(org)
    if not rows:
        typer.echo(f"no limits for {org} (set one with `spendsight limit set`)")
    for limit in rows:
        typer.echo(f"{limit.scope}\tsoft {_usd_text(limit.soft_usd)}\thard {_usd_text(limit.hard_usd)}\t"
                   f"quota {_usd_text(limit.quota_usd)}\tthresholds {','.join(map(str, limit.thresholds))}")


@limit_app.command("clear")
def limit_clear(
    org: Annotated[str, typer.Option(help="Organization id.")],
    project: Annotated[Optional[str], typer.Option(help="The project's limit instead of the org's.")] = None,
) -> None:
    """Remove a limit (and so its alerts)."""
    from models.budgets import clear_limit
    from models.orgs import Actor, ValidationError

    _db()
    _org_exists(org)
    try:
        removed = clear_limit(Actor.cli(), org, project)
    except ValidationError as exc:
        fail(str(exc))
    typer.echo(f"removed the limit of {org} {project or '(organization)'}" if removed else "no such limit")


@app.command()
def forecast(
    org: Annotated[str, typer.Option(help="Organization id.")],
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="Last day to use, YYYY-MM-DD (default: now).")] = None,
    project: Annotated[Optional[str], typer.Option(help="Forecast one project against its limits.")] = None,
    format: Annotated[str, typer.Option("--format", help="text|json")] = "text",
) -> None:
    """Month-end spend forecast (p10/p50/p90) and the days the soft and hard limits are crossed."""
    import json

    from models.forecast import forecast_scope

    _db()
    if format not in ("text", "json"):
        fail(f"--format {format!r}: choose text or json")
    day = parse_day(as_of, "--as-of") if as_of else None
    _org_exists(org)
    result = forecast_scope(org, project, as_of=day)
    data = result.as_json()
    if format == "json":
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(f"{org} {data['month']} as of {data['as_of']}: spent {_usd_text(result.spent)}; month-end "
               f"p50 {_usd_text(result.p50)} (p10 {_usd_text(result.p10)}, p90 {_usd_text(result.p90)})")
    for name, limit, cross in (("soft", result.soft_limit, result.soft_cross), ("hard", result.hard_limit, result.hard_cross)):
        if limit is not None:
            typer.echo(f"{name} limit {_usd_text(limit)}: " + (f"crossed on {cross}" if cross else "not projected this month"))
    track = data["track_record"]["summary"]
    if track["mape_pct"] is not None:
        typer.echo(f"track record, {track['months']} past months as of days 7/10/14/21: p50 off by {track['mape_pct']}% on "
                   f"average, run-rate {track['run_rate_mape_pct']}%; p10-p90 held the actual {track['band_hit_rate']:.0%}")


@app.command()
def backtest(
    daily_csv: Annotated[Path, typer.Option("--daily-csv", help="CSV with columns date,cost_usd.")],
    format: Annotated[str, typer.Option("--format", help="json|text")] = "json",
) -> None:
    """Backtest the forecast on a daily series: every complete month, as of days 7, 10, 14 and 21."""
    import json

    from models.backtest import BacktestInputError, backtest as run_backtest, read_daily_csv

    if format not in ("text", "json"):
        fail(f"--format {format!r}: choose json or text")
    try:
        daily = read_daily_csv(daily_csv)
    except BacktestInputError as exc:
        fail(str(exc))
    result = run_backtest(daily)
    if format == "json":
        typer.echo(json.dumps(result, indent=2))
        return
    s = result["summary"]
    if not result["runs"]:
        typer.echo("no complete calendar month in the file; nothing to backtest")
        return
    typer.echo(f"{s['runs']} runs over {s['months']} months: forecast MAPE {s['mape_forecast']}% vs naive run-rate "
               f"{s['mape_naive']}%; p10-p90 covered the actual {s['coverage_p10_p90']:.0%} of the time")
    for day, d in s["by_as_of_day"].items():
        typer.echo(f"  as of day {day:>2}: forecast {d['mape_forecast']}%  naive {d['mape_naive']}%  "
                   f"coverage {d['coverage_p10_p90']:.0%}")


def _delivery_lines(delivery) -> None:
    typer.echo(f"messages: {delivery}")
    for error in delivery.errors:
        typer.echo(f"  {error}", err=True)
    if delivery.waiting:
        typer.echo("  SMTP_HOST is not set: email stays queued until it is", err=True)


@alerts_app.command("run")
def alerts_run(org: Annotated[Optional[str], typer.Option(help="Only this organization.")] = None) -> None:
    """Evaluate alert rules once and send every pending message now, whatever its backoff."""
    from alerts import run_once

    _db()
    if org:
        _org_exists(org)
    report = run_once(org)
    typer.echo(f"alerts fired: {len(report.events)}")
    for error in report.errors:
        typer.echo(f"  evaluation failed: {error}", err=True)
    _delivery_lines(report.delivery)
    if report.errors or report.delivery.retrying or report.delivery.failed or report.delivery.waiting:
        raise typer.Exit(1)


@alerts_app.command("test")
def alerts_test(org: Annotated[str, typer.Option(help="Organization id.")]) -> None:
    """Send a test alert to the org's owners, its recipients and its webhook."""
    from alerts import send_test
    from models.orgs import Actor

    _db()
    _org_exists(org)
    report = send_test(Actor.cli(), org)
    _delivery_lines(report)
    if not report.sent or report.retrying or report.failed or report.waiting:
        raise typer.Exit(1)


@alerts_app.command("history")
def alerts_history(
    org: Annotated[str, typer.Option(help="Organization id.")],
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 50,
) -> None:
    """Recent alerts and the state of each message: sent, pending, failed (with the reason)."""
    from alerts.outbox import history

    _db()
    _org_exists(org)
    for row in history([org], limit=limit):
        typer.echo(f"{row['created_at']:%Y-%m-%d %H:%M}\t{row['rule']}\t{row['project_id'] or '-'}\t{row['period']}"
                   f"\t{row['status']}\t{row['recipient'] or '-'}\t{row['last_error']}")


@alerts_app.command("webhook")
def alerts_webhook(
    org: Annotated[str, typer.Option(help="Organization id.")],
    url: Annotated[Optional[str], typer.Option(help="Slack-compatible incoming webhook URL.")] = None,
    remove: Annotated[bool, typer.Option(help="Remove the webhook.")] = False,
) -> None:
    """Set or remove the org's webhook (every alert is posted to it as {"text": ...})."""
    from alerts.config import redact_url, set_webhook
    from models.orgs import Actor, ValidationError

    _db()
    if bool(url) == remove:
        fail("pass either --url URL or --remove")
    try:
        set_webhook(Actor.cli(), org, None if remove else url)
    except ValidationError as exc:
        fail(str(exc))
    typer.echo(f"removed the webhook of {org}" if remove else f"webhook of {org}: {redact_url(url)}")


@recipient_app.command("add")
def recipient_add(
    org: Annotated[str, typer.Option(help="Organization id.")],
    email: Annotated[str, typer.Option(help="Address to notify.")],
    rule: Annotated[str, typer.Option(help="One rule (threshold, forecast_soft, ...) or * for all.")] = "*",
) -> None:
    """Also send alerts of one rule (or all) to this address."""
    from alerts.config import add_recipient
    from models.orgs import Actor, ValidationError

    _db()
    try:
        r = add_recipient(Actor.cli(), org, email, rule)
    except ValidationError as exc:
        fail(str(exc))
    typer.echo(f"{r.email} gets {r.rule} alerts of {org}")


@recipient_app.command("remove")
def recipient_remove(
    org: Annotated[str, typer.Option(help="Organization id.")],
    email: Annotated[str, typer.Option(help="Address.")],
    rule: Annotated[str, typer.Option(help="The rule it was added for, or *.")] = "*",
) -> None:
    """Stop sending one rule's alerts (or all, *) to this address."""
    from alerts.config import remove_recipient
    from models.orgs import Actor, ValidationError

    _db()
    try:
        remove_recipient(Actor.cli(), org, email, rule)
    except ValidationError as exc:
        fail(str(exc))
    typer.echo(f"removed {email} from {rule} alerts of {org}")


@recipient_app.command("list")
def recipient_list(org: Annotated[str, typer.Option(help="Organization id.")]) -> None:
    """Who gets alerts: owners (always) and extra recipients per rule."""
    from alerts.config import recipients
    from models.db import session_scope
    from models.orgs import owner_emails

    _db()
    _org_exists(org)
    with session_scope() as session:
        for email in owner_emails(session, org):
            typer.echo(f"*\t{email}\t(owner)")
    for r in recipients(org):
        typer.echo(f"{r.rule}\t{r.email}")


# --- users and sign-in (models/auth.py) ----------------------------------------------------------

user_app = typer.Typer(no_args_is_help=True, help="Sign-in accounts (passwords are stored as argon2id hashes).")
app.add_typer(user_app, name="user")


def _read_password(from_stdin: bool) -> str:
    """The new password: the first line of stdin with --password-stdin, else asked twice, hidden."""
    if from_stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        if not password:
            fail("--password-stdin: standard input is empty; pipe the password in, e.g. `printf %s \"$PW\" |`")
        return password
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def _user_change(change, *args) -> None:
    from models.access import PermissionDenied
    from models.db import session_scope
    from models.orgs import Actor, ValidationError

    _db()
    try:
        with session_scope() as session:
            change(session, Actor.cli(), *args)
    except (ValidationError, PermissionDenied) as exc:
        fail(str(exc))


@user_app.command("add")
def user_add(
    email: Annotated[str, typer.Option(help="The user's email (their sign-in name).")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input.")] = False,
) -> None:
    """Create a sign-in account; `member add --org O --email E --role owner` then gives it an organization."""
    from models.auth import add_user
    from models.db import session_scope
    from models.orgs import ValidationError, validate_email

    try:
        email = validate_email(email)
    except ValidationError as exc:
        fail(str(exc))
    _user_change(add_user, email, _read_password(password_stdin))
    typer.echo(f"added user {email}")
    from models.access import visible_orgs
    from models.orgs import Actor

    with session_scope() as session:
        if not visible_orgs(session, Actor(email)):
            typer.echo(f"{email} is not a member of any organization yet: "
                       f"spendsight member add --org ORG --email {email} --role owner", err=True)


@user_app.command("passwd")
def user_passwd(
    email: Annotated[str, typer.Option(help="The user's email.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input.")] = False,
) -> None:
    """Set a new password; ends the user's sessions and lifts a sign-in lockout."""
    from models.auth import set_password

    _user_change(set_password, email, _read_password(password_stdin))
    typer.echo(f"changed the password of {email.strip().lower()}; their sessions have ended")


@user_app.command("remove")
def user_remove(email: Annotated[str, typer.Option(help="The user's email.")]) -> None:
    """Delete a sign-in account and end its sessions (memberships stay: see `member remove`)."""
    from models.auth import remove_user

    _user_change(remove_user, email)
    typer.echo(f"removed user {email.strip().lower()}")


@user_app.command("list")
def user_list() -> None:
    """Sign-in accounts: email, created, live sessions."""
    from models.auth import list_users
    from models.db import session_scope

    _db()
    with session_scope() as session:
        for user in list_users(session):
            typer.echo(f"{user['email']}\t{user['created_at']:%Y-%m-%d}\tsessions={user['sessions']}")


if __name__ == "__main__":
    app()
