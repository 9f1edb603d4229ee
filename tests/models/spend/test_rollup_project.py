"""rollup_daily_project: rollup_daily summed over api keys and users, kept exact on every write path."""

import json
from decimal import Decimal

from sqlalchemy import text

from models.db import get_engine
from models.schema import init_db
from models.spend.queries import SpendQuery, spend
from models.spend.rollups import daily_table, fill_project_rollup, rebuild_org
from models.tables import PROJECT_DIMENSIONS, USAGE_COUNTERS
from tests.factories import add_usage, make_org, usage

KEY = ("day", "price_date", "org_id", *PROJECT_DIMENSIONS)


def project_rows(table: str) -> list[tuple]:
    """The table's sums per (day, price_date, org, project dimensions), sorted."""
    keys, sums = ", ".join(KEY), ", ".join(f"SUM({c})" for c in USAGE_COUNTERS)
    with get_engine().connect() as conn:
        rows = conn.execute(text(f"SELECT {keys}, {sums} FROM {table} GROUP BY {keys}")).all()
    return sorted((str(r[0])[:10], str(r[1])[:10], *r[2:]) for r in rows)


def stored(table: str) -> int:
    with get_engine().connect() as conn:
        return conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar()


def mixed_usage(org: str, keys: int = 3, users: int = 4) -> list[dict]:
    return [
        usage(
            org,
            f"2026-11-{d:02d}T{h:02d}:10:00Z",
            project_id=f"p{(k + u) % 2}",
            api_key_id=f"key{k}",
            user_id=f"user{u}",
            model=("gpt-4o", "gpt-4o-mini")[(d + h) % 2],
            input_tokens=1000 * k + u + h,
            output_tokens=10 * u + d,
            batch=(h == 23),
        )
        for d in (9, 10)
        for h in (3, 23)
        for k in range(keys)
        for u in range(users)
    ]


def test_writes_keep_the_project_rollup_equal_to_the_daily_rollup_without_keys_and_users(tmp_path):
    from collectors.logs.ingest import Defaults, ingest

    make_org("org-a", timezone="America/New_York")  # local days straddle UTC dates
    add_usage(*mixed_usage("org-a"))  # dirty marks and a rebuild
    lines = [
        json.dumps(
            {
                "timestamp": 1762776000 + i * 1793,
                "project": f"p{i % 3}",
                "api_key_id": f"k{i % 5}",
                "user": f"u{i % 7}",
                "response": {
                    "id": f"c{i}",
                    "object": "chat.completion",
                    "model": "gpt-4o",
                    "usage": {"prompt_tokens": 100 + i, "completion_tokens": i},
                },
            }
        )
        for i in range(200)
    ]
    first = tmp_path / "a.jsonl"
    first.write_text("\n".join(lines[:120]) + "\n")
    ingest([first], "auto", Defaults(org="org-a"))  # all new: added as increments
    assert project_rows("rollup_daily_project") == project_rows("rollup_daily")
    grown = tmp_path / "b.jsonl"
    grown.write_text("\n".join(lines) + "\n")
    ingest([grown], "auto", Defaults(org="org-a"))  # some duplicates: rebuilt from raw
    expected = project_rows("rollup_daily")
    assert project_rows("rollup_daily_project") == expected
    assert stored("rollup_daily_project") == len(expected) < stored("rollup_daily")  # one row per key: summed
    rebuild_org("org-a")
    assert project_rows("rollup_daily_project") == expected


def test_a_database_made_before_the_table_gets_it_filled_once():
    make_org("org-f")
    add_usage(*mixed_usage("org-f"))
    expected = project_rows("rollup_daily_project")
    with get_engine().begin() as conn:
        conn.execute(text("DELETE FROM rollup_daily_project"))  # as an older version left it
    init_db()  # every process start
    assert project_rows("rollup_daily_project") == expected
    assert fill_project_rollup() is False  # already filled: nothing to do


def test_spend_reads_the_smaller_table_unless_keys_or_users_are_asked_for():
    assert daily_table(["project_id", "model"]) == "rollup_daily_project"
    assert daily_table(["model", "api_key_id"]) == daily_table(["user_id"]) == "rollup_daily"
    make_org("org-s")
    add_usage(*mixed_usage("org-s"))
    from datetime import date

    query = dict(org_ids="org-s", start=date(2026, 11, 1), end=date(2026, 12, 1))
    by_project = {r.keys["project"]: r for r in spend(SpendQuery.make(**query, by=("project",)))}
    by_key = spend(SpendQuery.make(**query, by=("project", "api_key")))
    for project in ("p0", "p1"):
        parts = [r for r in by_key if r.keys["project"] == project]
        assert by_project[project].cost == sum((r.cost for r in parts), Decimal(0)) > 0
        assert by_project[project].counters["input_tokens"] == sum(r.counters["input_tokens"] for r in parts)
    one_key = spend(SpendQuery.make(**query, filters={"api_key": ["key1"]}))
    assert one_key[0].counters["requests"] == 2 * 2 * 4  # days x hours x users of that key
