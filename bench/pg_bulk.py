"""Bulk synthetic usage for PostgreSQL benchmarks: generate_series straight into `usage`, in minutes.

The same shape as bench/pages.py's Generator (its orgs, keys, users, projects, models, tiers and
weights, lognormal token counts, context bands from the price catalog), drawn by the server: a
template table with cumulative weights, width_bucket() to pick one per row, Box-Muller for the
lognormal counts. random() is seeded (setseed) and parallel workers are off, so a load is
repeatable. Each chunk covers its own slice of the 90 days, stored in org and time order (as logs
arrive), so the rows of one org's week sit together on disk instead of on every page of the table:
the first 50M load drew every chunk over all 90 days, and each week's rollup rebuild then read the
whole 18 GB table. The usage indexes are dropped during the load and rebuilt once after it, with a
large maintenance_work_mem (building an index once is several times faster than maintaining it row
by row), and the rollups are then rebuilt by the product's own code (models.spend.rollups.
rebuild_org, an org per transaction with a large work_mem: one pass over its rows), so they are
what ingest would have produced.
"""

from __future__ import annotations

# Imports inside functions here are the product's modules and heavy libraries, made only in the process
# that uses them and after this script has set the environment the settings read (SPENDSIGHT_DATA_DIR,
# DATABASE_URL); a parent that spawns and times children does not pay them (measured: models.tables
# 0.6 s to import, streamlit 0.34 s).
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine, text

CHUNK = 2_500_000  # rows per transaction: progress shows and a failed chunk costs little


def load_usage(engine: Engine, gen: object, n: int, seed: float = 0.7, log: Callable[[str], None] = print) -> float:
    """Insert `n` requests spread over gen.start..gen.end (unix seconds); returns the seconds it took."""
    from collectors.base import COL
    from models.tables import USAGE_COUNTERS, Usage

    templates = gen.templates  # type: ignore[attr-defined]
    cumulative = [float(c) for c in gen.cumulative]  # type: ignore[attr-defined]
    thresholds = [int(t) for t in gen.thresholds] or [0]  # type: ignore[attr-defined]
    started = time.perf_counter()
    indexes = list(Usage.__table__.indexes)  # type: ignore[attr-defined]
    with engine.begin() as conn:
        if not conn.execute(text("SELECT EXISTS (SELECT 1 FROM usage)")).scalar():
            # A bench database only: no WAL for tens of GB of generated rows (and their indexes). The
            # pages read the rollups, which stay logged; a crash would only lose the bench's input.
            conn.execute(text("ALTER TABLE usage SET UNLOGGED"))
        for index in indexes:
            conn.execute(text(f'DROP INDEX IF EXISTS "{index.name}"'))
        conn.execute(text("DROP TABLE IF EXISTS bench_template"))
        conn.execute(
            text(
                "CREATE UNLOGGED TABLE bench_template (idx int PRIMARY KEY, org_id text, provider text, "
                "project_id text, api_key_id text, user_id text, model text, kind text, service_tier text, "
                "batch boolean, embeddings boolean)"
            )
        )
        conn.execute(
            text("INSERT INTO bench_template VALUES (:i, :o, :p, :pr, :k, :u, :m, :kind, :t, :b, :e)"),
            [
                {
                    "i": i,
                    "o": t[COL["org_id"]],
                    "p": t[COL["provider"]],
                    "pr": t[COL["project_id"]],
                    "k": t[COL["api_key_id"]],
                    "u": t[COL["user_id"]],
                    "m": t[COL["model"]],
                    "kind": t[COL["kind"]],
                    "t": t[COL["service_tier"]],
                    "b": bool(t[COL["batch"]]),
                    "e": t[COL["kind"]] == "embeddings",
                }
                for i, t in enumerate(templates)
            ],
        )
    others = [
        c for c in USAGE_COUNTERS if c not in ("requests", "input_tokens", "cached_input_tokens", "output_tokens")
    ]
    insert = text(
        f"""
        INSERT INTO usage (org_id, source, kind, provider, project_id, api_key_id, user_id, model, service_tier,
            batch, context_band, bucket_start, bucket_width, request_id, ingested_at, requests, input_tokens,
            cached_input_tokens, output_tokens, {", ".join(others)})
        SELECT t.org_id, 'log', t.kind, t.provider, t.project_id, t.api_key_id, t.user_id, t.model, t.service_tier,
            t.batch,
            CASE WHEN t.embeddings OR r.band_at = 0 THEN 0 ELSE (:thresholds)[r.band_at] END,
            to_timestamp(r.at), 0, 'bench-' || lpad(r.g::text, 10, '0'), now(), 1, r.prompt,
            CASE WHEN t.embeddings THEN 0 ELSE floor(r.prompt * r.u3 * 0.4)::bigint END,
            CASE WHEN t.embeddings THEN 0 ELSE r.output END, {", ".join("0" for _ in others)}
        FROM (
            SELECT q.g, q.pick, q.at, q.u3, q.prompt, q.output,
                width_bucket((q.prompt - 1)::numeric, (:thresholds)::numeric[]) AS band_at
            FROM (
                SELECT p.g, least(width_bucket(p.r, (:cumulative)::float8[]), :last) AS pick,
                    CAST(:t0 AS bigint) + floor(p.t * :span)::bigint AS at, p.u3,
                    floor(exp(7.0 + 1.1 * sqrt(-2 * ln(p.u1)) * cos(2 * pi() * p.u2)))::bigint + 1 AS prompt,
                    floor(exp(5.0 + 1.0 * sqrt(-2 * ln(p.u1)) * sin(2 * pi() * p.u2)))::bigint AS output
                FROM (
                    SELECT g, random() AS r, random() AS t, 1 - random() AS u1, random() AS u2, random() AS u3
                    FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g
                ) AS p
            ) AS q
        ) AS r
        JOIN bench_template t ON t.idx = r.pick
        ORDER BY t.org_id, r.at
        """
    )
    first = _count(engine)
    with engine.connect() as conn:
        conn.execute(text("SET max_parallel_workers_per_gather = 0"))  # one stream of random(): repeatable
        conn.execute(text("SELECT setseed(:s)"), {"s": seed})
        conn.commit()
        conn.execute(text("SET work_mem = '512MB'"))  # each chunk's sort by org and time in memory
        conn.commit()
        done, chunks = 0, max(1, -(-n // CHUNK))
        start, span = gen.start, gen.end - gen.start  # type: ignore[attr-defined]
        for k in range(chunks):
            size = n // chunks + (1 if k < n % chunks else 0)
            lo, hi = start + span * k // chunks, start + span * (k + 1) // chunks
            conn.execute(
                insert,
                {
                    "thresholds": thresholds,
                    "cumulative": cumulative,
                    "last": len(templates) - 1,
                    "t0": lo,
                    "span": hi - lo,
                    "lo": first + done,
                    "hi": first + done + size - 1,
                },
            )
            conn.commit()
            done += size
            log(f"    usage: {first + done:,} rows ({time.perf_counter() - started:.0f} s)")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE bench_template"))
        conn.execute(text("SET LOCAL maintenance_work_mem = '2GB'"))  # each index sorted in memory
        conn.execute(text("SET LOCAL max_parallel_maintenance_workers = 0"))  # workers would escape the load's nice
        for index in indexes:
            index.create(conn)
    log(f"    usage indexes rebuilt ({time.perf_counter() - started:.0f} s)")
    return time.perf_counter() - started


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT COUNT(*) FROM usage")).scalar_one())


def rebuild_rollups(engine: Engine, org_ids: list[str], log: Callable[[str], None] = print) -> float:
    """Every rollup of these orgs rebuilt from usage by models.spend.rollups.rebuild_org, an org per
    transaction with a work_mem that holds its hourly groups (one pass over its rows, where a week
    per transaction went back to the table 13 times); returns the seconds it took."""
    from models.spend.rollups import rebuild_org

    started = time.perf_counter()
    for org_id in org_ids:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL work_mem = '1GB'"))
            conn.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))  # as the index builds
            rebuild_org(org_id, conn=conn)
        log(f"    rollups of {org_id} rebuilt ({time.perf_counter() - started:.0f} s)")
    return time.perf_counter() - started


def now_utc() -> datetime:
    return datetime.now(UTC)
