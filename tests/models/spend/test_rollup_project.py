"""The smaller rollups (by project, by key, by user, by month): rollup_daily summed over what each
leaves out, kept exact on every write path."""

import json
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import text

from collectors.logs.ingest import Defaults, ingest
from models.db import get_engine
from models.schema import init_db
from models.spend.queries import SpendQuery, spend
from models.spend.rollups import DAILY_ROLLUPS, KEY_VALUES, choose_rollup, daily_table, fill_new_rollups, rebuild_org
from models.tables import PROJECT_DIMENSIONS, USAGE_COUNTERS
from tests.factories import add_usage, make_org, usage

KEY = ("day", "price_date", "org_id", *PROJECT_DIMENSIONS)


def project_rows(table: str, dims: tuple[str, ...] = PROJECT_DIMENSIONS) -> list[tuple]:
    """The table's sums per (day, price_date, org, dims), sorted."""
    keys, sums = ", ".join(("day", "price_date", "org_id", *dims)), ", ".join(f"SUM({c})" for c in USAGE_COUNTERS)
    with get_engine().connect() as conn:
        rows = conn.execute(text(f"SELECT {keys}, {sums} FROM {table} GROUP BY {keys}")).all()
    return sorted((str(r[0])[:10], str(r[1])[:10], *r[2:]) for r in rows)


def month_rows(table: str) -> list[tuple]:
    """Per (month, org, project dimensions): first and last day and price date, and the sums; from
    rollup_monthly_project as stored, or from a daily rollup added up here."""
    keys = ", ".join(("org_id", *PROJECT_DIMENSIONS))
    counters = ", ".join(USAGE_COUNTERS)
    with get_engine().connect() as conn:
        if table == "rollup_monthly_project":
            rows = conn.execute(
                text(f"SELECT month, {keys}, day_lo, day_hi, price_lo, price_hi, {counters} FROM {table}")
            ).all()
            return sorted((str(r[0])[:10], *r[1:8], *(str(v)[:10] for v in r[8:12]), *r[12:]) for r in rows)
        daily = conn.execute(text(f"SELECT day, price_date, {keys}, {', '.join(USAGE_COUNTERS)} FROM {table}")).all()
    out: dict[tuple, list] = {}
    for day, price_date, *rest in daily:
        day, price_date = str(day)[:10], str(price_date)[:10]
        dims, counts = tuple(rest[:7]), rest[7:]
        acc = out.setdefault((day[:8] + "01", *dims), [day, day, price_date, price_date] + [0] * len(counts))
        acc[0], acc[1], acc[2], acc[3] = (
            min(acc[0], day),
            max(acc[1], day),
            min(acc[2], price_date),
            max(acc[3], price_date),
        )
        for i, v in enumerate(counts):
            acc[4 + i] += v
    return sorted((*k, *v) for k, v in out.items())


def key_pairs(table: str) -> list[tuple]:
    """Per (month, org, api key, user): the first and last day with usage; from rollup_monthly_keys as
    stored, or from rollup_daily's days."""
    with get_engine().connect() as conn:
        if table == KEY_VALUES:
            rows = conn.execute(text(f"SELECT month, org_id, api_key_id, user_id, day_lo, day_hi FROM {table}")).all()
            return sorted((str(r[0])[:10], *r[1:4], str(r[4])[:10], str(r[5])[:10]) for r in rows)
        daily = conn.execute(text(f"SELECT day, org_id, api_key_id, user_id FROM {table}")).all()
    out: dict[tuple, list[str]] = {}
    for day, *pair in daily:
        day = str(day)[:10]
        span = out.setdefault((day[:8] + "01", *pair), [day, day])
        span[0], span[1] = min(span[0], day), max(span[1], day)
    return sorted((*k, *v) for k, v in out.items())


def assert_derived_rollups_exact() -> None:
    """Every smaller rollup holds exactly rollup_daily's sums over what it leaves out."""
    for rollup in DAILY_ROLLUPS[:-1]:
        assert project_rows(rollup.table, rollup.dims) == project_rows("rollup_daily", rollup.dims), rollup.table
    assert month_rows("rollup_monthly_project") == month_rows("rollup_daily")
    assert key_pairs(KEY_VALUES) == key_pairs("rollup_daily")
    assert key_pairs(KEY_VALUES)  # (not vacuous)


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
    assert_derived_rollups_exact()
    grown = tmp_path / "b.jsonl"
    grown.write_text("\n".join(lines) + "\n")
    ingest([grown], "auto", Defaults(org="org-a"))  # some duplicates: rebuilt from raw
    expected = project_rows("rollup_daily")
    assert project_rows("rollup_daily_project") == expected
    assert stored("rollup_daily_project") == len(expected) < stored("rollup_daily")  # one row per key: summed
    assert_derived_rollups_exact()
    rebuild_org("org-a")
    assert project_rows("rollup_daily_project") == expected
    assert_derived_rollups_exact()
    rebuild_org("org-a", step=timedelta(hours=7))  # a transaction per step: the same rollups
    assert project_rows("rollup_daily_project") == expected
    assert_derived_rollups_exact()


def test_a_database_made_before_the_tables_gets_them_filled_once():
    make_org("org-f")
    add_usage(*mixed_usage("org-f"))
    expected = project_rows("rollup_daily_project")
    with get_engine().begin() as conn:  # as an older version left it
        for table in (
            "rollup_daily_model",
            "rollup_daily_project",
            "rollup_daily_key",
            "rollup_daily_user",
            "rollup_monthly_project",
            KEY_VALUES,
        ):
            conn.execute(text(f"DELETE FROM {table}"))
    init_db()  # every process start
    assert project_rows("rollup_daily_project") == expected
    assert_derived_rollups_exact()
    assert fill_new_rollups() == []  # already filled: nothing to do
    with get_engine().begin() as conn:  # a database made after the month rows, before their key pairs
        conn.execute(text(f"DELETE FROM {KEY_VALUES}"))
    assert fill_new_rollups() == [KEY_VALUES]
    assert_derived_rollups_exact()


def test_spend_reads_the_smallest_table_that_holds_what_it_asks_for():
    assert daily_table(["project_id", "model"]) == "rollup_daily_project"
    assert daily_table(["model", "provider", "batch"]) == "rollup_daily_model"  # no project: a row per price key
    assert daily_table(["model", "api_key_id"]) == "rollup_daily_key"
    assert daily_table(["user_id", "project_id"]) == "rollup_daily_user"
    assert daily_table(["api_key_id", "user_id"]) == "rollup_daily"
    assert choose_rollup(["model", "provider"], days=90).table == "rollup_monthly_project"
    assert choose_rollup(["model"], days=60).table == "rollup_daily_model"  # short: days
    assert choose_rollup(["model"], days=365, by_day=True).table == "rollup_daily_model"
    assert choose_rollup(["project_id"], days=30).table == "rollup_daily_project"
    assert choose_rollup(["user_id"], days=365).table == "rollup_daily_user"  # no monthly by user
    make_org("org-s")
    add_usage(*mixed_usage("org-s"))

    query = dict(org_ids="org-s", start=date(2026, 11, 1), end=date(2026, 12, 1))
    by_project = {r.keys["project"]: r for r in spend(SpendQuery.make(**query, by=("project",)))}
    by_key = spend(SpendQuery.make(**query, by=("project", "api_key")))
    for project in ("p0", "p1"):
        parts = [r for r in by_key if r.keys["project"] == project]
        assert by_project[project].cost == sum((r.cost for r in parts), Decimal(0)) > 0
        assert by_project[project].counters["input_tokens"] == sum(r.counters["input_tokens"] for r in parts)
    one_key = spend(SpendQuery.make(**query, filters={"api_key": ["key1"]}))
    assert one_key[0].counters["requests"] == 2 * 2 * 4  # days x hours x users of that key
