"""OTLP/HTTP GenAI ingest: the real OTel SDK exporter against the receiver on uvicorn, both encodings."""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from genai_prices import Usage, calc_price
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.common.http import Compression as JsonCompression
from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter as JsonSpanExporter
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from sqlalchemy import text

from collectors.otlp.spans import ALIASES
from models.access.orgs import create_org_as
from models.access.roles import Actor
from models.access.tokens import create_token, revoke_token
from models.budgets.limits import set_limit
from models.db import get_engine
from models.settings import OtlpSettings, get_settings
from tests.collectors.otlp_util import AT, genai_attributes, make_spans, nanos, otlp_json, serve
from tests.factories import make_org
from worker.jobs import alert_jobs

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def token():
    create_org_as(Actor.cli(), "acme", "Acme")
    value, _ = create_token(Actor.cli(), "acme", "tests")
    return value


def rows(sql, **params):
    with get_engine().connect() as conn:
        return conn.execute(text(sql), params).all()


def usage_count() -> int:
    return rows("SELECT COUNT(*) FROM usage")[0][0]


def report(cli, org="acme", by="model,project"):
    code, out, err = cli(
        "report", "--org", org, "--start", "2026-11-01", "--end", "2026-12-01", "--by", by, "--format", "json"
    )
    assert code == 0, err
    return json.loads(out)


def price(model, provider, input_tokens, output_tokens, cache_read=0, cache_write=0) -> Decimal:
    usage = Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
    )
    return calc_price(usage, model, provider_id=provider, genai_request_timestamp=AT).total_price


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def protobuf_exporter(url, headers):
    return OTLPSpanExporter(endpoint=url, headers=headers, compression=Compression.Gzip)


def json_exporter(url, headers):
    return JsonSpanExporter(endpoint=url, headers=headers, compression=JsonCompression.GZIP)


@pytest.mark.parametrize("make_exporter", [protobuf_exporter, json_exporter], ids=["protobuf", "json"])
def test_sdk_batch_exporter_totals_and_cost_in_report(cli, token, make_exporter):
    """BatchSpanProcessor + the SDK's OTLP/HTTP exporters, protobuf (opentelemetry-exporter-otlp-proto-http)
    and JSON (opentelemetry-exporter-otlp-json-http), gzip: what was emitted is what `report` shows,
    priced with cache reads, cache writes and reasoning tokens counted the way providers bill them."""
    calls = [
        genai_attributes(input_tokens=1000, output_tokens=200, cache_read=400),
        genai_attributes(model="o3", input_tokens=500, output_tokens=900, reasoning=700),
        genai_attributes(
            model="claude-sonnet-4-5",
            provider="anthropic",
            input_tokens=3000,
            output_tokens=100,
            cache_read=1000,
            cache_write=1500,
        ),
    ]
    with serve() as running:
        exporter = make_exporter(running.url, auth(token))
        provider = TracerProvider(resource=Resource.create({"service.name": "billing-api"}))
        provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=512))
        tracer = provider.get_tracer("app")
        for i in range(30):
            attrs = calls[i % 3]
            start = nanos(AT) + i * 1_000_000
            with tracer.start_as_current_span("http request", start_time=start, end_on_exit=False) as outer:
                tracer.start_span("chat", attributes=attrs, start_time=start).end(end_time=start + 10**9)
                outer.end(end_time=start + 2 * 10**9)  # a span without GenAI usage: ignored
        assert provider.force_flush(30_000)
        provider.shutdown()
        totals = running.receiver.totals
    assert (totals.stored, totals.ignored, totals.rejected) == (30, 30, 0)

    got = {r["model"]: r for r in report(cli)}
    assert set(got) == {"gpt-4o-2024-08-06", "o3", "claude-sonnet-4-5"}
    assert {r["project"] for r in got.values()} == {"billing-api"}  # service.name
    assert (got["gpt-4o-2024-08-06"]["requests"], got["gpt-4o-2024-08-06"]["input_tokens"]) == (10, 10_000)
    assert got["gpt-4o-2024-08-06"]["cached_input_tokens"] == 4000
    assert got["o3"]["output_tokens"] == 9000  # reasoning is part of the output, not added on top
    assert got["claude-sonnet-4-5"]["input_tokens"] == 30_000
    expected = {
        "gpt-4o-2024-08-06": 10 * price("gpt-4o-2024-08-06", "openai", 1000, 200, cache_read=400),
        "o3": 10 * price("o3", "openai", 500, 900),
        "claude-sonnet-4-5": 10 * price("claude-sonnet-4-5", "anthropic", 3000, 100, 1000, 1500),
    }
    for model, cost in expected.items():
        assert Decimal(str(got[model]["cost_usd"])) == cost.quantize(Decimal("0.000001")), model
        assert got[model]["unpriced_requests"] == 0


def test_json_encoding_gzip_and_retries_are_stored_once(cli, token):
    spans = make_spans([genai_attributes(input_tokens=100 + i, output_tokens=10) for i in range(5)] + [None])
    body = json.dumps(otlp_json(spans)).encode()
    with serve() as running:
        first = httpx.post(running.url, content=body, headers={**JSON, **auth(token)})
        again = httpx.post(
            running.url, content=gzip.compress(body), headers={**JSON, **auth(token), "Content-Encoding": "gzip"}
        )
        # and the exporter's own protobuf encoding of the same spans, twice, as an exporter retry sends it
        exporter = OTLPSpanExporter(endpoint=running.url, headers=auth(token))
        assert exporter.export(spans) == SpanExportResult.SUCCESS
        assert exporter.export(spans) == SpanExportResult.SUCCESS
        # a retry that carries one new span among the stored ones: the hours it touches are rebuilt
        more = make_spans([genai_attributes(input_tokens=1000, output_tokens=10)])
        assert exporter.export([*spans, *more]) == SpanExportResult.SUCCESS
        exporter.shutdown()
        totals = running.receiver.totals
    for response in (first, again):
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"
        assert response.json() == {}  # full success: partial_success left unset
    assert (totals.stored, totals.duplicate, totals.ignored) == (6, 20, 5)
    assert usage_count() == 6
    assert rows("SELECT org_id FROM rollup_state") == [("acme",)]  # what the worker's alerts-watch reads
    assert report(cli, by="project")[0]["input_tokens"] == sum(100 + i for i in range(5)) + 1000
    ids = rows("SELECT request_id FROM usage ORDER BY request_id")
    assert all(r[0].startswith("otlp:") and len(r[0]) == len("otlp:") + 32 + 1 + 16 for r in ids)


def test_response_id_is_the_natural_key_and_attribution_is_configurable(cli, token):
    same_call = genai_attributes(**{"gen_ai.response.id": "chatcmpl-abc", "enduser.id": "ana", "team": "search"})
    spans = make_spans([same_call, same_call], service="svc")  # two spans of one call: stored once
    settings = OtlpSettings(project_attributes="team,service.name", user_attributes="enduser.id")
    notified: list[str] = []
    with serve(settings, on_usage=notified.append) as running:
        response = httpx.post(
            running.url, content=encode_spans(spans).SerializeToString(), headers={**PROTOBUF, **auth(token)}
        )
    assert response.status_code == 200
    assert rows("SELECT request_id, project_id, user_id, source FROM usage") == [
        ("chatcmpl-abc", "search", "ana", "otlp")
    ]
    assert notified == ["acme"]  # the hook an embedding server (the gateway) gets after new usage


def test_spans_reach_alerts_through_the_workers_watch(smtp):
    """Rows from spans stamp the org's rollup_state; the worker's alerts-watch job (every 10 s) sees the
    change and sends the soft-limit alert, as for usage any other process writes."""
    make_org("org-o", name="Otel", owners=("ana@example.com",))
    set_limit(Actor.cli(), "org-o", soft=1, thresholds="100")
    value, _ = create_token(Actor.cli(), "org-o")
    watch = {job.name: job for job in alert_jobs(get_settings())}["alerts-watch"]
    spans = make_spans([genai_attributes(model="gpt-4o", input_tokens=500_000, output_tokens=0)], at=datetime.now(UTC))
    with serve() as running:
        assert OTLPSpanExporter(endpoint=running.url, headers=auth(value)).export(spans) == SpanExportResult.SUCCESS
    watch()
    assert watch.last_error is None
    assert [str(m["Subject"]) for m in smtp.messages_to("ana@example.com")] == [
        "[Spendsight] Otel: 100% of the soft limit reached ($1.25 of $1.00)"
    ]


def test_a_token_writes_only_to_its_own_org(cli, token):
    create_org_as(Actor.cli(), "other", "Other")
    other_token, other = create_token(Actor.cli(), "other")
    # spans that claim another org in every attribute they could
    claims = {"org": "other", "org_id": "other", "spendsight.org": "other", "service.name": "other"}
    spans = make_spans([genai_attributes(**claims)], service="other")
    body = encode_spans(spans).SerializeToString()
    with serve() as running:
        assert httpx.post(running.url, content=body, headers={**PROTOBUF, **auth(token)}).status_code == 200
        revoke_token(Actor.cli(), other.id)
        refused = [
            httpx.post(running.url, content=body, headers={**PROTOBUF, **auth(other_token)}),  # revoked
            httpx.post(running.url, content=body, headers=PROTOBUF),  # none
            httpx.post(running.url, content=body, headers={**PROTOBUF, **auth("sst_" + "x" * 43)}),  # unknown
            httpx.post(running.url, content=body, headers={**PROTOBUF, "Authorization": f"Basic {token}"}),
        ]
    assert rows("SELECT DISTINCT org_id FROM usage") == [("acme",)]
    for response in refused:
        assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")
        status = Status()
        status.ParseFromString(response.content)
        assert "ingest token" in status.message
    assert usage_count() == 1
    assert report(cli, org="other", by="")[0]["requests"] == 0


def test_partial_success_counts_rejected_spans_and_keeps_them(cli, token):
    spans = make_spans(
        [
            genai_attributes(),
            {"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 1},  # no model
            genai_attributes(input_tokens=-5),
            genai_attributes(output_tokens="lots"),
            {"http.method": "GET"},  # not GenAI: ignored, not rejected
        ]
    )
    with serve() as running:
        response = httpx.post(
            running.url, content=encode_spans(spans).SerializeToString(), headers={**PROTOBUF, **auth(token)}
        )
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-protobuf"
    answer = ExportTraceServiceResponse()
    answer.ParseFromString(response.content)
    assert answer.partial_success.rejected_spans == 3
    assert "3 GenAI span(s) rejected" in answer.partial_success.error_message
    assert "gen_ai.usage.input_tokens: gen_ai.usage.input_tokens must be a non-negative integer, got -5" in (
        answer.partial_success.error_message
    )
    assert usage_count() == 1
    kept = rows("SELECT field, org_id FROM quarantine WHERE file = 'otlp' ORDER BY field")
    assert kept == [
        ("gen_ai.response.model", "acme"),
        ("gen_ai.usage.input_tokens", "acme"),
        ("gen_ai.usage.output_tokens", "acme"),
    ]
    # the same batch again adds nothing: not a row, not a quarantine entry
    with serve() as running:
        httpx.post(running.url, content=encode_spans(spans).SerializeToString(), headers={**PROTOBUF, **auth(token)})
    assert usage_count() == 1 and len(rows("SELECT id FROM quarantine")) == 3


def test_counts_and_times_beyond_what_ingest_keeps_are_rejected(cli, token):
    """A count past ingest's MAX_COUNT (two would overflow the rollups' sums: `report` failed) and an end
    time past 2199 (years no other path stores) are rejected spans, not rows."""
    huge = genai_attributes(input_tokens=2**63 - 1)
    spans = [
        *make_spans([huge, huge, genai_attributes(output_tokens=10**12 + 1), genai_attributes()]),
        *make_spans([genai_attributes()], at=datetime(2300, 1, 1, tzinfo=UTC)),
    ]
    with serve() as running:
        response = httpx.post(
            running.url, content=encode_spans(spans).SerializeToString(), headers={**PROTOBUF, **auth(token)}
        )
    assert response.status_code == 200
    answer = ExportTraceServiceResponse()
    answer.ParseFromString(response.content)
    assert answer.partial_success.rejected_spans == 4
    assert "is larger than 1,000,000,000,000: not a real count" in answer.partial_success.error_message
    assert "end time 2300-01-01 is not between 1970 and 2199" in answer.partial_success.error_message
    assert usage_count() == 1
    assert report(cli, by="")[0]["input_tokens"] == 1000


def test_current_attribute_names_fill_every_column(cli, token):
    """Default settings: the response model before the request model, cache writes and reasoning kept in
    their columns, the service tier, embeddings, the provider from gen_ai.system, enduser.id as the user,
    the span's end time as the row's time."""
    spans = make_spans(
        [
            genai_attributes(
                model="o3",
                output_tokens=900,
                reasoning=700,
                **{
                    "gen_ai.request.model": "o3-mini",
                    "openai.response.service_tier": "flex",
                    "enduser.id": "ana",
                },
            ),
            genai_attributes(model="claude-sonnet-4-5", provider="anthropic", input_tokens=3000, cache_write=1500),
            {
                "gen_ai.operation.name": "embeddings",
                "gen_ai.system": "az.ai.openai",
                "gen_ai.request.model": "text-embedding-3-small",
                "gen_ai.usage.input_tokens": 50,
            },
        ]
    )
    with serve() as running:
        response = httpx.post(
            running.url, content=encode_spans(spans).SerializeToString(), headers={**PROTOBUF, **auth(token)}
        )
    assert response.status_code == 200 and response.content == b""
    got = [
        (*row[:-1], str(row[-1])[:26])
        for row in rows(
            "SELECT provider, model, kind, service_tier, user_id, project_id, input_tokens, cache_write_tokens,"
            " output_tokens, reasoning_tokens, bucket_start FROM usage ORDER BY bucket_start"
        )
    ]
    assert got == [
        ("openai", "o3", "completions", "flex", "ana", "billing-api", 1000, 0, 900, 700, "2026-11-10 12:00:00.500000"),
        (
            "anthropic",
            "claude-sonnet-4-5",
            "completions",
            "",
            "",
            "billing-api",
            3000,
            1500,
            200,
            0,
            "2026-11-10 12:00:00.501000",
        ),
        (
            "azure",
            "text-embedding-3-small",
            "embeddings",
            "",
            "",
            "billing-api",
            50,
            0,
            0,
            0,
            "2026-11-10 12:00:00.502000",
        ),
    ]


def test_older_attribute_names(cli, token):
    spans = make_spans(
        [
            {  # OpenLLMetry
                "gen_ai.system": "OpenAI",
                "gen_ai.request.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.prompt_tokens": 1000,
                "gen_ai.usage.completion_tokens": 50,
                "gen_ai.usage.cache_read_input_tokens": 300,
                "gen_ai.openai.response.service_tier": "default",
            },
            {  # llm.* names, and a cache reported apart from the input (a part larger than the whole)
                "gen_ai.system": "Anthropic",
                "gen_ai.response.model": "claude-sonnet-4-5",
                "llm.usage.prompt_tokens": 20,
                "llm.usage.completion_tokens": 5,
                "llm.usage.cache_read_input_tokens": 1000,
            },
            {
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 7.0,
                "gen_ai.usage.output_tokens": "3",
            },
        ]
    )
    with serve() as running:
        response = httpx.post(
            running.url, content=encode_spans(spans).SerializeToString(), headers={**PROTOBUF, **auth(token)}
        )
    assert response.status_code == 200 and response.content == b""  # full success, an empty message
    got = rows(
        "SELECT provider, model, input_tokens, cached_input_tokens, output_tokens, service_tier FROM usage"
        " ORDER BY model"
    )
    assert got == [
        ("anthropic", "claude-sonnet-4-5", 1020, 1000, 5, ""),
        ("openai", "gpt-4o-2024-08-06", 1000, 300, 50, ""),
        ("openai", "gpt-4o-mini", 7, 0, 3, ""),  # no provider attribute: known from the model
    ]


def _post(url, body, headers):
    return httpx.post(url, content=body() if callable(body) else body, headers=headers)


def test_bad_requests_are_answered_per_spec_and_store_nothing(cli, token):
    good = encode_spans(make_spans([genai_attributes()])).SerializeToString()
    big = encode_spans(make_spans([genai_attributes(**{"pad": "x" * 5000})])).SerializeToString()
    bomb = gzip.compress(b"\0" * (50 << 20))  # 50 MiB of zeros in about 50 KiB
    small_bomb = gzip.compress(b"\0" * (1 << 20))  # under the 4 KiB limit as sent, 1 MiB once inflated
    assert len(small_bomb) < 4096
    json_body = json.dumps(otlp_json(make_spans([genai_attributes()])))
    bad_hex = json_body.replace('"traceId":"', '"traceId":"zz', 1).replace('"traceId": "', '"traceId": "zz', 1)
    h = auth(token)
    cases = [
        (400, b"\x0a\xff\xff\xff\xff\x0f", {**PROTOBUF, **h}),  # a length past the end
        (400, b"{not json", {**JSON, **h}),
        (400, b"[1, 2]", {**JSON, **h}),
        (400, b'{"resourceSpans": "none"}', {**JSON, **h}),
        (400, bad_hex.encode(), {**JSON, **h}),
        (400, b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"endTimeUnixNano": "soon"}]}]}]}', {**JSON, **h}),
        (400, gzip.compress(good)[:-12], {**PROTOBUF, **h, "Content-Encoding": "gzip"}),  # truncated
        (400, good, {**PROTOBUF, **h, "Content-Encoding": "gzip"}),  # says gzip, is not
        (413, big, {**PROTOBUF, **h}),
        (413, bomb, {**PROTOBUF, **h, "Content-Encoding": "gzip"}),
        (413, small_bomb, {**PROTOBUF, **h, "Content-Encoding": "gzip"}),  # the limit once inflated
        (413, lambda: iter([big[:3000], big[3000:]]), {**PROTOBUF, **h}),  # chunked: no Content-Length
        (415, good, {"Content-Type": "text/plain", **h}),
        (415, good, h),  # no Content-Type at all
        (415, good, {**PROTOBUF, **h, "Content-Encoding": "br"}),
    ]
    with serve(OtlpSettings(max_body_bytes=4096)) as running:
        answers = [(_post(running.url, body, headers), status, headers) for status, body, headers in cases]
        assert running.receiver.totals.requests == 0
    for response, status, headers in answers:
        assert response.status_code == status, (status, response.content[:200])
        status_message = Status()
        if headers.get("Content-Type") == "application/json":
            json_format.Parse(response.text, status_message)
        else:
            status_message.ParseFromString(response.content)
        assert status_message.message
    assert usage_count() == 0 and rows("SELECT COUNT(*) FROM quarantine")[0][0] == 0


def test_every_attribute_name_read_is_in_the_docs_table():
    """The issue asks for the accepted names, older ones too, in a table: docs/otlp.md's lists each
    name ALIASES reads, in the order of preference the code applies."""
    doc = (Path(__file__).parents[2] / "docs" / "otlp.md").read_text()
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in doc.splitlines()]
    documented = [re.findall(r"`([^`]+)`", row[1]) for row in cells if len(row) == 3 and row[0].startswith("`")]
    for what, names in ALIASES.items():
        assert any(listed[: len(names)] == list(names) for listed in documented), (what, names)
