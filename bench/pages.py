"""Page time against database size: the home page and the spend explorer at 200k, 2M and 10M requests.

The database is filled through the ingest write path itself (collectors.base.prepare_records and
insert_prepared for the raw `usage` rows, models.rollups.add_increments for the hourly and daily
rollups), skipping only the JSON parsing, so 10M requests take minutes instead of an hour. The
requests are spread over the last 90 days across three orgs (New York, Berlin and UTC time zones),
12 projects, 30 API keys (each belongs to a project and a user, as provider keys do), 20 users and
seven models with batch and flex-tier traffic. Sizes grow in place: the 2M database is the 200k one
plus 1.8M more requests in the same 90 days, so the pages show the same period with more traffic.

Each page runs in streamlit.testing.v1.AppTest as a signed-in owner, in a fresh interpreter per size
(like a dashboard process, not the loader's heap), with st.cache_data cleared before every run (the
cost of a first view or an expired cache, not of a cached rerun); each figure is the best of
--trials runs after one untimed warm-up, since this kind of machine shares its cores. A one-line
script is timed the same way: AppTest's own cost per run (about 0.3 s, mostly scanning installed
packages for components), printed so the page's own share can be read off too.

    .venv/bin/python bench/pages.py                        # 200k, 2M and 10M (about 6 minutes)
    .venv/bin/python bench/pages.py --sizes 200k,2M        # fewer sizes
    .venv/bin/python bench/pages.py --quick                # 20k and 200k, a smoke run
    .venv/bin/python bench/pages.py --db postgresql        # on a throwaway PostgreSQL database

Ends with `RATIO pages <largest>/<smallest> = x (target <= 1.5)`: the worst page's ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PG_ADMIN = os.environ.get("SPENDSIGHT_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
OWNER = "owner@example.com"
DAYS = 90
BATCH = 100_000
TARGET = 1.5

# (id, name, environment, time zone, share of requests)
ORGS = (
    ("bench-prod", "Acme Production", "prod", "America/New_York", 0.6),
    ("bench-eu", "Acme Europe", "prod", "Europe/Berlin", 0.3),
    ("bench-staging", "Acme Staging", "staging", "UTC", 0.1),
)
PROJECTS = tuple(
    f"proj-{name}"
    for name in (
        "web",
        "api",
        "search",
        "rag",
        "agents",
        "support",
        "ocr",
        "eval",
        "batch-jobs",
        "mobile",
        "internal",
        "sandbox",
    )
)
N_KEYS, N_USERS = 30, 20
# (provider, model, kind, share)
MODELS = (
    ("openai", "gpt-4o-mini", "completions", 0.34),
    ("openai", "gpt-4o", "completions", 0.18),
    ("openai", "gpt-4.1", "completions", 0.10),
    ("openai", "o3", "completions", 0.06),
    ("anthropic", "claude-sonnet-4-5", "completions", 0.14),
    ("anthropic", "claude-3-5-haiku-20241022", "completions", 0.08),
    ("openai", "text-embedding-3-small", "embeddings", 0.10),
)
# What each page run looks like: (label, script, session state set before the run)
PAGES = (
    ("home", "app.py", {}),
    ("explorer", "pages/1_Spend_explorer.py", {}),  # this month by project (its defaults)
    ("explorer-90d", "pages/1_Spend_explorer.py", {"ex_preset": "last_90", "ex_by": ["model"]}),
)


def parse_size(text: str) -> int:
    text = text.strip().lower().replace("_", "")
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * factor)


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


# --- the data ----------------------------------------------------------------------------------


class Generator:
    """Deterministic synthetic requests, appended in batches through the ingest write path."""

    def __init__(self, now: datetime, seed: int = 7) -> None:
        import numpy as np

        from collectors.base import COL, blank_record
        from models.pricing.catalog import get_catalog

        self.np, self.col = np, COL
        self.rng = np.random.default_rng(seed)
        self.end = int(now.timestamp())
        self.start = self.end - DAYS * 86400
        self.written = 0
        self.thresholds = np.array(get_catalog().thresholds)
        # Every attribution a request can have: org x key (-> project, user) x model x (tier, batch).
        self.templates, weights, orgs = [], [], []
        key_weight = 1 / np.arange(1, N_KEYS + 1) ** 0.8  # a few busy keys, a long tail
        for org_index, (org_id, _, _, _, org_share) in enumerate(ORGS):
            for k in range(N_KEYS):
                for provider, model, kind, model_share in MODELS:
                    for tier, batch, share in (("", False, 0.93), ("", True, 0.05), ("flex", False, 0.02)):
                        if kind != "completions" and (batch or tier):
                            continue
                        if tier and provider != "openai":
                            continue
                        record = blank_record()
                        record[COL["org_id"]], record[COL["provider"]] = org_id, provider
                        record[COL["project_id"]] = PROJECTS[k % len(PROJECTS)]
                        record[COL["api_key_id"]] = f"key_{org_id.split('-')[1]}_{k:02d}"
                        record[COL["user_id"]] = f"user-{k % N_USERS:02d}@example.com"
                        record[COL["model"]], record[COL["kind"]] = model, kind
                        record[COL["service_tier"]], record[COL["batch"]] = tier, batch
                        record[COL["source"]], record[COL["requests"]] = "log", 1
                        self.templates.append(record)
                        orgs.append(org_index)
                        weights.append(org_share * key_weight[k] * model_share * share)
        weights = np.array(weights)
        self.cumulative = np.cumsum(weights / weights.sum())
        self.org_of = np.array(orgs)

    def batch(self, n: int, lo: int, hi: int) -> list[list]:
        """n new requests between unix times lo and hi (ids continue from the last batch), sorted by
        org and time."""
        np, col, rng = self.np, self.col, self.rng
        which = np.minimum(np.searchsorted(self.cumulative, rng.random(n)), len(self.templates) - 1)
        when = rng.integers(lo, hi, n)
        prompt = (rng.lognormal(7.0, 1.1, n)).astype(np.int64) + 1
        cached = (prompt * rng.random(n) * 0.4).astype(np.int64)
        output = (rng.lognormal(5.0, 1.0, n)).astype(np.int64)
        band = np.searchsorted(self.thresholds, prompt, side="left")
        band = np.where(band > 0, self.thresholds[np.maximum(band - 1, 0)], 0)
        order = np.lexsort((when, self.org_of[which]))  # index-friendly: by org, then time
        i_start, i_id, i_in, i_cached, i_out, i_band = (
            col[c]
            for c in (
                "bucket_start",
                "request_id",
                "input_tokens",
                "cached_input_tokens",
                "output_tokens",
                "context_band",
            )
        )
        records = []
        templates, first = self.templates, self.written
        fromtimestamp = datetime.fromtimestamp
        embeddings = {i for i, t in enumerate(templates) if t[col["kind"]] == "embeddings"}
        for j, t, p, c, o, b in zip(
            order.tolist(),
            when[order].tolist(),
            prompt[order].tolist(),
            cached[order].tolist(),
            output[order].tolist(),
            band[order].tolist(),
        ):
            w = int(which[j])
            record = templates[w].copy()
            record[i_start] = fromtimestamp(t, UTC)
            record[i_id] = f"bench-{first + j:010d}"
            record[i_in] = p
            if w not in embeddings:
                record[i_cached], record[i_out], record[i_band] = c, o, b
            records.append(record)
        self.written += n
        return records


def create_orgs() -> None:
    from models.access.orgs import create_org, set_member
    from models.db import session_scope

    with session_scope() as session:
        for org_id, name, environment, timezone, _ in ORGS:
            create_org(session, org_id, name, environment, timezone)
            set_member(session, org_id, OWNER, "owner")


def grow(gen: Generator, target: int) -> float:
    """Add requests over the 90 days until there are `target`; returns the seconds it took.

    Batches go forward in time, as request logs arrive, so each batch's rollup increments cover a
    day or so (the ingest path's normal case) rather than all 90 days at once.
    """
    from collectors.base import hourly_sums, insert_prepared, prepare_records
    from models.db import get_engine
    from models.spend.rollups import add_increments

    engine = get_engine()
    started = time.perf_counter()
    todo = target - gen.written
    batches = max(1, -(-todo // BATCH))
    span = gen.end - gen.start
    for k in range(batches):
        n = todo // batches + (1 if k < todo % batches else 0)
        records = gen.batch(n, gen.start + span * k // batches, gen.start + span * (k + 1) // batches)
        sums = hourly_sums(records)
        prepared = prepare_records(engine.dialect.name, records)
        with engine.begin() as conn:
            inserted = insert_prepared(conn, prepared)
            if inserted != len(records):
                raise SystemExit(f"expected {len(records)} new rows, stored {inserted}")
            add_increments(conn, sums)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def table_sizes() -> dict[str, int]:
    from sqlalchemy import text

    from models.db import get_engine

    with get_engine().connect() as conn:
        return {
            t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar()
            for t in ("usage", "rollup_hourly", "rollup_daily")
        }


# --- the pages ---------------------------------------------------------------------------------


def run_page(script: str, state: dict, token: str) -> float:
    """Seconds for one AppTest run of `script` with empty query caches; fails loudly on a page error."""
    import streamlit as st
    from streamlit import logger
    from streamlit.testing.v1 import AppTest

    from ui.auth import TOKEN_KEY

    logger.set_log_level("error")  # clearing caches outside a script run warns about the missing runtime
    st.cache_data.clear()
    if script.endswith("blank_page.py"):
        at = AppTest.from_file(script, default_timeout=600)
    else:
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=600)
        if script != "app.py":
            at.switch_page(script)  # the app stays the main script, so the sidebar's page links resolve
    at.session_state[TOKEN_KEY] = token
    for key, value in state.items():
        at.session_state[key] = value
    started = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - started
    if at.exception:
        raise SystemExit(f"{script}: {at.exception[0].message}")
    if script.endswith("blank_page.py"):
        return elapsed
    if not at.metric:
        raise SystemExit(f"{script}: no figures shown (signed out or an empty state?)")
    return elapsed


BLANK = 'import streamlit as st\nst.metric("blank", 1)\n'  # AppTest's own cost, for the net figures


def time_pages(trials: int) -> dict[str, float]:
    """Best-of-`trials` seconds per page, plus `blank`: the same AppTest run of a one-line script."""
    from models.access.auth import start_session
    from models.settings import get_settings

    token = start_session(OWNER, "password")
    blank = get_settings().data_dir / "blank_page.py"
    blank.write_text(BLANK)
    out = {}
    for name, script, state in (*PAGES, ("blank", str(blank), {})):
        run_page(script, state, token)  # warm-up: imports, price catalog, SQLite page cache
        out[name] = min(run_page(script, state, token) for _ in range(trials))
    return out


def time_pages_apart(trials: int) -> dict[str, float]:
    """time_pages in a fresh interpreter, as a dashboard process would be, not in the loader's heap."""
    out = subprocess.run(
        [sys.executable, __file__, "--time-only", "--trials", str(trials)],
        env=os.environ,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"timing the pages failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- the run -----------------------------------------------------------------------------------


def postgres_database() -> tuple[str, str]:
    import psycopg

    name = f"spendsight_bench_pages_{os.getpid()}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    return name, url


def drop_postgres(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="200k,2M,10M", help="requests in the database, ascending (e.g. 200k,2M,10M)")
    parser.add_argument("--trials", type=int, default=5, help="runs per page and size; the best counts")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--quick", action="store_true", help="20k and 200k, 3 trials")
    parser.add_argument("--time-only", action="store_true", help=argparse.SUPPRESS)  # the timing child
    args = parser.parse_args()
    if args.time_only:
        print(json.dumps(time_pages(args.trials)))
        return
    sizes = [20_000, 200_000] if args.quick else sorted(parse_size(s) for s in args.sizes.split(","))
    trials = 3 if args.quick else args.trials

    work = Path(tempfile.mkdtemp(prefix="spendsight-bench-pages-"))
    for var in [v for v in os.environ if v.startswith("SPENDSIGHT_") or v == "DATABASE_URL"]:
        del os.environ[var]
    os.environ["SPENDSIGHT_DATA_DIR"] = str(work)
    os.environ["SPENDSIGHT_SECRETS_FILE"] = str(work / "secrets.toml")
    pg_name = None
    if args.db == "postgresql":
        pg_name, os.environ["DATABASE_URL"] = postgres_database()
    try:
        from models.db import get_engine
        from models.schema import init_db

        init_db()
        create_orgs()
        gen = Generator(datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1))
        print(
            f"pages: {', '.join(label(n) for n in sizes)} requests over {DAYS} days, {len(ORGS)} orgs, "
            f"{len(PROJECTS)} projects, {N_KEYS} keys, {N_USERS} users, {len(MODELS)} models; "
            f"{get_engine().dialect.name}, best of {trials}, {os.cpu_count()} cores"
        )
        results: dict[int, dict[str, float]] = {}
        for n in sizes:
            seconds = grow(gen, n)
            sizes_now = table_sizes()
            print(
                f"  {label(n):>4}: loaded in {seconds:.0f} s; rows: usage {sizes_now['usage']:,}, "
                f"rollup_hourly {sizes_now['rollup_hourly']:,}, rollup_daily {sizes_now['rollup_daily']:,}",
                flush=True,
            )
            results[n] = time_pages_apart(trials)
            print("        " + "  ".join(f"{name} {t:.2f} s" for name, t in results[n].items()), flush=True)
        small, large = sizes[0], sizes[-1]
        worst = 0.0
        for name, _, _ in PAGES:
            ratio = results[large][name] / results[small][name]
            # Net of AppTest's own per-run cost (the blank script): the part that is the page's work.
            net = (results[large][name] - results[large]["blank"]) / (results[small][name] - results[small]["blank"])
            worst = max(worst, ratio)
            print(
                f"  {name}: {label(large)}/{label(small)} = {ratio:.2f} (net of AppTest's own "
                f"{results[small]['blank']:.2f} s per run: {net:.2f})"
            )
        print(f"RATIO pages {label(large)}/{label(small)} = {worst:.2f} (target <= {TARGET})")
    finally:
        from models.db import dispose_engines

        dispose_engines()
        if pg_name:
            drop_postgres(pg_name)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
