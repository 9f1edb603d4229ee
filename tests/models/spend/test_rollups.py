"""Rollups equal the raw usage they summarize, and a revised bucket replaces the old one."""

import json

from sqlalchemy import text

from collectors.base import COL, hourly_sums, insert_requests
from collectors.logs.ingest import Defaults, ingest
from models.db import get_engine
from models.spend.rollups import add_prepared, prepare_increments, rebuild_org
from models.tables import USAGE_COUNTERS
from tests.factories import add_usage, make_org, usage


def sums(table):
    cols = ", ".join(f"SUM({c})" for c in USAGE_COUNTERS)
    with get_engine().connect() as conn:
        return tuple(conn.execute(text(f"SELECT {cols} FROM {table}")).one())


def test_rollups_match_raw_usage():
    make_org("org-r", timezone="Asia/Tokyo")
    add_usage(
        *[
            usage("org-r", f"2026-11-{d:02d}T{h:02d}:30:00Z", input_tokens=d * 100 + h, output_tokens=h, model=m)
            for d in (1, 2, 3)
            for h in (0, 13, 23)
            for m in ("gpt-4o", "gpt-4o-mini")
        ]
    )
    assert sums("usage") == sums("rollup_hourly") == sums("rollup_daily")


def test_revised_bucket_replaces_the_old_one():
    make_org("org-b")
    bucket = dict(request_id="", source="openai-prod", bucket_width=3600, model="gpt-4o")
    add_usage(usage("org-b", "2026-11-10T10:00:00Z", input_tokens=100, requests=2, **bucket))
    add_usage(usage("org-b", "2026-11-10T10:00:00Z", input_tokens=130, requests=3, **bucket))
    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT COUNT(*), SUM(input_tokens) FROM usage")).one() == (1, 130)
    assert sums("rollup_daily")[:2] == (3, 130)


def rollup_rows(table):
    cols = ", ".join(("org_id", "provider", "model", "batch", "context_band") + USAGE_COUNTERS)
    key = "hour" if table == "rollup_hourly" else "day, price_date"
    with get_engine().connect() as conn:
        return sorted(tuple(r) for r in conn.execute(text(f"SELECT {key}, {cols} FROM {table}")))


def test_ingest_adds_to_rollups_exactly_what_a_rebuild_computes(tmp_path):

    make_org("org-inc", timezone="America/Los_Angeles")
    lines = []
    for i in range(300):
        created = 1762776000 + i * 997  # across many hours and two local days
        lines.append(
            json.dumps(
                {
                    "id": f"c{i}",
                    "object": "chat.completion",
                    "created": created,
                    "model": ("gpt-4o", "gpt-4o-mini")[i % 2],
                    "usage": {"prompt_tokens": 100 + i, "completion_tokens": i},
                }
            )
        )
    first = tmp_path / "a.jsonl"
    first.write_text("\n".join(lines[:200]) + "\n")
    ingest([first], "auto", Defaults(org="org-inc"))  # all new: incremental path
    grown = tmp_path / "b.jsonl"
    grown.write_text("\n".join(lines[100:]) + "\n")
    ingest([grown], "auto", Defaults(org="org-inc"))  # half duplicates: dirty-mark path
    incremental = rollup_rows("rollup_hourly"), rollup_rows("rollup_daily")
    rebuild_org("org-inc")
    assert (rollup_rows("rollup_hourly"), rollup_rows("rollup_daily")) == incremental
    assert sum(r[-1 - len(USAGE_COUNTERS) + 2] for r in incremental[1]) == sum(100 + i for i in range(300))


def test_increments_prepared_for_a_time_zone_since_changed_are_worked_out_again():
    """Ingest works out rollup rows before the write lock, for each org's zone as last seen; a zone
    changed meanwhile moves the local days, so under the lock they are worked out again."""
    make_org("org-z", timezone="Asia/Tokyo")
    rows = [
        usage("org-z", f"2026-11-{d:02d}T{h:02d}:10:00Z", input_tokens=d * 1000 + h, user_id=f"u{h % 3}")
        for d in (9, 10)
        for h in (0, 8, 14, 15, 23)  # Tokyo's day turns at 15:00 UTC
    ]
    engine = get_engine()
    prepared = prepare_increments(
        engine.dialect.name, hourly_sums([[r[c] for c in COL] for r in rows]), {"org-z": "UTC"}
    )
    with engine.begin() as conn:
        assert insert_requests(conn, rows) == len(rows)
        assert add_prepared(conn, prepared) == {"org-z": "Asia/Tokyo"}
    tables = ("rollup_hourly", "rollup_daily", "rollup_daily_user", "rollup_daily_project")
    incremental = [rollup_rows(t) for t in tables]
    days = {str(r[0])[:10] for r in incremental[1]}
    assert days == {"2026-11-09", "2026-11-10", "2026-11-11"}  # Tokyo's days, not UTC's
    rebuild_org("org-z")
    assert [rollup_rows(t) for t in tables] == incremental
