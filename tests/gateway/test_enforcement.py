"""Limits that reject: hard limit, approved quota, used-up trial credit, and strict limits under concurrency."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import anthropic
import httpx
import openai
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult
from sqlalchemy import text

from gateway.server import make_app
from models.access.roles import Actor
from models.access.tokens import create_token
from models.budgets.credits import add_credit
from models.budgets.limits import set_limit
from models.db import as_utc, get_engine
from models.pricing.catalog import get_catalog
from models.settings import get_settings
from tests.collectors.otlp_util import genai_attributes, make_spans
from tests.factories import add_usage, usage
from tests.gateway.conftest import ORG, Sdk, usage_rows
from tests.llm_upstream import Served
from tests.procs import wait_for


def _client(sdk: Sdk, gateway, key, **kw) -> openai.OpenAI:
    return sdk.openai(gateway.url + "/openai/v1", key, **kw)


def _chat(client, max_tokens: int = 50):
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}], max_tokens=max_tokens
    )


def _rejected(call) -> openai.RateLimitError | None:
    try:
        call()
    except openai.RateLimitError as exc:
        return exc
    return None


def _gateway_sees(gateway, condition) -> bool:
    """Wait until the gateway's refreshed snapshot of the org (a thread, every 0.3 s here) satisfies
    `condition`: asserting on the snapshot, not on a request made within a fixed time, keeps these
    tests true on a loaded machine (60 s is only the bound for a failure; bench/ measures timing)."""
    return wait_for(lambda: (org := gateway.app.state.orgs.get(ORG)) is not None and condition(org), 60)


def _recorded_micros() -> int:
    """What the recorded gateway usage costs, priced like the gateway does."""
    catalog, total = get_catalog(), Decimal(0)
    for row in usage_rows():
        at = as_utc(row["bucket_start"])
        price = catalog.resolve(row["provider"], row["model"], at, row["service_tier"], False, row["context_band"])
        total += price.cost(row)
    return int(total * 1_000_000)


def test_hard_limit_rejects_in_the_providers_shape_and_is_recorded(sdk, gateway, key, upstream):
    client = _client(sdk, gateway, key)
    _chat(client)
    assert wait_for(lambda: len(usage_rows()) == 1, 60)
    spent = _recorded_micros()
    set_limit(Actor.cli(), ORG, hard=Decimal(spent * 2 - 1) / 1_000_000)  # two such requests pass it
    # (.get: the gateway started before the key existed, so the org joins its state at a refresh)
    assert _gateway_sees(gateway, lambda org: org.limits)
    _chat(client)  # the second: spent + this reaches the limit
    error = _rejected(lambda: _chat(client))  # counted at once, before its row is even written
    assert error is not None and error.status_code == 429
    assert error.body == {
        "message": error.body["message"],
        "type": "insufficient_quota",
        "param": None,
        "code": "hard_limit_reached",
    }
    calls = len(upstream.app.billed)
    anth = sdk.anthropic(gateway.url + "/anthropic", key)
    with pytest.raises(anthropic.RateLimitError) as info:
        anth.messages.create(
            model="claude-3-5-haiku-20241022", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.body["type"] == "error" and info.value.body["error"]["type"] == "rate_limit_error"
    assert info.value.body["error"]["code"] == "hard_limit_reached"
    assert len(upstream.app.billed) == calls  # nothing forwarded
    with get_engine().connect() as conn:
        assert wait_for(
            lambda: (
                conn.execute(
                    text("SELECT COUNT(*) FROM gateway_rejection WHERE reason = 'hard_limit_reached'")
                ).scalar()
                == 2
            ),
            60,
        )
        row = conn.execute(text("SELECT org_id, project_id, key_id, provider FROM gateway_rejection")).first()
    assert row[0] == ORG and row[2].startswith("gk_") and row[3] == "openai"


def test_spend_from_other_sources_rejects_within_seconds(sdk, gateway, key):
    client = _client(sdk, gateway, key, project="proj-a")
    set_limit(Actor.cli(), ORG, "proj-a", hard="1")
    _chat(client)
    now = datetime.now(UTC)
    # Ingested logs (not the gateway) push the project past its limit.
    add_usage(usage(ORG, now, project_id="proj-a", model="gpt-4o", input_tokens=10**6, output_tokens=10**5))
    assert _gateway_sees(gateway, lambda org: org.spent.get("proj-a", 0) >= 1_000_000)  # $1, from the logs
    assert _rejected(lambda: _chat(client)) is not None
    other = _client(sdk, gateway, key, project="proj-b")
    _chat(other)  # another project of the org is not limited


def test_otlp_spans_sent_to_the_gateway_port_count_against_its_limits(sdk, org, key):
    """The gateway as `spendsight gateway` builds it (make_app: its OTLP route beside the proxy): an
    application's GenAI spans, from the real OTel exporter, reach the gateway's spend state and reject."""
    served = Served(make_app(get_settings())).start()
    try:
        app = served.config.app
        client = sdk.openai(served.url + "/openai/v1", key, project="proj-a")
        set_limit(Actor.cli(), ORG, "proj-a", hard="1")
        _chat(client)
        token, _ = create_token(Actor.cli(), ORG)
        exporter = OTLPSpanExporter(endpoint=served.url + "/v1/traces", headers={"Authorization": f"Bearer {token}"})
        # $3.50 of gpt-4o, attributed to proj-a by the application's service.name
        big = genai_attributes(model="gpt-4o", input_tokens=10**6, output_tokens=10**5)
        assert exporter.export(make_spans([big], service="proj-a", at=datetime.now(UTC))) == SpanExportResult.SUCCESS
        exporter.shutdown()
        # within a refresh of the gateway's spend state (0.3 s here; 60 s only bounds a failure)
        assert wait_for(
            lambda: (o := app.state.orgs.get(ORG)) is not None and o.spent.get("proj-a", 0) >= 3_500_000, 60
        )
        assert _rejected(lambda: _chat(client)) is not None
    finally:
        served.stop()


def test_quota_and_credit(sdk, gateway, key):
    client = _client(sdk, gateway, key)
    now = datetime.now(UTC)
    add_usage(usage(ORG, now, model="gpt-4o", input_tokens=10**6))  # $2.50
    set_limit(Actor.cli(), ORG, quota="2")
    assert _gateway_sees(gateway, lambda org: "" in org.limits and org.limits[""].quota_usd is not None)
    assert (e := _rejected(lambda: _chat(client))) is not None and e.code == "quota_reached"
    set_limit(Actor.cli(), ORG, quota=None)
    today = date.today()
    add_credit(Actor.cli(), ORG, "1", expires_on=today + timedelta(days=30), granted_on=today - timedelta(days=1))
    assert _gateway_sees(gateway, lambda org: org.credit_exhausted)
    assert (e := _rejected(lambda: _chat(client))) is not None and e.code == "credit_exhausted"
    set_limit(Actor.cli(), ORG, hard="100")  # billing set up: requests flow again
    assert _gateway_sees(gateway, lambda org: not org.credit_exhausted)
    assert _rejected(lambda: _chat(client)) is None


def test_a_strict_limit_is_never_passed_by_200_concurrent_requests(sdk, gateway, key, upstream):
    client = _client(sdk, gateway, key)
    _chat(client, max_tokens=40)
    assert wait_for(lambda: len(usage_rows()) == 1, 60)
    one = _recorded_micros()
    hard = one * 30  # room for well under 200 worst cases
    set_limit(Actor.cli(), ORG, hard=Decimal(hard) / 1_000_000, strict=True)
    assert _gateway_sees(gateway, lambda org: gateway.app.state.strict_scopes(ORG, ""))

    async def burst() -> list[object]:
        aclient = openai.AsyncOpenAI(
            base_url=gateway.url + "/openai/v1", api_key=key, max_retries=0, timeout=httpx.Timeout(120, connect=60)
        )
        calls = [
            aclient.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}], max_tokens=40
            )
            for _ in range(200)
        ]
        try:
            return await asyncio.gather(*calls, return_exceptions=True)
        finally:
            await aclient.close()

    results = asyncio.run(burst())
    passed = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, openai.RateLimitError)]
    others = [r for r in results if isinstance(r, Exception) and not isinstance(r, openai.RateLimitError)]
    assert not others, others[:3]
    assert len(passed) + len(refused) == 200 and passed and refused
    assert all(r.code == "hard_limit_reached" for r in refused)
    assert wait_for(lambda: len(usage_rows()) == 1 + len(passed), 60)
    assert _recorded_micros() <= hard
    with get_engine().connect() as conn:
        assert wait_for(lambda: conn.execute(text("SELECT reserved_micros FROM gateway_budget")).scalar() == 0, 60)
    # Without max_tokens the worst case is unbounded: refused with a clear message.
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert "max_tokens" in info.value.message
