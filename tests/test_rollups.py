"""Rollups equal the raw usage they summarize, and a revised bucket replaces the old one."""

from sqlalchemy import text

from models.db import get_engine
from models.tables import USAGE_COUNTERS
from tests.factories import add_usage, make_org, usage


def sums(table):
    cols = ", ".join(f"SUM({c})" for c in USAGE_COUNTERS)
    with get_engine().connect() as conn:
        return tuple(conn.execute(text(f"SELECT {cols} FROM {table}")).one())


def test_rollups_match_raw_usage():
    make_org("org-r", timezone="Asia/Tokyo")
    add_usage(*[usage("org-r", f"2026-11-{d:02d}T{h:02d}:30:00Z", input_tokens=d * 100 + h, output_tokens=h,
                      model=m) for d in (1, 2, 3) for h in (0, 13, 23) for m in ("gpt-4o", "gpt-4o-mini")])
    assert sums("usage") == sums("rollup_hourly") == sums("rollup_daily")


def test_revised_bucket_replaces_the_old_one():
    make_org("org-b")
    bucket = dict(request_id="", source="openai-prod", bucket_width=3600, model="gpt-4o")
    add_usage(usage("org-b", "2026-11-10T10:00:00Z", input_tokens=100, requests=2, **bucket))
    add_usage(usage("org-b", "2026-11-10T10:00:00Z", input_tokens=130, requests=3, **bucket))
    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT COUNT(*), SUM(input_tokens) FROM usage")).one() == (1, 130)
    assert sums("rollup_daily")[:2] == (3, 130)
