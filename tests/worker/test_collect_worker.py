"""Worker jobs: usage and cost passes, run-now requests, and two workers collecting each bucket once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from collectors.runner import load_source
from models.access.roles import Actor, PermissionDenied
from models.db import get_engine, session_scope, utcnow
from models.settings import get_settings, reset_settings
from models.sources import add_source, request_run, set_enabled
from models.validation import ValidationError
from tests.factories import make_org
from tests.procs import wait_for
from worker.jobs import RUN_REQUEST_POLL_SECONDS, collect_all, collect_requested, collector_jobs
from worker.scheduler import Worker

OWNER, READER = "olga@example.com", "rita@example.com"


def rows(sql, **params):
    with get_engine().connect() as conn:
        return conn.execute(text(sql), params).all()


def sources(server, *providers, enabled=(True, True)):
    make_org("org-w", owners=(OWNER,), readers=(READER,))
    names = []
    with session_scope() as session:
        for provider_name in providers:
            key = "OPENAI_ADMIN_KEY" if provider_name == "openai" else "ANTHROPIC_ADMIN_KEY"
            s = add_source(session, Actor(OWNER), "org-w", provider_name, key, server.base_url)
            names.append(s.name)
    for name, on in zip(names, enabled):
        if not on:
            with session_scope() as session:
                set_enabled(session, Actor(OWNER), name, False)
    return names


def test_collector_jobs_follow_the_settings(monkeypatch):
    monkeypatch.setenv("SPENDSIGHT_COLLECT_INTERVAL_SECONDS", "90")
    reset_settings()
    jobs = collector_jobs(get_settings())
    assert [(j.name, j.seconds) for j in jobs] == [
        ("collect-usage", 90),
        ("collect-costs", 3600),
        ("collect-requested", RUN_REQUEST_POLL_SECONDS),
    ]


def test_usage_pass_collects_enabled_sources_only_and_schedules_the_next(provider):
    on, off = sources(provider, "openai", "anthropic", enabled=(True, False))
    before = utcnow()
    results = collect_all(False, interval=60)
    assert [r.source for r in results] == [on] and results[0].ok
    assert rows("SELECT DISTINCT source FROM usage") == [(on,)]
    assert rows("SELECT COUNT(*) FROM billed_cost")[0][0] == 0  # costs run on their own schedule
    source = load_source(name=on)
    assert before + timedelta(seconds=59) < source.next_run_at < utcnow() + timedelta(seconds=61)
    assert source.last_rows == source.rows_written > 0
    assert load_source(name=off).last_run_at is None
    collect_all(True)
    assert rows("SELECT DISTINCT source FROM billed_cost") == [(on,)]


def test_a_run_now_request_is_served_then_cleared(provider):
    (name,) = sources(provider, "anthropic")
    with pytest.raises(PermissionDenied):
        with session_scope() as session:
            request_run(session, Actor(READER), name)
    with session_scope() as session:
        request_run(session, Actor(OWNER), name)
    assert load_source(name=name).run_requested_at is not None
    results = collect_requested(interval=60)
    assert [r.source for r in results] == [name] and results[0].ok
    source = load_source(name=name)
    assert source.run_requested_at is None and source.last_success_at is not None
    assert rows("SELECT COUNT(*) FROM usage")[0][0] > 0 and rows("SELECT COUNT(*) FROM billed_cost")[0][0] > 0
    assert collect_requested() == []  # served once
    assert rows("SELECT actor, action FROM audit_log WHERE action = 'source.run'") == [(OWNER, "source.run")]
    with session_scope() as session:
        set_enabled(session, Actor(OWNER), name, False)
    with pytest.raises(ValidationError, match="disabled"):
        with session_scope() as session:
            request_run(session, Actor(OWNER), name)


def test_two_workers_collect_each_bucket_once(provider):
    (name,) = sources(provider, "openai")
    settings = get_settings()
    workers = [Worker(jobs=collector_jobs(settings)), Worker(jobs=collector_jobs(settings))]
    for worker in workers:
        worker.start()
    try:
        done = lambda: rows("SELECT COUNT(*) FROM billed_cost")[0][0] > 0 and load_source(name=name).last_success_at  # noqa: E731
        assert wait_for(done, 60, step=0.1)
        assert [w.is_leader for w in workers].count(True) == 1
    finally:
        for worker in workers:
            worker.stop()
    assert rows("SELECT SUM(input_tokens), SUM(requests) FROM usage WHERE kind = 'completions'")[0] == (
        provider.truth_openai("completions")["input_tokens"],
        provider.truth_openai("completions")["num_model_requests"],
    )
    assert rows("SELECT SUM(amount_micros) FROM billed_cost")[0][0] == int(provider.truth_billed("openai") * 1_000_000)
