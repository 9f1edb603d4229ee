"""Setting up and running: init, demo data, rebuilding rollups, the worker."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from cli.common import refused
from cli.store import ensure_db
from demo import load_demo
from models.access.orgs import get_org, list_orgs
from models.db import private_dir, private_file, session_scope
from models.pricing.catalog import default_prices_text
from models.settings import get_settings
from models.spend.rollups import rebuild_org
from models.validation import ValidationError
from worker.jobs import default_jobs
from worker.scheduler import Worker

app = typer.Typer()


@app.command()
def init() -> None:
    """Create the data dir, the database tables and a prices.toml to edit."""
    settings = get_settings()
    private_dir(settings.data_dir)
    ensure_db()
    if not settings.prices_file.exists():
        private_file(settings.prices_file).write_text(default_prices_text())
        typer.echo(f"wrote {settings.prices_file}")
    typer.echo(f"database ready: {_safe_url(settings.db_url)}")


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@app.command()
def demo(
    force: Annotated[bool, typer.Option(help="Load even when data exists.")] = False,
) -> None:
    """Load 90 days of demo data (no-op when the database already has organizations)."""
    ensure_db()
    loaded = load_demo(force=force)
    typer.echo(loaded)


@app.command()
def rollup(
    org: Annotated[str | None, typer.Option(help="Only this organization.")] = None,
) -> None:
    """Rebuild rollups from raw usage (after editing data by hand)."""
    ensure_db()
    with session_scope() as session:
        if org:
            with refused(ValidationError):
                get_org(session, org)  # an unknown (or impossible) id is refused before any rebuild
        ids = [org] if org else [o.id for o in list_orgs(session)]
    for org_id in ids:
        rebuild_org(org_id)
        typer.echo(f"rebuilt rollups of {org_id}")


@app.command()
def worker() -> None:
    """Run the scheduler in the foreground until Ctrl-C (standby while another worker leads)."""

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per job run is noise
    ensure_db()
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    runner = Worker(default_jobs)
    runner.start()
    typer.echo("worker started (Ctrl-C stops it)", err=True)
    done.wait()
    runner.stop()
    typer.echo("worker stopped", err=True)
