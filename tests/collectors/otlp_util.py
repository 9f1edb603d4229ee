"""Shared by the OTLP tests: the receiver on real uvicorn in a thread, GenAI spans from the real OTel SDK."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import uvicorn
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette

from collectors.otlp.receiver import Receiver, receiver_routes
from models.settings import OtlpSettings

AT = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


@dataclass
class Running:
    url: str
    receiver: Receiver


@contextmanager
def serve(settings: OtlpSettings | None = None, on_usage: Callable[[str], None] | None = None) -> Iterator[Running]:
    """The receiver's routes on uvicorn, listening on a free 127.0.0.1 port, for the block's length."""
    receiver = Receiver(settings or OtlpSettings(), on_usage)
    app = Starlette(routes=receiver_routes(receiver))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", ws="none"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the receiver did not start"
        time.sleep(0.02)
    try:
        yield Running(f"http://127.0.0.1:{port}/v1/traces", receiver)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


def genai_attributes(
    model: str = "gpt-4o-2024-08-06",
    input_tokens: int = 1000,
    output_tokens: int = 200,
    cache_read: int = 0,
    cache_write: int = 0,
    reasoning: int = 0,
    provider: str = "openai",
    **extra: object,
) -> dict[str, object]:
    attrs: dict[str, object] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": output_tokens,
    }
    if cache_read:
        attrs["gen_ai.usage.cache_read.input_tokens"] = cache_read
    if cache_write:
        attrs["gen_ai.usage.cache_creation.input_tokens"] = cache_write
    if reasoning:
        attrs["gen_ai.usage.reasoning.output_tokens"] = reasoning
    attrs.update(extra)
    return attrs


def nanos(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000


def make_spans(specs: list[dict[str, object]], service: str = "billing-api", at: datetime = AT) -> list[ReadableSpan]:
    """Finished SDK spans, one per attribute dict (None: a span with no GenAI attributes)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("spendsight-tests")
    for i, attrs in enumerate(specs):
        start = nanos(at) + i * 1_000_000
        span = tracer.start_span(f"chat {i}", attributes=attrs or {}, start_time=start)
        span.end(end_time=start + 500_000_000)
    provider.shutdown()
    return list(memory.get_finished_spans())


def otlp_json(spans: list[ReadableSpan]) -> dict[str, object]:
    """The SDK's own encoding of the spans as OTLP/JSON: protobuf's JSON mapping with hex ids."""
    obj = json_format.MessageToDict(encode_spans(spans))
    for rs in obj.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return obj
