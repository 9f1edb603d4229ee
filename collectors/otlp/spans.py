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
from collectors.logs.settings import EARLIEST, LATEST, MAX_COUNT
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
    slots: dict[str, tuple[str, int]] = {}  # attribute name -> (what it carries, preference: lower wins)
    for what, names in (*ALIASES.items(), ("project", tuple(project_keys)), ("user", tuple(user_keys))):
        for rank, name in enumerate(names):
            slots.setdefault(name, (what, rank))
    result = Mapped()
    for resource_spans in request.resource_spans:
        resource = _scan(resource_spans.resource.attributes, slots)
        fallback = (resource.get("project", ""), resource.get("user", ""))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                result.spans += 1
                found = _scan(span.attributes, slots)
                if "input_tokens" not in found and "output_tokens" not in found:
                    result.ignored += 1
                    continue
                try:
                    result.records.append(_record(span, found, org_id, fallback, catalog))
                except _Reject as reject:
                    result.rejects.append(_rejection(span, org_id, reject, slots))
    return result


def _scan(kvs: Iterable[KeyValue], slots: Mapping[str, tuple[str, int]]) -> dict[str, Any]:
    """What a span's (or resource's) attributes carry: counts as (attribute name, AnyValue), checked
    later; texts as non-empty strings. One pass over the attributes, whatever else they hold (prompts,
    completions): this runs for every span, so it is the receiver's hot loop."""
    found: dict[str, Any] = {}
    ranks: dict[str, int] = {}
    for kv in kvs:
        key = kv.key
        hit = slots.get(key)
        if hit is None:
            continue
        what, rank = hit
        if ranks.get(what, 99) <= rank:
            continue
        value = kv.value
        if what in _COUNTS:
            found[what] = (key, value)
        else:
            kind = value.WhichOneof("value")
            if kind == "string_value":
                text = value.string_value.strip()
            elif kind == "int_value":
                text = str(value.int_value)
            else:
                continue
            if not text:
                continue  # an empty value gives way to the next name (e.g. the request model)
            found[what] = text
        ranks[what] = rank
    return found


_COUNTS = frozenset(TOKEN_FIELDS)


def _record(span: Any, found: dict[str, Any], org_id: str, fallback: tuple[str, str], catalog: Catalog) -> Record:
    counts = {name: _count(found.get(name)) for name in TOKEN_FIELDS}
    # The conventions put cache reads and writes inside input_tokens and reasoning inside
    # output_tokens (as our columns do). An instrumentation reporting them apart shows it by a part
    # larger than the whole: then the whole is the sum.
    cached, written = counts["cached_input_tokens"], counts["cache_write_tokens"]
    if cached + written > counts["input_tokens"]:
        counts["input_tokens"] += cached + written
    if counts["reasoning_tokens"] > counts["output_tokens"]:
        counts["output_tokens"] += counts["reasoning_tokens"]
    get = found.get
    model = get("model", "")
    if not model:
        raise _Reject("gen_ai.response.model", "no model: neither gen_ai.response.model nor gen_ai.request.model")
    end = span.end_time_unix_nano or span.start_time_unix_nano
    if not end:
        raise _Reject("end_time_unix_nano", "the span has no end time")
    try:
        at = datetime.fromtimestamp(end / 1e9, UTC)
    except (OverflowError, OSError, ValueError):
        raise _Reject("end_time_unix_nano", f"end time {end} is out of range") from None
    if not EARLIEST <= at < LATEST:  # the years every other path keeps: an org's local day must exist
        raise _Reject("end_time_unix_nano", f"end time {at:%Y-%m-%d} is not between 1970 and 2199")
    request_id = get("response_id", "")
    if not request_id:
        trace_id, span_id = span.trace_id, span.span_id
        if len(trace_id) != 16 or len(span_id) != 8:
            raise _Reject("span_id", "no gen_ai.response.id and no valid trace and span id to identify the span")
        request_id = f"otlp:{trace_id.hex()}:{span_id.hex()}"
    provider_name = get("provider", "").lower()
    provider = PROVIDERS.get(provider_name, provider_name) or catalog.infer_provider(model)
    record = blank_record()
    for name, index in _TOKEN_COLS.items():
        record[index] = counts[name]
    record[_ORG] = org_id  # the token's org, whatever the span says
    record[_PROVIDER] = provider[:40]
    record[_SOURCE] = "otlp"
    record[_KIND] = "embeddings" if get("operation") in EMBEDDINGS else "completions"
    record[_PROJECT] = (get("project") or fallback[0])[:200]
    record[_USER] = (get("user") or fallback[1])[:200]
    record[_MODEL] = model[:200]
    record[_TIER] = normalize_tier(get("service_tier"))[:40]
    record[_BAND] = catalog.band(counts["input_tokens"])
    record[_START] = at
    record[_REQUEST] = request_id[:200]
    record[_REQUESTS] = 1
    return record


def _count(found: tuple[str, AnyValue] | None) -> int:
    if found is None:
        return 0
    name, value = found
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
    if number > MAX_COUNT:  # as ingest: a count no request has, which would overflow the rollup sums
        raise _Reject(name, f"{name} {number} is larger than {MAX_COUNT:,}: not a real count")
    return number


def _plain(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind in ("string_value", "int_value", "double_value", "bool_value") else kind


def _rejection(span: Any, org_id: str, reject: _Reject, slots: Mapping[str, tuple[str, int]]) -> Rejection:
    attrs = {kv.key: _plain(kv.value) for kv in span.attributes if kv.key in slots}
    raw = {
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "name": span.name,
        "end_time_unix_nano": span.end_time_unix_nano,
        "attributes": dict(sorted(attrs.items())),
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
