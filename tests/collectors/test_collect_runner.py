"""Provider collectors against a real local server: totals, idempotence, revisions, faults, resume, keys."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text

from collectors.http import RetryPolicy, parse_retry_after
from collectors.openai import SPEC
from collectors.runner import load_source, plan_windows, run_source
from models.access.roles import Actor
from models.db import get_engine, session_scope
from models.settings import reset_settings
from models.sources import add_source
from models.tables import Organization
from tests.factories import make_org
from tests.provider_server import ANTHROPIC_KEY, OPENAI_KEY, OPENAI_USAGE, Faults

COUNTERS = (
    "requests",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
    "images",
    "audio_seconds",
    "audio_characters",
    "web_search_calls",
    "file_search_calls",
    "code_interpreter_sessions",
)
# OpenAI result field -> our counter, per endpoint (what the collector must carry over exactly).
OPENAI_FIELDS = {
    "completions": {
        "num_model_requests": "requests",
        "input_tokens": "input_tokens",
        "input_cached_tokens": "cached_input_tokens",
        "input_cache_write_tokens": "cache_write_tokens",
        "output_tokens": "output_tokens",
        "input_audio_tokens": "input_audio_tokens",
        "output_audio_tokens": "output_audio_tokens",
    },
    "embeddings": {"num_model_requests": "requests", "input_tokens": "input_tokens"},
    "moderations": {"num_model_requests": "requests", "input_tokens": "input_tokens"},
    "images": {"num_model_requests": "requests", "images": "images"},
    "audio_speeches": {"num_model_requests": "requests", "characters": "audio_characters"},
    "audio_transcriptions": {"num_model_requests": "requests", "seconds": "audio_seconds"},
    "code_interpreter_sessions": {"num_sessions": "code_interpreter_sessions"},
    "web_search_calls": {"num_requests": "web_search_calls"},
    "file_search_calls": {"num_requests": "file_search_calls"},
}


def rows(sql, **params):
    with get_engine().connect() as conn:
        return conn.execute(text(sql), params).all()


def make_source(server, provider="openai", org="org-c", name=None, key_env=None):
    with session_scope() as session:
        exists = session.get(Organization, org) is not None
    if not exists:
        make_org(org)
    with session_scope() as session:
        source = add_source(
            session,
            Actor.cli(),
            org,
            provider,
            key_env or ("OPENAI_ADMIN_KEY" if provider == "openai" else "ANTHROPIC_ADMIN_KEY"),
            server.base_url,
            name,
            shared_key=True,  # the operator's CLI: several test orgs read the one stand-in account
        )
    return source


def policy(sleeps=None, **options) -> RetryPolicy:
    options.setdefault("base_delay", 0)
    options.setdefault("timeout", 1.0)
    return RetryPolicy(sleep=(sleeps.append if sleeps is not None else (lambda s: None)), **options)


def sums(source: str, kind: str | None = None) -> dict[str, int]:
    where = "source = :s" + (" AND kind = :k" if kind else "")
    rec = rows(
        f"SELECT {', '.join(f'COALESCE(SUM({c}), 0)' for c in COUNTERS)} FROM usage WHERE {where}", s=source, k=kind
    )[0]
    return dict(zip(COUNTERS, (int(v) for v in rec)))


def snapshot(source: str) -> list[tuple]:
    cols = (
        "kind",
        "project_id",
        "api_key_id",
        "user_id",
        "model",
        "service_tier",
        "batch",
        "context_band",
        "bucket_start",
        "bucket_width",
        *COUNTERS,
    )
    return sorted(
        tuple(str(v) for v in r) for r in rows(f"SELECT {', '.join(cols)} FROM usage WHERE source = :s", s=source)
    )


def billed_micros(source: str) -> int:
    return int(rows("SELECT COALESCE(SUM(amount_micros), 0) FROM billed_cost WHERE source = :s", s=source)[0][0])


def one_width_per_day(source: str) -> bool:
    found = rows("SELECT kind, bucket_start, bucket_width FROM usage WHERE source = :s", s=source)
    widths: dict[tuple, set] = {}
    for kind, start, width in found:
        widths.setdefault((kind, str(start)[:10]), set()).add(width)
    return all(len(w) == 1 for w in widths.values())


def expected_openai(server, kind: str) -> dict[str, int]:
    truth = server.truth_openai(kind)
    out = dict.fromkeys(COUNTERS, 0)
    for field, counter in OPENAI_FIELDS[kind].items():
        out[counter] = truth.get(field, 0)
    return out


def test_openai_totals_equal_the_servers_buckets_for_every_endpoint(provider):
    source = make_source(provider)
    result = run_source(source, policy=policy())
    assert result.ok, result.errors()
    assert [e.endpoint for e in result.endpoints] == [*OPENAI_USAGE, "costs"]
    for kind in OPENAI_FIELDS:
        assert sums(source.name, kind) == expected_openai(provider, kind), kind
    # The first run backfills daily buckets, then hourly ones from the look-back's first midnight.
    widths = {r[0] for r in rows("SELECT DISTINCT bucket_width FROM usage WHERE source = :s", s=source.name)}
    assert widths == {3600, 86400}
    assert one_width_per_day(source.name)
    assert billed_micros(source.name) == int(provider.truth_billed("openai") * 1_000_000)
    assert rows("SELECT COUNT(*) FROM usage WHERE kind = 'vector_stores'")[0][0] == 0  # bytes, not usage


def test_anthropic_counts_both_cache_ttls_and_maps_workspace_batch_and_context(provider):
    source = make_source(provider, "anthropic")
    result = run_source(source, policy=policy())
    assert result.ok, result.errors()
    truth = provider.truth_anthropic()
    got = sums(source.name, "messages")
    writes = truth["ephemeral_5m_input_tokens"] + truth["ephemeral_1h_input_tokens"]
    assert got["input_tokens"] == truth["uncached_input_tokens"] + truth["cache_read_input_tokens"] + writes
    assert got["cached_input_tokens"] == truth["cache_read_input_tokens"]
    assert got["cache_write_tokens"] == writes
    assert got["cache_write_1h_tokens"] == truth["ephemeral_1h_input_tokens"] > 0
    assert got["output_tokens"] == truth["output_tokens"]
    assert got["web_search_calls"] == truth["web_search_requests"]
    assert got["requests"] == 0  # the usage report has no request count
    dims = set(rows("SELECT DISTINCT project_id, service_tier, batch, context_band, provider FROM usage"))
    assert dims == {
        ("", "", False, 0, "anthropic"),
        ("wrkspc_a", "", True, 0, "anthropic"),
        ("wrkspc_a", "", False, 200000, "anthropic"),
        ("wrkspc_b", "priority", False, 0, "anthropic"),
    }
    # Cost amounts are strings in cents; each row is rounded once to the micro-dollar.
    assert abs(Decimal(billed_micros(source.name)) / 1_000_000 - provider.truth_billed("anthropic")) < Decimal("0.0001")
    assert rows("SELECT DISTINCT model FROM billed_cost WHERE project_id = 'wrkspc_b'") == [
        ("claude-3-5-haiku-20241022",)
    ]


def test_a_faulty_run_stores_exactly_what_a_fault_free_run_stores(provider):
    clean = make_source(provider, org="org-clean")
    assert run_source(clean, policy=policy()).ok
    provider.faults = Faults(seed=3, rate=0.5, retry_after="7")
    faulty = make_source(provider, org="org-faulty")
    sleeps: list[float] = []
    result = run_source(faulty, policy=policy(sleeps, attempts=4))
    assert result.ok, result.errors()
    injected = provider.faults.injected
    assert sum(injected.values()) >= 10 and len(injected) >= 5, dict(injected)
    assert snapshot(faulty.name) == snapshot(clean.name)
    assert billed_micros(faulty.name) == billed_micros(clean.name)
    assert sleeps.count(7.0) == injected["429"]  # Retry-After honoured, not replaced by backoff


def test_two_runs_over_the_same_range_are_identical(provider):
    source = make_source(provider)
    now = datetime.now(UTC)
    run_source(source, policy=policy(), now=now)
    first, first_billed = snapshot(source.name), billed_micros(source.name)
    count = rows("SELECT COUNT(*) FROM usage")[0][0]
    result = run_source(source, policy=policy(), now=now, since=provider.data_start)
    assert result.ok
    assert snapshot(source.name) == first
    assert billed_micros(source.name) == first_billed
    assert rows("SELECT COUNT(*) FROM usage")[0][0] == count


def test_a_revised_bucket_replaces_the_stored_one(provider):
    source = make_source(provider)
    run_source(source, policy=policy())
    before = sums(source.name, "completions")
    provider.revise(hours=3)
    after_truth = expected_openai(provider, "completions")
    assert after_truth != before
    assert run_source(source, policy=policy()).ok
    assert sums(source.name, "completions") == after_truth
    assert billed_micros(source.name) == int(provider.truth_billed("openai") * 1_000_000)


def test_a_give_up_records_the_error_and_the_next_run_resumes_from_the_cursor(provider):
    source = make_source(provider)
    hourly_completions = lambda path, q: 503 if path.endswith("/completions") and q["bucket_width"] == ["1h"] else None  # noqa: E731
    provider.outages.append(hourly_completions)
    result = run_source(source, policy=policy(attempts=3))
    assert not result.ok
    stored = load_source(source.id)
    assert "completions" in stored.last_error and "HTTP 503" in stored.last_error
    assert stored.last_success_at is None and stored.last_run_at is not None
    cursor = rows("SELECT collected_until, last_error FROM source_cursor WHERE endpoint = 'completions'")[0]
    split = (datetime.now(UTC) - timedelta(hours=48)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert str(cursor[0])[:16] == split.strftime("%Y-%m-%d %H:%M")  # the committed daily window's end
    assert "HTTP 503" in cursor[1]
    assert sums(source.name, "embeddings") == expected_openai(provider, "embeddings")  # others went on

    provider.outages.clear()
    seen = len(provider.requests)
    assert run_source(source, policy=policy()).ok
    resumed = [r for r in provider.requests[seen:] if r["path"].endswith("/completions")]
    assert resumed[0]["query"]["start_time"] == [str(int(split.timestamp()))]
    assert {r["query"]["bucket_width"][0] for r in resumed} == {"1h"}
    assert sums(source.name, "completions") == expected_openai(provider, "completions")
    stored = load_source(source.id)
    assert stored.last_error == "" and stored.last_success_at is not None


def test_pagination_is_followed_to_the_last_page(provider):
    provider.page_buckets = 12
    source = make_source(provider)
    assert run_source(source, policy=policy()).ok
    assert any("page" in r["query"] for r in provider.requests)
    assert sums(source.name, "completions") == expected_openai(provider, "completions")


def test_widening_the_lookback_or_backfilling_never_stores_a_day_twice(provider, monkeypatch):
    source = make_source(provider)
    run_source(source, policy=policy())
    monkeypatch.setenv("SPENDSIGHT_LOOKBACK_HOURS", "200")  # hourly buckets now reach back over daily ones
    reset_settings()
    assert run_source(source, policy=policy()).ok
    assert one_width_per_day(source.name)
    assert sums(source.name, "completions") == expected_openai(provider, "completions")
    monkeypatch.setenv("SPENDSIGHT_LOOKBACK_HOURS", "48")
    reset_settings()
    assert run_source(source, policy=policy(), since=provider.data_start).ok  # daily again for old days
    assert one_width_per_day(source.name)
    assert sums(source.name, "completions") == expected_openai(provider, "completions")
    report = rows("SELECT SUM(input_tokens) FROM rollup_daily WHERE provider = 'openai'")[0][0]
    assert report == sum(expected_openai(provider, k)["input_tokens"] for k in OPENAI_FIELDS)


def test_a_malformed_result_names_the_field_and_keeps_what_was_stored(provider):
    source = make_source(provider)
    run_source(source, policy=policy())
    before = snapshot(source.name)
    provider.revise(hours=2)

    def corrupt(path, body):
        # The latest bucket with results: the newest hour may have none yet, depending on the time of day.
        if path.endswith("/completions"):
            for bucket in reversed(body["data"]):
                if bucket["results"]:
                    bucket["results"][0]["input_tokens"] = "lots"
                    return

    provider.mutate = corrupt
    result = run_source(source, policy=policy(), billed=False)
    error = next(e.error for e in result.endpoints if e.endpoint == "completions")
    assert "result 0: input_tokens must be a non-negative integer, got 'lots'" in error
    assert [r for r in snapshot(source.name) if r[0] == "completions"] == [r for r in before if r[0] == "completions"]


def test_the_key_never_reaches_logs_errors_or_the_source(provider, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    provider.faults = Faults(seed=5, rate=0.4)
    good = make_source(provider, org="org-k")
    assert run_source(good, policy=policy()).ok
    wrong = "sk-admin-WRONGKEY-9f8e7d6c5b4a39281706"
    monkeypatch.setenv("OPENAI_OTHER_KEY", wrong)
    bad = make_source(provider, org="org-k", name="bad", key_env="OPENAI_OTHER_KEY")
    result = run_source(bad, policy=policy())
    assert "refused the admin key" in result.errors()
    missing = make_source(provider, org="org-k", name="missing", key_env="OPENAI_UNSET_KEY")
    assert "secret OPENAI_UNSET_KEY is not set" in run_source(missing, policy=policy()).errors()
    stored = " ".join(
        r[0] + r[1]
        for r in rows(
            "SELECT s.last_error, COALESCE(c.last_error, '') FROM source s "
            "LEFT JOIN source_cursor c ON c.source_id = s.id"
        )
    )
    audit = " ".join(r[0] for r in rows("SELECT after FROM audit_log"))
    for text_ in (caplog.text, stored, audit, result.errors()):
        for secret in (OPENAI_KEY, wrong, wrong[:8], wrong[-4:], ANTHROPIC_KEY):
            assert secret not in text_


def test_retry_after_beyond_the_budget_gives_up_with_a_clear_error(provider):
    provider.faults = Faults(seed=1, rate=1.0, kinds=("429",), retry_after="120", max_consecutive=99)
    source = make_source(provider)
    sleeps: list[float] = []
    result = run_source(source, policy=policy(sleeps, budget=60), billed=True)
    assert "HTTP 429" in result.errors() and "exceed the retry budget of 60 s" in result.errors()
    assert sleeps == []


def test_retry_after_accepts_seconds_and_http_dates():
    assert parse_retry_after("7") == 7.0
    assert (
        parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC).timestamp())
        == 30.0
    )
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_windows_start_at_midnight_respect_limits_and_steady_state_is_one_request():
    completions, costs = SPEC.endpoints[0], SPEC.endpoints[-1]
    now = datetime(2026, 11, 24, 11, 20, tzinfo=UTC)
    lookback = timedelta(hours=48)
    first = plan_windows(completions, None, None, now, lookback)  # 30-day backfill, then hourly
    assert [(w.start.isoformat(), w.end.isoformat(), w.width) for w in first] == [
        ("2026-10-25T00:00:00+00:00", "2026-11-22T00:00:00+00:00", 86400),
        ("2026-11-22T00:00:00+00:00", "2026-11-24T12:00:00+00:00", 3600),
    ]
    steady = plan_windows(completions, now - timedelta(minutes=1), None, now, lookback)
    assert [(w.start.isoformat(), w.buckets) for w in steady] == [("2026-11-22T00:00:00+00:00", 60)]
    backfill = plan_windows(completions, now, datetime(2026, 1, 1, tzinfo=UTC), now, lookback)
    assert all(w.buckets <= 31 for w in backfill if w.width == 86400) and len(backfill) == 12
    assert all(w.start.hour == 0 for w in backfill) and backfill[-1].end == datetime(2026, 11, 24, 12, tzinfo=UTC)
    wide = plan_windows(completions, None, None, now, timedelta(days=20))
    assert [w.width for w in wide] == [86400, 3600, 3600, 3600] and wide[1].buckets == 168  # whole days per window
    assert [(w.start.date().isoformat(), w.buckets) for w in plan_windows(costs, None, None, now, lookback)] == [
        ("2026-10-25", 31)
    ]
