"""Time to forecast 1,000 org/project series (models/forecast.py), alone and the way alerts do it.

The database holds 100 orgs x 10 projects, 70 days of daily spend each (weekly rhythm, trends,
noise, spikes, a few projects that started recently), stored as daily provider buckets and rolled
up like collected usage, and a soft and hard limit on every project. Three figures:

- model:    forecast_month() on the 1,000 daily series already in memory (the method alone),
- scope:    forecast_scope(org, project) for each series: read its days from rollup_daily, forecast,
            compare with its limits (what the alert rules do per limit),
- alerts:   alerts.evaluate() over every org, the worker's full alert pass (it forecasts every
            limit, plus credits and spikes), once recording what fired and once in steady state.

Ends with `RATIO forecast scope x1000 / 60 s alert interval = x (target < 1.00)`: the alert job
runs every minute and has to forecast every limit within it.

    .venv/bin/python bench/forecast.py                 # 100 orgs x 10 projects
    .venv/bin/python bench/forecast.py --orgs 20       # 200 series
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DAYS = 70
PROJECTS = 10
INTERVAL = 60.0
# gpt-4o: $2.50 per million input tokens, $10 per million output tokens; a day's spend is split 60/40.
INPUT_PER_TOKEN, OUTPUT_PER_TOKEN = Decimal("0.0000025"), Decimal("0.00001")


def series(rng: random.Random, days: list[date]) -> list[float]:
    """One project's daily spend in USD: level, trend, weekday rhythm, noise and the odd spike."""
    level = math.exp(rng.uniform(math.log(2), math.log(2000)))
    trend = rng.gauss(0, 0.01)
    weekend = rng.choice((1.0, 0.8, 0.4))
    start = rng.choice([0] * 8 + [DAYS - 20, DAYS - 9])  # some projects are new
    out = []
    for i, day in enumerate(days):
        if i < start:
            out.append(0.0)
            continue
        value = level * math.exp(trend * i + rng.gauss(0, 0.15)) * (weekend if day.weekday() >= 5 else 1.0)
        if rng.random() < 0.02:
            value *= rng.uniform(3, 8)
        out.append(round(value, 2))
    return out


def load(orgs: int, today: date) -> dict[tuple[str, str], dict[date, Decimal]]:
    """Orgs, limits and 70 days of daily buckets; returns what was stored, per (org, project)."""
    from collectors.base import mark_rows_dirty, upsert_buckets, usage_row
    from models.access.orgs import create_org
    from models.access.roles import Actor
    from models.budgets.limits import set_limit
    from models.db import get_engine, session_scope
    from models.spend.rollups import process_dirty

    rng = random.Random(11)
    days = [today - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    stored: dict[tuple[str, str], dict[date, Decimal]] = {}
    for o in range(orgs):
        org_id = f"fc-org-{o:03d}"
        with session_scope() as session:
            create_org(session, org_id, f"Forecast org {o}", "prod", "UTC")
        rows = []
        for p in range(PROJECTS):
            project = f"proj-{p}"
            spend = series(rng, days)
            daily = {}
            for day, usd in zip(days, spend):
                if not usd:
                    continue
                cost = Decimal(str(usd))
                tokens_in = int(cost * Decimal("0.6") / INPUT_PER_TOKEN)
                tokens_out = int(cost * Decimal("0.4") / OUTPUT_PER_TOKEN)
                daily[day] = tokens_in * INPUT_PER_TOKEN + tokens_out * OUTPUT_PER_TOKEN
                rows.append(
                    usage_row(
                        org_id=org_id,
                        provider="openai",
                        model="gpt-4o",
                        source="bench",
                        project_id=project,
                        bucket_start=datetime.combine(day, datetime.min.time(), UTC),
                        bucket_width=86400,
                        request_id="",
                        requests=max(1, int(usd * 10)),
                        input_tokens=tokens_in,
                        output_tokens=tokens_out,
                    )
                )
            stored[(org_id, project)] = daily
            month = sum((v for d, v in daily.items() if d >= today.replace(day=1)), Decimal(0))
            typical = max(month, Decimal(10))
            set_limit(
                Actor.cli(),
                org_id,
                project,
                soft=str(round(typical * Decimal(rng.uniform(0.8, 1.6)), 2)),
                hard=str(round(typical * Decimal(2), 2)),
            )
        with get_engine().begin() as conn:
            upsert_buckets(conn, rows)
            mark_rows_dirty(conn, rows)
        process_dirty(org_id)
    return stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orgs", type=int, default=100, help="organizations (10 project series each)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="spendsight-bench-forecast-"))
    for var in [v for v in os.environ if v.startswith(("SPENDSIGHT_", "SMTP_")) or v == "DATABASE_URL"]:
        del os.environ[var]
    os.environ["SPENDSIGHT_DATA_DIR"] = str(work)
    os.environ["SPENDSIGHT_SECRETS_FILE"] = str(work / "secrets.toml")
    try:
        import alerts
        from models.budgets.forecast import forecast_month, forecast_scope
        from models.db import dispose_engines
        from models.schema import init_db

        init_db()
        now = datetime.now(UTC)
        today = now.date()
        started = time.perf_counter()
        stored = load(args.orgs, today)
        n = len(stored)
        print(
            f"forecast: {n:,} org/project series ({args.orgs} orgs x {PROJECTS} projects, {DAYS} days, "
            f"limits on each), SQLite, loaded in {time.perf_counter() - started:.0f} s, {os.cpu_count()} cores"
        )

        started = time.perf_counter()
        for daily in stored.values():
            forecast_month(daily, today, 0.5)
        model = time.perf_counter() - started
        print(f"    model:  forecast_month x{n}: {model:.2f} s ({model / n * 1000:.1f} ms per series)")

        started = time.perf_counter()
        checked = 0
        for (org_id, project), daily in stored.items():
            scope = forecast_scope(org_id, project, now=now)
            spent = sum((v for d, v in daily.items() if d >= today.replace(day=1)), Decimal(0))
            if abs(scope.spent - spent) > Decimal("0.01"):
                raise SystemExit(f"{org_id}/{project}: forecast saw {scope.spent} spent, stored {spent}")
            checked += 1
        scope_seconds = time.perf_counter() - started
        print(
            f"    scope:  forecast_scope x{checked}: {scope_seconds:.2f} s "
            f"({scope_seconds / n * 1000:.1f} ms per series, spent-to-date checked against what was stored)"
        )

        for label in ("first", "steady"):
            started = time.perf_counter()
            events = alerts.evaluate(now=now)
            seconds = time.perf_counter() - started
            print(
                f"    alerts: evaluate() over {args.orgs} orgs, {label} pass: {seconds:.2f} s "
                f"({len(events)} new alerts)"
            )
        print(
            f"RATIO forecast scope x{n} / {INTERVAL:.0f} s alert interval = {scope_seconds / INTERVAL:.2f} "
            "(target < 1.00)"
        )
        dispose_engines()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
