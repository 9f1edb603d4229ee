"""Recording that loses and doubles nothing: across a restart, with the database down for part of the
run, and without the upstream key ever reaching a client, a log or the database."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import anthropic
import httpx
import openai
import psycopg
import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

from models.db import get_engine
from models.settings import get_settings, reset_settings
from tests.conftest import PG_ADMIN_URL
from tests.gateway.conftest import Gateway, usage_rows
from tests.llm_upstream import UPSTREAM_ANTHROPIC_KEY, UPSTREAM_OPENAI_KEY
from tests.procs import wait_for


def _traffic(gateway, key, n: int) -> None:
    with (
        openai.OpenAI(base_url=gateway.url + "/openai/v1", api_key=key, max_retries=0) as oa,
        anthropic.Anthropic(base_url=gateway.url + "/anthropic", api_key=key, max_retries=0) as an,
    ):
        _requests(oa, an, n)


def _requests(oa: openai.OpenAI, an: anthropic.Anthropic, n: int) -> None:
    for i in range(n):
        if i % 3 == 0:
            with an.messages.stream(
                model="claude-3-5-haiku-20241022", max_tokens=9, messages=[{"role": "user", "content": f"m{i}"}]
            ) as stream:
                stream.until_done()
        elif i % 3 == 1:
            list(
                oa.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": f"s{i}"}], max_tokens=3, stream=True
                )
            )
        else:
            oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": f"c{i}"}])


def _exactly_once(upstream) -> bool:
    rows = usage_rows()
    ids = [r["request_id"] for r in rows]
    return len(ids) == len(set(ids)) and set(ids) == set(upstream.app.billed)


def _journals() -> list:
    return sorted(get_settings().data_dir.glob("gateway-journal-*.jsonl"))


def test_usage_is_recorded_once_across_a_restart(gateway, key, upstream):
    _traffic(gateway, key, 6)
    gateway.restart()  # graceful: the queue is written before it stops
    assert len(usage_rows()) == 6
    _traffic(gateway, key, 4)
    assert wait_for(lambda: _exactly_once(upstream), 60)
    assert len(usage_rows()) == 10
    billed = upstream.app.billed
    for row in usage_rows():
        bill = billed[row["request_id"]]
        out = bill.get("completion_tokens", bill.get("output_tokens"))
        assert row["output_tokens"] == out


def test_usage_is_recorded_once_when_the_queue_overflows_into_the_journal(org, key, upstream, monkeypatch):
    monkeypatch.setenv("SPENDSIGHT_GATEWAY_QUEUE_SIZE", "2")  # most records go by way of the journal
    reset_settings()
    gateway = Gateway().start()
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: _traffic(gateway, key, 6), range(8)))
        assert wait_for(lambda: _exactly_once(upstream), 60)
        assert len(usage_rows()) == 48
        assert wait_for(lambda: not any(p.stat().st_size for p in _journals() if p.exists()), 30)
    finally:
        gateway.stop()
    assert len(usage_rows()) == 48


def _database(allow: bool) -> None:
    name = get_engine().url.database
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {"true" if allow else "false"}')
        if not allow:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))


@pytest.mark.postgres_only
def test_database_down_for_part_of_the_run_and_across_a_restart(gateway, key, upstream):
    _traffic(gateway, key, 3)
    assert wait_for(lambda: len(usage_rows()) == 3, 60)
    _database(allow=False)
    try:
        _traffic(gateway, key, 6)  # answered while the database is away
        assert wait_for(lambda: any(p.stat().st_size for p in _journals()), 60)
    finally:
        _database(allow=True)
    assert wait_for(lambda: _exactly_once(upstream), 15)  # replayed once it is back
    _database(allow=False)
    try:
        _traffic(gateway, key, 4)
        gateway.stop()  # the shutdown flush cannot reach the database: the journal keeps the rest
        assert any(p.stat().st_size for p in _journals())
    finally:
        _database(allow=True)
    assert len(usage_rows()) == 9
    gateway.start()  # a new gateway replays the stopped one's journal
    assert wait_for(lambda: _exactly_once(upstream), 60)
    assert len(usage_rows()) == 13 and not any(p.stat().st_size for p in _journals() if p.exists())


def test_the_upstream_key_reaches_no_client_log_or_table(gateway, key, upstream, caplog):
    caplog.set_level(logging.DEBUG)
    seen = []
    with httpx.Client(base_url=gateway.url) as client:
        for path, body in (
            ("/openai/v1/chat/completions", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}),
            ("/openai/v1/chat/completions", {"model": "error-model", "messages": []}),
            ("/openai/v1/embeddings", {"model": "text-embedding-3-small", "input": "x"}),
            (
                "/anthropic/v1/messages",
                {"model": "claude-3-5-haiku-20241022", "max_tokens": 5, "messages": [], "stream": True},
            ),
        ):
            response = client.post(path, json=body, headers={"authorization": f"Bearer {key}"})
            seen.append(str(response.headers) + response.text)
        seen.append(client.get("/metrics").text + client.get("/healthz").text)
    assert wait_for(lambda: len(usage_rows()) == 3, 60)
    Gateway.stop(gateway)
    with get_engine().connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            seen.append(str(conn.execute(text(f'SELECT * FROM "{table.name}"')).all()))
    seen += [r.getMessage() for r in caplog.records]
    seen += [p.read_text() for p in _journals()]
    everything = "\n".join(seen)
    for secret in (UPSTREAM_OPENAI_KEY, UPSTREAM_ANTHROPIC_KEY, "UPSTREAMSECRET"):
        assert secret not in everything
    assert upstream.app.auth_seen.count(f"Bearer {UPSTREAM_OPENAI_KEY}") == 3  # it was used, upstream only
