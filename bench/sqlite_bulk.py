"""Bulk synthetic usage for SQLite benchmarks: 10M requests in minutes instead of an hour.

The requests are bench/pages.py's Generator draws (Generator.draw: the same orgs, keys, users,
projects, models, tiers, weights and token counts, from the same seeded numpy generator), so a
bulk-loaded database has the shape of one loaded through ingest. What is skipped is the ingest
path's per-row Python: each chunk's numbers go into a temp table with one executemany of plain
integers, and one INSERT ... SELECT joins them to the attribution templates and spells the times
as UTCDateTime stores them. The rollups are then rebuilt by the product's own code
(models.spend.rollups.rebuild_org, a week per transaction, as in bench/pg_bulk.py), so they are
what the worker would have produced.
"""

from __future__ import annotations

# Imports inside functions here are the product's modules and heavy libraries, made only in the process
# that uses them and after this script has set the environment the settings read (SPENDSIGHT_DATA_DIR,
# DATABASE_URL); a parent that spawns and times children does not pay them (measured: models.tables
# 0.6 s to import, streamlit 0.34 s).
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine

CHUNK = 500_000  # requests per transaction, each a slice of the 90 days in time order, as logs arrive

_TEMPLATE_COLUMNS = (
    "org_id",
    "provider",
    "project_id",
    "api_key_id",
    "user_id",
    "model",
    "kind",
    "service_tier",
    "batch",
)


def load_usage(engine: Engine, gen: object, n: int, log: Callable[[str], None] = print) -> float:
    """Grow `usage` to `n` requests spread over gen.start..gen.end (unix seconds), as Generator-based
    growth does (more traffic in the same days); returns the seconds it took."""
    from collectors.base import COL, USAGE_COLUMNS
    from models.db import sqlite_text, utcnow
    from models.tables import USAGE_COUNTERS

    started = time.perf_counter()
    todo = n - gen.written  # type: ignore[attr-defined]
    if todo <= 0:
        return 0.0
    templates = gen.templates  # type: ignore[attr-defined]
    chunks = max(1, -(-todo // CHUNK))
    span = gen.end - gen.start  # type: ignore[attr-defined]
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA temp_store = MEMORY")
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS bench_template (idx INTEGER PRIMARY KEY, "
            + ", ".join(_TEMPLATE_COLUMNS)
            + ", embeddings INTEGER)"
        )
        cur.execute("DELETE FROM bench_template")
        cur.executemany(
            f"INSERT INTO bench_template VALUES ({', '.join('?' * (len(_TEMPLATE_COLUMNS) + 2))})",
            [
                (
                    i,
                    *(t[COL[c]] for c in _TEMPLATE_COLUMNS[:-1]),
                    int(bool(t[COL["batch"]])),
                    t[COL["kind"]] == "embeddings",
                )
                for i, t in enumerate(templates)
            ],
        )
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS bench_rows (g INTEGER PRIMARY KEY, pick INTEGER, at INTEGER, "
            "prompt INTEGER, cached INTEGER, output INTEGER, band INTEGER)"
        )
        counted = {"requests", "input_tokens", "cached_input_tokens", "output_tokens"}
        others = [c for c in USAGE_COUNTERS if c not in counted]
        columns = [c for c in USAGE_COLUMNS if c in (*_TEMPLATE_COLUMNS, *counted, *others)]
        values = {
            **{c: f"t.{c}" for c in _TEMPLATE_COLUMNS},
            "requests": "1",
            "input_tokens": "r.prompt",
            "cached_input_tokens": "CASE WHEN t.embeddings THEN 0 ELSE r.cached END",
            "output_tokens": "CASE WHEN t.embeddings THEN 0 ELSE r.output END",
            **{c: "0" for c in others},
        }
        extra = {
            "source": "'log'",
            "context_band": "CASE WHEN t.embeddings THEN 0 ELSE r.band END",
            # UTCDateTime's SQLite spelling (models.db.sqlite_text): naive UTC with microseconds
            "bucket_start": "strftime('%Y-%m-%d %H:%M:%S', r.at, 'unixepoch') || '.000000'",
            "bucket_width": "0",
            "request_id": "printf('bench-%010d', r.g)",
            "ingested_at": ":now",
        }
        columns += list(extra)
        missing = set(USAGE_COLUMNS) - set(columns)
        if missing:
            raise SystemExit(f"sqlite_bulk: no value for usage columns {sorted(missing)}")
        values.update(extra)
        insert = (
            f"INSERT INTO usage ({', '.join(columns)}) SELECT {', '.join(values[c] for c in columns)} "
            "FROM bench_rows r JOIN bench_template t ON t.idx = r.pick ORDER BY r.g"
        )
        now = sqlite_text(utcnow())
        lo0, first = gen.start, gen.written  # type: ignore[attr-defined]
        for k in range(chunks):
            size = todo // chunks + (1 if k < todo % chunks else 0)
            which, when, prompt, cached, output, band, order = gen.draw(  # type: ignore[attr-defined]
                size, lo0 + span * k // chunks, lo0 + span * (k + 1) // chunks
            )
            ids = range(first, first + size)  # in (org, time) order, so the request index appends per org
            cur.execute("DELETE FROM bench_rows")
            cur.executemany(
                "INSERT INTO bench_rows VALUES (?, ?, ?, ?, ?, ?, ?)",
                zip(
                    ids,
                    which[order].tolist(),
                    when[order].tolist(),
                    prompt[order].tolist(),
                    cached[order].tolist(),
                    output[order].tolist(),
                    band[order].tolist(),
                ),
            )
            cur.execute(insert, {"now": now})
            raw.commit()
            first += size
            gen.written = first  # type: ignore[attr-defined]
            if k % 4 == 3 or k == chunks - 1:
                log(f"    usage: {first:,} rows ({time.perf_counter() - started:.0f} s)")
        cur.execute("DELETE FROM bench_rows")
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - started


def rebuild_rollups(engine: Engine, org_ids: list[str], days: int = 7) -> float:
    """Every rollup of these orgs rebuilt from usage by models.spend.rollups.rebuild_org, a week per
    transaction; then ANALYZE, as after a load. Returns the seconds it took."""
    from models.spend.rollups import rebuild_org

    started = time.perf_counter()
    for org_id in org_ids:
        rebuild_org(org_id, step=timedelta(days=days))
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started
