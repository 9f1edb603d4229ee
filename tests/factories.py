"""Factories for orgs, members and usage rows in tests."""

from __future__ import annotations

from datetime import UTC, datetime

from collectors.base import insert_requests, mark_rows_dirty, upsert_buckets, usage_row
from models.access.orgs import create_org, set_member
from models.db import get_engine, session_scope
from models.pricing.catalog import default_prices_text
from models.spend.rollups import process_dirty

_seq = iter(range(1, 10**9))


def make_org(
    org_id: str = "org-test",
    name: str = "Test Org",
    environment: str = "prod",
    timezone: str = "UTC",
    owners: tuple[str, ...] = (),
    readers: tuple[str, ...] = (),
) -> str:
    with session_scope() as session:
        create_org(session, org_id, name, environment, timezone)
        for email in owners:
            set_member(session, org_id, email, "owner")
        for email in readers:
            set_member(session, org_id, email, "reader")
    return org_id


def usage(org_id: str = "org-test", at: datetime | str = "2026-11-10T12:00:00Z", **values) -> dict:
    """A logged-request usage row (request_id generated unless given)."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at.replace("Z", "+00:00"))
    defaults = dict(
        org_id=org_id,
        provider="openai",
        model="gpt-4o-mini",
        source="log",
        bucket_start=at.astimezone(UTC),
        bucket_width=0,
        request_id=f"req-{next(_seq)}",
        requests=1,
    )
    defaults.update(values)
    return usage_row(**defaults)


def add_usage(*rows: dict) -> None:
    """Store rows (requests or buckets) and bring the rollups up to date."""
    requests = [r for r in rows if r["request_id"]]
    buckets = [r for r in rows if not r["request_id"]]
    with get_engine().begin() as conn:
        insert_requests(conn, requests)
        upsert_buckets(conn, buckets)
        mark_rows_dirty(conn, rows)
    process_dirty()


def changing_prices() -> str:
    """A price file whose prices change inside months: an override of gpt-4o from 17 March 2026 and a
    12.5 % discount on Claude models from 10 July to 5 August (shared by the pricing and rollup tests)."""
    return (
        default_prices_text()
        + """
[[override]]
provider = "openai"
model = "gpt-4o"
since = 2026-03-17
input_mtok = 3.1
output_mtok = 9.7

[[discount]]
provider = "anthropic"
model = "claude-*"
percent = 12.5
since = 2026-07-10
until = 2026-08-05
"""
    )
