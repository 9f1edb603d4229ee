"""GenAI spans into usage records: which attributes are read (current and older names), attribution,
and the natural key that makes a re-sent span land once.

The attribute names and what each becomes are listed in docs/otlp.md; ALIASES below is that table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from collectors.base import COL, Record, Rejection, blank_record
from models.pricing.catalog import Catalog, normalize_tier

# What we read -> the attribute names that carry it, in order of preference: the GenAI semantic
# conventions' name first, then the older names popular instrumentations still emit.
ALIASES: dict[str, tuple[str, ...]] = {
    "input_tokens": (
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",  # semconv before 1.27, OpenLLMetry, OpenLIT
        "llm.usage.prompt_tokens",  # OpenLLMetry's llm.* namespace, OpenInference
        "llm.usage.input_tokens",
    ),
    "output_tokens": (
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.usage.completion_tokens",
        "llm.usage.output_tokens",
    ),
    "cached_input_tokens": (
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",  # OpenLLMetry
        "llm.usage.cache_read_input_tokens",
        "gen_ai.usage.input_tokens_details.cached",  # OpenLLMetry's LangChain instrumentation
    ),
    "cache_write_tokens": (
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",  # OpenLLMetry
        "llm.usage.cache_creation_input_tokens",
    ),
    "reasoning_tokens": (
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.reasoning_tokens",  # OpenLLMetry
        "llm.usage.reasoning_tokens",
    ),
    "model": ("gen_ai.response.model", "gen_ai.request.model"),
    "provider": ("gen_ai.provider.name", "gen_ai.system"),
    "response_id": ("gen_ai.response.id",),
    "service_tier": ("openai.response.service_tier", "gen_ai.openai.response.service_tier"),
    "operation": ("gen_ai.operation.name",),
}
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens", "reasoning_tokens")
# A span is a GenAI usage span when it carries one of these; any other span is ignored.
USAGE_KEYS = frozenset(ALIASES["input_tokens"] + ALIASES["output_tokens"])

# gen_ai.provider.name's well-known values (and older gen_ai.system spellings) -> the provider ids
# prices are kept under (genai-prices); a value not listed is kept as sent, lower-cased.
PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "aws.bedrock": "aws",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "az.ai.inference": "azure",
    "az.ai.openai": "azure",
    "gcp.gemini": "google",
    "gcp.gen_ai": "google",
    "gcp.vertex_ai": "google",
    "vertex_ai": "google",
    "gemini": "google",
    "mistral_ai": "mistral",
    "mistralai": "mistral",
    "x_ai": "x-ai",
    "xai": "x-ai",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "groq": "groq",
    "perplexity": "perplexity",
}
EMBEDDINGS = frozenset({"embeddings", "embedding"})
MAX_RAW = 2000  # characters of a rejected span kept in quarantine


@dataclass
class Mapped:
    """One request's spans: usage records, rejected spans (with why) and how many were ignored."""

    records: list[Record] = field(default_factory=list)
    rejects: list[Rejection] = field(default_factory=list)
    ignored: int = 0
    spans: int = 0


class _Reject(Exception):
    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason


_ORG, _PROVIDER, _SOURCE, _KIND = COL["org_id"], COL["provider"], COL["source"], COL["kind"]
_PROJECT, _USER, _MODEL, _TIER = COL["project_id"], COL["user_id"], COL["model"], COL["service_tier"]
_BAND, _START, _REQUEST, _REQUESTS = COL["context_band"], COL["bucket_start"], COL["request_id"], COL["requests"]
_TOKEN_COLS = {name: COL[name] for name in TOKEN_FIELDS}


def map_request(
    request: ExportTraceServiceRequest,
    org_id: str,
    project_keys: Sequence[str],
    user_keys: Sequence[str],
    catalog: Catalog,
) -> Mapped:
    """Every span of the request as a usage record, a rejection, or ignored; the org is always `org_id`."""
    wanted_keys: dict[str, str] = {}  # attribute name -> what it carries (first alias wins below)
    for what, names in ALIASES.items():
        for name in names:
            wanted_keys.setdefault(name, what)
    for name in project_keys:
        wanted_keys.setdefault(name, "project")
    for name in user_keys:
        wanted_keys.setdefault(name, "user")
    result = Mapped()
    for resource_spans in request.resource_spans:
        resource = _pick(resource_spans.resource.attributes, wanted_keys)
        fallback = {"project": _text_of(resource, project_keys), "user": _text_of(resource, user_keys)}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                result.spans += 1
                attrs = _pick(span.attributes, wanted_keys)
                if not USAGE_KEYS.intersection(attrs):
                    result.ignored += 1
                    continue
                try:
                    result.records.append(_record(span, attrs, org_id, project_keys, user_keys, fallback, catalog))
                except _Reject as reject:
                    result.rejects.append(_rejection(span, attrs, org_id, reject))
    return result


def _pick(kvs: Iterable[KeyValue], wanted: Mapping[str, str]) -> dict[str, AnyValue]:
    """The wanted attributes of a span or resource; the others (prompts, completions) are not touched."""
    return {kv.key: kv.value for kv in kvs if kv.key in wanted}


def _record(
    span: Any,
    attrs: dict[str, AnyValue],
    org_id: str,
    project_keys: Sequence[str],
    user_keys: Sequence[str],
    fallback: dict[str, str],
    catalog: Catalog,
) -> Record:
    counts = {name: _count(attrs, name) for name in TOKEN_FIELDS}
    # The conventions put cache reads and writes inside input_tokens and reasoning inside
    # output_tokens (as our columns do). An instrumentation reporting them apart shows it by a part
    # larger than the whole: then the whole is the sum.
    cached, written = counts["cached_input_tokens"], counts["cache_write_tokens"]
    if cached + written > counts["input_tokens"]:
        counts["input_tokens"] += cached + written
    if counts["reasoning_tokens"] > counts["output_tokens"]:
        counts["output_tokens"] += counts["reasoning_tokens"]
    model = _text(attrs, ALIASES["model"])
    if not model:
        raise _Reject("gen_ai.response.model", "no model: neither gen_ai.response.model nor gen_ai.request.model")
    end = span.end_time_unix_nano or span.start_time_unix_nano
    if not end:
        raise _Reject("end_time_unix_nano", "the span has no end time")
    try:
        at = datetime.fromtimestamp(end / 1e9, UTC)
    except (OverflowError, OSError, ValueError):
        raise _Reject("end_time_unix_nano", f"end time {end} is out of range") from None
    request_id = _text(attrs, ALIASES["response_id"])
    if not request_id:
        if len(span.trace_id) != 16 or len(span.span_id) != 8:
            raise _Reject("span_id", "no gen_ai.response.id and no valid trace and span id to identify the span")
        request_id = f"otlp:{span.trace_id.hex()}:{span.span_id.hex()}"
    provider_name = _text(attrs, ALIASES["provider"]).lower()
    provider = PROVIDERS.get(provider_name, provider_name) or catalog.infer_provider(model)
    record = blank_record()
    for name, index in _TOKEN_COLS.items():
        record[index] = counts[name]
    record[_ORG] = org_id  # the token's org, whatever the span says
    record[_PROVIDER] = provider[:40]
    record[_SOURCE] = "otlp"
    record[_KIND] = "embeddings" if _text(attrs, ALIASES["operation"]) in EMBEDDINGS else "completions"
    record[_PROJECT] = (_text(attrs, project_keys) or fallback["project"])[:200]
    record[_USER] = (_text(attrs, user_keys) or fallback["user"])[:200]
    record[_MODEL] = model[:200]
    record[_TIER] = normalize_tier(_text(attrs, ALIASES["service_tier"]))[:40]
    record[_BAND] = catalog.band(counts["input_tokens"])
    record[_START] = at
    record[_REQUEST] = request_id[:200]
    record[_REQUESTS] = 1
    return record


def _count(attrs: dict[str, AnyValue], what: str) -> int:
    for name in ALIASES[what]:
        value = attrs.get(name)
        if value is None:
            continue
        kind = value.WhichOneof("value")
        if kind == "int_value":
            number: object = value.int_value
        elif kind == "double_value" and value.double_value.is_integer():
            number = int(value.double_value)
        elif kind == "string_value" and value.string_value.strip().isdigit():  # some SDKs stringify
            number = int(value.string_value)
        else:
            raise _Reject(name, f"{name} must be a non-negative integer, got {_plain(value)!r}")
        if not isinstance(number, int) or number < 0:
            raise _Reject(name, f"{name} must be a non-negative integer, got {number!r}")
        return number
    return 0


def _text(attrs: dict[str, AnyValue], names: Iterable[str]) -> str:
    for name in names:
        value = attrs.get(name)
        if value is None:
            continue
        kind = value.WhichOneof("value")
        if kind == "string_value":
            text = value.string_value.strip()
        elif kind == "int_value":
            text = str(value.int_value)
        else:
            continue
        if text:
            return text
    return ""


def _text_of(attrs: dict[str, AnyValue], names: Sequence[str]) -> str:
    return _text(attrs, names)


def _plain(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind in ("string_value", "int_value", "double_value", "bool_value") else kind


def _rejection(span: Any, attrs: dict[str, AnyValue], org_id: str, reject: _Reject) -> Rejection:
    raw = {
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "name": span.name,
        "end_time_unix_nano": span.end_time_unix_nano,
        "attributes": {key: _plain(value) for key, value in sorted(attrs.items())},
    }
    return {
        "file": "otlp",
        "line": 0,
        "format": "otlp",
        "field": reject.field,
        "reason": reject.reason,
        "raw": orjson.dumps(raw, default=str).decode()[:MAX_RAW],
        "org_id": org_id,
    }
