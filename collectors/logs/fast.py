"""The ingest fast path: well-formed OpenAI responses decoded straight into usage records.

msgspec decodes and validates a line against a typed schema in C, several times faster than
decoding to dicts and checking fields in Python. Only the common, unambiguous shapes are handled
here: a Chat Completions or Responses object with an id and a model, bare, inside an attribution
wrapper ({"timestamp", "project", "user", "api_key_id", "response": {...}}) or as a Batch API
output line. Anything else, including every line with a problem, takes the general path in
formats.py, which gives the same record or says precisely what is wrong (tests/test_ingest_fast.py
holds the two paths to the same records).
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import UTC, datetime
from typing import Annotated, final

import msgspec

from collectors.base import COL, Record, blank_record
from collectors.logs.settings import LATEST, MAX_COUNT
from models.pricing.catalog import Catalog, normalize_tier

Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]  # beyond: the general path says why not
# From 1970 to 2199 (collectors.logs.settings.LATEST); anything else is the general path's to judge.
Seconds = Annotated[int, msgspec.Meta(ge=0, le=int(LATEST.timestamp()) - 1)]
Text = Annotated[str, msgspec.Meta(max_length=200)]
Tier = Annotated[str, msgspec.Meta(max_length=40)]


class _PromptDetails(msgspec.Struct):
    cached_tokens: Count | None = None
    audio_tokens: Count | None = None


class _CompletionDetails(msgspec.Struct):
    reasoning_tokens: Count | None = None
    audio_tokens: Count | None = None


@final  # (final: `type(x) is` narrows both ways)
class _ChatUsage(msgspec.Struct):
    prompt_tokens: Count
    completion_tokens: Count | None = None
    prompt_tokens_details: _PromptDetails | None = None
    completion_tokens_details: _CompletionDetails | None = None


class _InputDetails(msgspec.Struct):
    cached_tokens: Count | None = None


class _OutputDetails(msgspec.Struct):
    reasoning_tokens: Count | None = None


@final
class _ResponseUsage(msgspec.Struct):
    input_tokens: Count
    output_tokens: Count | None = None
    input_tokens_details: _InputDetails | None = None
    output_tokens_details: _OutputDetails | None = None


@final
class _Chat(msgspec.Struct, tag_field="object", tag="chat.completion"):
    id: Text
    model: Text
    usage: _ChatUsage
    created: Seconds | None = None
    service_tier: Tier | None = None


@final
class _Response(msgspec.Struct, tag_field="object", tag="response"):
    id: Text
    model: Text
    usage: _ResponseUsage
    created_at: Seconds | None = None
    service_tier: Tier | None = None
    created: msgspec.Raw = msgspec.Raw(b"")  # the general path would read this one first: declined


Body = _Chat | _Response


class _BatchResponse(msgspec.Struct):
    body: Body
    status_code: int | None = None


class _BatchLine(msgspec.Struct):
    """A Batch API output line; any `error` but null is a failed request, for the general path."""

    response: _BatchResponse
    error: None = None


class _Wrapped(msgspec.Struct):
    """An attribution wrapper around a body. A `created_at` time or an `org` of its own is left to the
    general path (it parses every time format and validates org ids)."""

    response: Body
    timestamp: Seconds | None = None
    created_at: None = None
    org: str | None = None
    project: Text | None = None
    api_key_id: Text | None = None
    user: Text | None = None


_ABSENT = msgspec.Raw(b"")


class _Shape(msgspec.Struct):
    """Just enough to tell the shapes apart; nested values are skipped, not decoded."""

    object: str | None = None
    response: msgspec.Raw = _ABSENT
    custom_id: msgspec.Raw = _ABSENT


_shape = msgspec.json.Decoder(_Shape)
_bare = msgspec.json.Decoder(Body)
_batch_line = msgspec.json.Decoder(_BatchLine)
_wrapped = msgspec.json.Decoder(_Wrapped)
_TOKENS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
)
_AT = slice(COL[_TOKENS[0]], COL[_TOKENS[-1]] + 1)
if tuple(COL[name] for name in _TOKENS) != tuple(range(_AT.start, _AT.stop)):
    raise RuntimeError("the usage table's token columns are no longer adjacent; update collectors/logs/fast.py")
_I = {
    name: COL[name]
    for name in (
        "org_id",
        "provider",
        "source",
        "kind",
        "project_id",
        "api_key_id",
        "user_id",
        "model",
        "service_tier",
        "batch",
        "context_band",
        "bucket_start",
        "request_id",
        "requests",
    )
}
_KINDS = {_Chat: "completions", _Response: "responses"}
_MAX_CACHED = 100_000


def _trimmed(text: str | None) -> bool:
    """Empty, or printable (no control characters) with no space at either end: as the general path keeps it."""
    return not text or (text.isprintable() and not text[0].isspace() and not text[-1].isspace())


class FastPath:
    """Builds records for one ingest's defaults; `record(line)` is a usage record or None."""

    def __init__(self, org: str | None, project: str | None, catalog: Catalog) -> None:
        self.org, self.project = org, project or ""
        self.thresholds = catalog.thresholds
        self.tiers: dict[str | None, str] = {}
        self.times: dict[int, datetime] = {}  # log lines arrive many to a second
        self.templates = {kind: self._template(kind) for kind in _KINDS.values()}

    def _template(self, kind: str) -> Record:
        record, i = blank_record(), _I
        record[i["org_id"]] = self.org
        record[i["provider"]] = "openai"
        record[i["source"]] = "log"
        record[i["kind"]] = kind
        record[i["project_id"]] = self.project
        record[i["requests"]] = 1
        return record

    def record(self, line: str) -> Record | None:
        if not self.org or not line.startswith("{") or '_input_tokens"' in line:
            return None  # Anthropic-style usage keys (cache_read_/cache_creation_input_tokens): general path
        try:
            shape = _shape.decode(line)
            if shape.custom_id:  # the key alone marks a batch line, as on the general path
                batch = _batch_line.decode(line).response
                return self._build(batch.body, None, True) if batch.status_code in (None, 200) else None
            if not shape.response:
                return self._build(_bare.decode(line), None, False)
            if shape.object is not None:
                return None  # a body with a `response` field of its own: ambiguous
            return self._wrapped(_wrapped.decode(line))
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None

    def _wrapped(self, line: _Wrapped) -> Record | None:
        if line.org is not None and line.org != self.org:
            return None
        if not (_trimmed(line.project) and _trimmed(line.api_key_id) and _trimmed(line.user)):
            return None
        record = self._build(line.response, line.timestamp, False)
        if record is not None:
            i = _I
            if line.project:
                record[i["project_id"]] = line.project
            record[i["api_key_id"]] = line.api_key_id or ""
            record[i["user_id"]] = line.user or ""
        return record

    def _build(self, body: _Chat | _Response, timestamp: int | None, batch: bool) -> Record | None:
        if not body.id or not body.model or not _trimmed(body.id) or not _trimmed(body.model):
            return None
        if body.model.startswith("claude"):
            return None  # the general path reads a Claude model's response as Anthropic's
        if timestamp is None:
            if type(body) is _Chat:
                timestamp = body.created
            elif body.created:
                return None
            else:
                timestamp = body.created_at
            if timestamp is None:
                return None  # no time in the line: the general path applies --at or says it is missing
        usage = body.usage
        details: _PromptDetails | _InputDetails | None
        out: _CompletionDetails | _OutputDetails | None
        if type(usage) is _ChatUsage:  # (the usage of a _Chat)
            prompt = usage.prompt_tokens
            details, out = usage.prompt_tokens_details, usage.completion_tokens_details
            cached = (details.cached_tokens or 0) if details else 0
            tokens = (
                prompt,
                cached,
                0,
                0,
                usage.completion_tokens or 0,
                (out.reasoning_tokens or 0) if out else 0,
                (details.audio_tokens or 0) if details else 0,
                (out.audio_tokens or 0) if out else 0,
            )
        else:
            prompt = usage.input_tokens
            details, out = usage.input_tokens_details, usage.output_tokens_details
            cached = (details.cached_tokens or 0) if details else 0
            tokens = (prompt, cached, 0, 0, usage.output_tokens or 0, (out.reasoning_tokens or 0) if out else 0, 0, 0)
        if cached > prompt:
            return None
        tier = self.tiers.get(body.service_tier)
        if tier is None:
            if not _trimmed(body.service_tier):
                return None
            if len(self.tiers) > _MAX_CACHED:
                self.tiers.clear()
            tier = self.tiers[body.service_tier] = normalize_tier(body.service_tier)
        moment = self.times.get(timestamp)
        if moment is None:
            if len(self.times) > _MAX_CACHED:
                self.times.clear()
            moment = self.times[timestamp] = datetime.fromtimestamp(timestamp, UTC)
        thresholds = self.thresholds
        band = bisect_left(thresholds, prompt)  # thresholds[:band] are all below the prompt
        i = _I
        record = self.templates[_KINDS[type(body)]].copy()
        record[_AT] = tokens
        record[i["model"]] = body.model
        record[i["service_tier"]] = tier
        record[i["batch"]] = batch
        record[i["context_band"]] = thresholds[band - 1] if band else 0
        record[i["bucket_start"]] = moment
        record[i["request_id"]] = body.id
        return record
