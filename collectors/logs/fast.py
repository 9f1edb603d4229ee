"""The ingest fast path: well-formed lines of every kind decoded straight into usage records.

msgspec decodes and validates a line against a typed schema in C, several times faster than
decoding to dicts and checking fields in Python. Every kind the general path reads is handled here:
Chat Completions, Responses and Embeddings objects and Anthropic Messages responses, bare or inside
an attribution wrapper ({"timestamp" or "created_at" as Unix seconds or ISO 8601, "org", "project",
"user", "api_key_id", "response": {...}}), and Batch API output lines, bare or wrapped. Anything
unusual, including every line with a problem, is declined and takes the general path in formats.py,
which gives the same record or says precisely what is wrong: the fast path never quarantines, so
both paths quarantine the same lines for the same reasons (tests/collectors/test_ingest_fast.py
holds the two paths to the same rows and quarantine entries).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from datetime import UTC, datetime
from typing import Annotated, final

import msgspec

from collectors.base import COL, Record, blank_record
from collectors.logs.formats import Reject, parse_time
from collectors.logs.settings import LATEST, MAX_COUNT
from models.access.orgs import validate_org_id
from models.pricing.catalog import Catalog, normalize_tier
from models.validation import ValidationError

Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]  # beyond: the general path says why not
# From 1970 to 2199 (collectors.logs.settings.LATEST); anything else is the general path's to judge.
Seconds = Annotated[int, msgspec.Meta(ge=0, le=int(LATEST.timestamp()) - 1)]
Text = Annotated[str, msgspec.Meta(max_length=200)]
Tier = Annotated[str, msgspec.Meta(max_length=40)]

_ABSENT = msgspec.Raw(b"")


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
    # Either key makes the general path read the line as Anthropic's: declined.
    cache_read_input_tokens: msgspec.Raw = _ABSENT
    cache_creation_input_tokens: msgspec.Raw = _ABSENT


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
    prompt_tokens: msgspec.Raw = _ABSENT  # the general path would read Chat Completions counts: declined
    cache_read_input_tokens: msgspec.Raw = _ABSENT
    cache_creation_input_tokens: msgspec.Raw = _ABSENT


class _EmbeddingUsage(msgspec.Struct):
    prompt_tokens: Count
    completion_tokens: msgspec.Raw = _ABSENT  # with either, the general path reads another kind: declined
    input_tokens: msgspec.Raw = _ABSENT
    cache_read_input_tokens: msgspec.Raw = _ABSENT
    cache_creation_input_tokens: msgspec.Raw = _ABSENT


@final
class _Chat(msgspec.Struct, tag_field="object", tag="chat.completion"):
    id: Text
    model: Text
    usage: _ChatUsage
    created: Seconds | None = None
    service_tier: Tier | None = None
    created_at: msgspec.Raw = _ABSENT  # read by the general path when `created` is absent: declined then


@final
class _Response(msgspec.Struct, tag_field="object", tag="response"):
    id: Text
    model: Text
    usage: _ResponseUsage
    created_at: Seconds | None = None
    service_tier: Tier | None = None
    created: msgspec.Raw = _ABSENT  # the general path would read this one first: declined


@final
class _Embedding(msgspec.Struct, tag_field="object", tag="list"):
    """An Embeddings response: no id (the general path makes one from the line) and no time of its own."""

    model: Text
    usage: _EmbeddingUsage
    id: Text = ""
    service_tier: Tier | None = None
    created: msgspec.Raw = _ABSENT  # unusual: the general path's to judge
    created_at: msgspec.Raw = _ABSENT


Body = _Chat | _Response | _Embedding


class _CacheCreation(msgspec.Struct):
    ephemeral_5m_input_tokens: Count | None = None
    ephemeral_1h_input_tokens: Count | None = None


class _ServerTools(msgspec.Struct):
    web_search_requests: Count | None = None


class _MessageUsage(msgspec.Struct):
    input_tokens: Count
    output_tokens: Count | None = None
    cache_read_input_tokens: Count | None = None
    cache_creation_input_tokens: Count | None = None
    cache_creation: _CacheCreation | None = None
    server_tool_use: _ServerTools | None = None
    service_tier: Tier | None = None


@final
class _Message(msgspec.Struct):
    """An Anthropic Messages response (`"type": "message"`); it carries no time of its own."""

    model: Text
    usage: _MessageUsage
    id: Text = ""


class _BatchResponse(msgspec.Struct):
    body: Body
    status_code: int | None = None


class _BatchLine(msgspec.Struct):
    """A Batch API output line; any `error` but null is a failed request, for the general path."""

    response: _BatchResponse
    error: None = None
    model: msgspec.Raw = _ABSENT  # top-level keys the general path would judge the provider by: declined
    usage: msgspec.Raw = _ABSENT


class _Shape(msgspec.Struct):
    """Just enough to tell the shapes apart (nested values are skipped, not decoded), and an
    attribution wrapper's own fields, so a wrapped line's outer object is decoded once."""

    object: str | None = None
    type: str | None = None
    response: msgspec.Raw = _ABSENT
    custom_id: msgspec.Raw = _ABSENT
    result: msgspec.Raw = _ABSENT
    body: msgspec.Raw = _ABSENT
    usage: msgspec.Raw = _ABSENT
    # An attribution wrapper's fields (the payload is `response`); on any other line they are
    # absent, and a value of another type declines the line, which is always safe.
    timestamp: Seconds | str | None = None
    created_at: Seconds | str | None = None
    org: Text | None = None
    project: Text | None = None
    api_key_id: Text | None = None
    user: Text | None = None


_shape = msgspec.json.Decoder(_Shape)
_bare = msgspec.json.Decoder(Body)
_message = msgspec.json.Decoder(_Message)
_batch_line = msgspec.json.Decoder(_BatchLine)
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
(_ORG, _PROVIDER, _SOURCE, _KIND, _PROJECT, _KEY, _USER, _MODEL, _TIER, _BATCH, _BAND, _START, _REQUEST) = (
    COL[name]
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
    )
)
_REQUESTS, _WEB_SEARCH = COL["requests"], COL["web_search_calls"]
_KINDS = {_Chat: "completions", _Response: "responses", _Embedding: "embeddings"}
_MAX_CACHED = 100_000


def _trimmed(text: str | None) -> bool:
    """Empty, or printable (no control characters) with no space at either end: as the general path keeps it.

    The only character both printable and whitespace is the ASCII space (str.isprintable counts
    every other separator as unprintable), so the ends are compared with it alone.
    """
    return not text or (text.isprintable() and text[0] != " " and text[-1] != " ")


class FastPath:
    """Builds records for one ingest's defaults; `record(line, number)` is a usage record or None.

    `provider` is the file's declared format ("openai", "anthropic") or None for either: a line of the
    other provider is the general path's to refuse.
    """

    def __init__(self, org: str | None, project: str | None, catalog: Catalog, provider: str | None = None) -> None:
        self.org, self.project = org, project or ""
        self.openai, self.anthropic = provider in (None, "openai"), provider in (None, "anthropic")
        self.thresholds = catalog.thresholds
        self.tiers: dict[str | None, str] = {}
        self.times: dict[int | str, datetime] = {}  # log lines arrive many to a second
        self.models: set[str] = set()  # model names already checked
        # Wrappers' (org, project, api_key_id, user) already checked: a log repeats a few of them.
        self.attributions: set[tuple[str | None, ...]] = set()
        self.templates = {
            ("openai", kind): self._template("openai", kind) for kind in ("completions", "responses", "embeddings")
        }
        self.templates["anthropic", "messages"] = self._template("anthropic", "messages")

    def _template(self, provider: str, kind: str) -> Record:
        record = blank_record()
        record[_ORG] = self.org
        record[_PROVIDER] = provider
        record[_SOURCE] = "log"
        record[_KIND] = kind
        record[_PROJECT] = self.project
        record[_REQUESTS] = 1
        return record

    def record(self, line: str, number: int = 0) -> Record | None:
        """`number` is the line's number: a line without an id is named by its content and number."""
        if not line.startswith("{"):
            return None
        try:
            shape = _shape.decode(line)
            if shape.response and not shape.custom_id:  # an attribution wrapper, as formats.unwrap reads it
                if shape.object is not None or shape.type is not None or shape.result:
                    return None  # a body with a `response` field of its own: ambiguous
                inner = _shape.decode(shape.response)
                if inner.body and not inner.usage:
                    return None  # not a wrapper to the general path, which then finds no usage
                return self._payload(shape.response, inner, shape, line, number)
            return self._payload(line, shape, None, line, number)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None

    def _payload(
        self, text: str | msgspec.Raw, shape: _Shape, wrapper: _Shape | None, line: str, number: int
    ) -> Record | None:
        if shape.result:
            return None  # an Anthropic batch result: the general path's
        if shape.type is not None:
            if shape.type != "message" or not self.anthropic:
                return None
            return self._message(_message.decode(text), wrapper, line, number)
        if not self.openai:
            return None
        if shape.custom_id:  # the key alone marks a batch line, as on the general path
            batch = _batch_line.decode(text)
            if batch.response.status_code not in (None, 200) or batch.model or batch.usage:
                return None
            if not batch.response.body.id:
                return None  # the general path would take the batch line's own id
            return self._openai(batch.response.body, wrapper, True, line, number)
        return self._openai(_bare.decode(text), wrapper, False, line, number)

    def _openai(
        self, body: _Chat | _Response | _Embedding, wrapper: _Shape | None, batch: bool, line: str, number: int
    ) -> Record | None:
        if body.model.startswith("claude"):
            return None  # the general path reads a Claude model's response as Anthropic's
        tokens: tuple[int, ...]
        usage: _ChatUsage | _ResponseUsage | _EmbeddingUsage
        if type(body) is _Chat:
            timestamp = body.created
            if timestamp is None and body.created_at:
                return None
            usage, prompt = body.usage, body.usage.prompt_tokens
            details, out = body.usage.prompt_tokens_details, body.usage.completion_tokens_details
            cached = (details.cached_tokens or 0) if details else 0
            tokens = (
                prompt,
                cached,
                0,
                0,
                body.usage.completion_tokens or 0,
                (out.reasoning_tokens or 0) if out else 0,
                (details.audio_tokens or 0) if details else 0,
                (out.audio_tokens or 0) if out else 0,
            )
        elif type(body) is _Response:
            if body.created or body.usage.prompt_tokens:
                return None
            timestamp = body.created_at
            usage, prompt = body.usage, body.usage.input_tokens
            idetails, odetails = body.usage.input_tokens_details, body.usage.output_tokens_details
            cached = (idetails.cached_tokens or 0) if idetails else 0
            tokens = (
                prompt,
                cached,
                0,
                0,
                body.usage.output_tokens or 0,
                (odetails.reasoning_tokens or 0) if odetails else 0,
                0,
                0,
            )
        else:
            embedding = body.usage
            if embedding.completion_tokens or embedding.input_tokens or body.created or body.created_at:
                return None
            usage, prompt, cached, timestamp = embedding, embedding.prompt_tokens, 0, None
            tokens = (prompt, 0, 0, 0, 0, 0, 0, 0)
        if cached > prompt:
            return None
        if usage.cache_read_input_tokens or usage.cache_creation_input_tokens:
            return None
        record = self._finish(
            ("openai", _KINDS[type(body)]), body.id, body.model, body.service_tier, timestamp, wrapper, line, number
        )
        if record is not None:
            record[_AT] = tokens
            record[_BATCH] = batch
            record[_BAND] = self._band(prompt)
        return record

    def _message(self, message: _Message, wrapper: _Shape | None, line: str, number: int) -> Record | None:
        usage = message.usage
        creation = usage.cache_creation
        write_5m = (creation.ephemeral_5m_input_tokens or 0) if creation else 0
        write_1h = (creation.ephemeral_1h_input_tokens or 0) if creation else 0
        cache_read = usage.cache_read_input_tokens or 0
        cache_write = max(usage.cache_creation_input_tokens or 0, write_5m + write_1h)
        prompt = usage.input_tokens + cache_read + cache_write  # OpenAI's convention: every prompt token
        batch = usage.service_tier == "batch"
        record = self._finish(
            ("anthropic", "messages"),
            message.id,
            message.model,
            "" if batch else usage.service_tier,
            None,
            wrapper,
            line,
            number,
        )
        if record is not None:
            record[_AT] = (prompt, cache_read, cache_write, write_1h, usage.output_tokens or 0, 0, 0, 0)
            record[_BATCH] = batch
            record[_BAND] = self._band(prompt)
            tools = usage.server_tool_use
            record[_WEB_SEARCH] = (tools.web_search_requests or 0) if tools else 0
        return record

    def _band(self, prompt: int) -> int:
        thresholds = self.thresholds
        band = bisect_left(thresholds, prompt)  # thresholds[:band] are all below the prompt
        return thresholds[band - 1] if band else 0

    def _finish(
        self,
        template: tuple[str, str],
        request_id: str,
        model: str,
        service_tier: str | None,
        timestamp: int | str | None,
        wrapper: _Shape | None,
        line: str,
        number: int,
    ) -> Record | None:
        """The record's attribution, time, model, tier and id, or None where the general path must judge."""
        if model not in self.models:
            if not model or not _trimmed(model):
                return None
            if len(self.models) > _MAX_CACHED:
                self.models.clear()
            self.models.add(model)
        if request_id and not _trimmed(request_id):
            return None
        org = self.org
        if wrapper is not None:
            attribution = (wrapper.org, wrapper.project, wrapper.api_key_id, wrapper.user)
            if attribution not in self.attributions:
                if not all(_trimmed(text) for text in attribution):
                    return None
                if wrapper.org:
                    try:
                        validate_org_id(wrapper.org)
                    except ValidationError:
                        return None
                if len(self.attributions) > _MAX_CACHED:
                    self.attributions.clear()
                self.attributions.add(attribution)
            if wrapper.org:
                org = wrapper.org
            # The wrapper's own time wins over the body's, as in formats.apply_wrapper.
            wrapped = wrapper.timestamp if wrapper.timestamp is not None else wrapper.created_at
            if wrapped is not None:
                timestamp = wrapped
        if not org or timestamp is None:
            return None  # no org, no time: the general path applies the defaults or says what is missing
        moment = self.times.get(timestamp)
        if moment is None:
            if isinstance(timestamp, str):
                try:
                    moment = parse_time(timestamp)
                except Reject:
                    return None
            else:
                moment = datetime.fromtimestamp(timestamp, UTC)
            if len(self.times) > _MAX_CACHED:
                self.times.clear()
            self.times[timestamp] = moment
        tier = self.tiers.get(service_tier)
        if tier is None:
            if not _trimmed(service_tier):
                return None
            if len(self.tiers) > _MAX_CACHED:
                self.tiers.clear()
            tier = self.tiers[service_tier] = normalize_tier(service_tier)
        if not request_id:
            # As ingest._to_record names a line without an id: its content and line number.
            digest = hashlib.sha1(line.rstrip("\r\n").encode("utf-8", "replace")).hexdigest()[:20]
            request_id = f"line:{digest}:{number}"
        record = self.templates[template].copy()
        record[_ORG] = org
        record[_MODEL] = model
        record[_TIER] = tier
        record[_START] = moment
        record[_REQUEST] = request_id
        if wrapper is not None:
            if wrapper.project:
                record[_PROJECT] = wrapper.project
            record[_KEY] = wrapper.api_key_id or ""
            record[_USER] = wrapper.user or ""
        return record
