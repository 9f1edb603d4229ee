"""The official SDKs through the gateway: answers identical to direct calls, usage recorded as billed."""

from __future__ import annotations

import anthropic
import httpx
import openai
import pytest

from models.access.roles import Actor
from models.gateway import create_key, revoke_key
from tests.gateway.conftest import ORG, usage_rows
from tests.llm_upstream import UPSTREAM_ANTHROPIC_KEY, UPSTREAM_OPENAI_KEY
from tests.procs import wait_for


def _same(a, b, drop=("id",)) -> None:
    da, db = a.model_dump(), b.model_dump()
    for name in drop:
        da.pop(name, None)
        db.pop(name, None)
    assert da == db


def _recorded(ids: set[str]) -> dict[str, dict]:
    assert wait_for(lambda: ids <= {r["request_id"] for r in usage_rows()}, 60)
    rows = {r["request_id"]: r for r in usage_rows()}
    return {i: rows[i] for i in ids}


def test_openai_routes_answer_as_upstream_and_usage_is_recorded_once(sdk, gateway, key, upstream):
    via = sdk.openai(gateway.url + "/openai/v1", key)
    direct = sdk.openai(upstream.url + "/openai/v1", UPSTREAM_OPENAI_KEY)
    chat = dict(model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello"}], max_tokens=9, user="alice")
    a, b = via.chat.completions.create(**chat), direct.chat.completions.create(**chat)
    _same(a, b)
    r1, r2 = (
        via.responses.create(model="gpt-4o-mini", input="hi there"),
        direct.responses.create(model="gpt-4o-mini", input="hi there"),
    )
    _same(r1, r2)
    legacy = dict(model="gpt-3.5-turbo-instruct", prompt="Once", max_tokens=5, n=2, best_of=3)
    c1, c2 = via.completions.create(**legacy), direct.completions.create(**legacy)
    _same(c1, c2)
    e1, e2 = (x.embeddings.create(model="text-embedding-3-small", input=["a", "b"]) for x in (via, direct))
    _same(e1, e2, drop=())
    raw = via.embeddings.with_raw_response.create(model="text-embedding-3-small", input="c")
    emb_id = raw.headers["x-request-id"]
    billed = upstream.app.billed
    rows = _recorded({a.id, r1.id, c1.id, emb_id})
    chat_row, chat_bill = rows[a.id], billed[a.id]
    assert chat_row["input_tokens"] == chat_bill["prompt_tokens"]
    assert chat_row["output_tokens"] == chat_bill["completion_tokens"]
    assert chat_row["cached_input_tokens"] == 3 and chat_row["reasoning_tokens"] == 2
    assert chat_row["user_id"] == "alice" and chat_row["model"] == "gpt-4o-mini-2024-07-18"
    assert chat_row["api_key_id"].startswith("gk_") and chat_row["requests"] == 1
    assert rows[r1.id]["input_tokens"] == billed[r1.id]["input_tokens"]
    assert rows[r1.id]["reasoning_tokens"] == 4 and rows[r1.id]["kind"] == "responses"
    assert rows[c1.id]["output_tokens"] == 5 * 3  # max_tokens x best_of, as billed
    assert rows[emb_id]["kind"] == "embeddings" and rows[emb_id]["input_tokens"] == billed[emb_id]["prompt_tokens"]
    assert len(usage_rows()) == 4 + 1  # each request exactly once (the first embeddings call included)


def test_openai_streams_pass_through_and_the_added_usage_chunk_is_not(sdk, gateway, key, upstream):
    via = sdk.openai(gateway.url + "/openai/v1", key)
    direct = sdk.openai(upstream.url + "/openai/v1", UPSTREAM_OPENAI_KEY)
    chat = dict(model="gpt-4o-mini", messages=[{"role": "user", "content": "Stream it"}], max_tokens=7, stream=True)
    got = list(via.chat.completions.create(**chat))
    want = list(direct.chat.completions.create(**chat))
    assert [c.model_dump(exclude={"id"}) for c in got] == [c.model_dump(exclude={"id"}) for c in want]
    assert all(c.usage is None for c in got)  # the gateway asked for usage; the client did not get it
    assert upstream.app.include_usage_asked == [True, False]
    asked = list(via.chat.completions.create(**chat, stream_options={"include_usage": True}))
    assert asked[-1].usage is not None and asked[-1].choices == []
    legacy = list(via.completions.create(model="gpt-3.5-turbo-instruct", prompt="x", max_tokens=4, n=2, stream=True))
    assert len(legacy) == 2
    events = list(via.responses.create(model="gpt-4o-mini", input="stream", stream=True))
    assert [e.type for e in events] == ["response.created", "response.output_text.delta", "response.completed"]
    rows = _recorded({got[0].id, asked[0].id, legacy[0].id, events[-1].response.id})
    billed = upstream.app.billed
    assert rows[got[0].id]["output_tokens"] == billed[got[0].id]["completion_tokens"] == 7
    assert rows[legacy[0].id]["output_tokens"] == 8
    assert rows[events[-1].response.id]["input_tokens"] == billed[events[-1].response.id]["input_tokens"]


def test_anthropic_messages_and_stream(sdk, gateway, key, upstream):
    via = sdk.anthropic(gateway.url + "/anthropic", key)
    direct = sdk.anthropic(upstream.url + "/anthropic", UPSTREAM_ANTHROPIC_KEY)
    ask = dict(
        model="claude-3-5-haiku-20241022",
        max_tokens=20,
        messages=[{"role": "user", "content": "Hi"}],
        metadata={"user_id": "u-7"},
    )
    a, b = via.messages.create(**ask), direct.messages.create(**ask)
    _same(a, b)
    with via.messages.stream(**ask) as stream:
        streamed = [e.type for e in stream]
        final = stream.get_final_message()
    with direct.messages.stream(**ask) as stream:
        assert [e.type for e in stream] == streamed
    rows = _recorded({a.id, final.id})
    bill = upstream.app.billed[final.id]
    for rid in (a.id, final.id):
        row = rows[rid]
        assert row["input_tokens"] == bill["input_tokens"] + 6 + 5  # uncached + cache writes + cache reads
        assert row["cached_input_tokens"] == 5 and row["cache_write_tokens"] == 6 and row["cache_write_1h_tokens"] == 2
        assert row["output_tokens"] == 20 and row["user_id"] == "u-7" and row["provider"] == "anthropic"


def test_upstream_errors_pass_through_unchanged(sdk, gateway, key, upstream):
    via = sdk.openai(gateway.url + "/openai/v1", key)
    direct = sdk.openai(upstream.url + "/openai/v1", UPSTREAM_OPENAI_KEY)
    errors = []
    for client in (via, direct):
        with pytest.raises(openai.NotFoundError) as info:
            client.chat.completions.create(model="error-model", messages=[{"role": "user", "content": "x"}])
        errors.append((info.value.status_code, info.value.body, info.value.response.headers.get("x-request-id")))
    assert errors[0] == errors[1]
    assert usage_rows() == []


def test_unknown_and_revoked_keys_are_refused(sdk, gateway, key, upstream):
    with pytest.raises(openai.AuthenticationError):
        sdk.openai(gateway.url + "/openai/v1", "ssk-not-a-key").models  # noqa: B018 (no call: construct only)
        sdk.openai(gateway.url + "/openai/v1", "ssk-not-a-key").embeddings.create(
            model="text-embedding-3-small", input="x"
        )
    with pytest.raises(anthropic.AuthenticationError):
        sdk.anthropic(gateway.url + "/anthropic", UPSTREAM_ANTHROPIC_KEY).messages.create(
            model="claude-3-5-haiku-20241022", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    token, view = create_key(Actor.cli(), ORG, name="short-lived")
    client = sdk.openai(gateway.url + "/openai/v1", token)
    client.embeddings.create(model="text-embedding-3-small", input="works")  # a key newer than the last refresh
    revoke_key(Actor.cli(), view.id)

    def refused() -> bool:
        try:
            client.embeddings.create(model="text-embedding-3-small", input="x")
        except openai.AuthenticationError:
            return True
        return False

    assert wait_for(refused, 60)


def test_org_and_project_headers(sdk, gateway, key, upstream):
    client = sdk.openai(gateway.url + "/openai/v1", key, organization="org-other")
    with pytest.raises(openai.PermissionDeniedError):
        client.embeddings.create(model="text-embedding-3-small", input="x")
    picked = sdk.openai(gateway.url + "/openai/v1", key, project="proj-x", organization=ORG)
    raw = picked.embeddings.with_raw_response.create(model="text-embedding-3-small", input="x")
    fixed_token, _ = create_key(Actor.cli(), ORG, project_id="proj-fixed")
    fixed = sdk.openai(gateway.url + "/openai/v1", fixed_token, project="proj-x")
    with pytest.raises(openai.PermissionDeniedError):
        fixed.embeddings.create(model="text-embedding-3-small", input="x")
    rows = _recorded({raw.headers["x-request-id"]})
    assert rows[raw.headers["x-request-id"]]["project_id"] == "proj-x"


def test_health_and_metrics(sdk, gateway, key):
    sdk.openai(gateway.url + "/openai/v1", key).embeddings.create(model="text-embedding-3-small", input="x")
    health = httpx.get(gateway.url + "/healthz").json()
    assert health["status"] == "ok"
    metrics = httpx.get(gateway.url + "/metrics").text
    assert 'gateway_requests_total{provider="openai",route="embeddings",status="200"} 1.0' in metrics
    for name in ("gateway_upstream_seconds_bucket", "gateway_queue_depth", "gateway_journal_bytes"):
        assert name in metrics


def test_a_client_that_hangs_up_cancels_the_upstream_call(sdk, gateway, key, upstream):
    client = sdk.openai(gateway.url + "/openai/v1", key, timeout=0.5)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="slow-model", messages=[{"role": "user", "content": "x"}])
    assert wait_for(lambda: upstream.app.cancelled == 1, 60)
    assert wait_for(lambda: "gateway_client_disconnects_total 1.0" in httpx.get(gateway.url + "/metrics").text, 60)
