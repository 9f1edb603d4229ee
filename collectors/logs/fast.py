"""The ingest fast path: well-formed, bare OpenAI responses decoded straight into usage records.

msgspec decodes and validates a line against a typed schema in C, several times faster than
decoding to dicts and checking fields in Python. Only the common, unambiguous shapes are handled
here (a Chat Completions or Responses object with an id, a model and a creation time, no wrapper);
anything else, including every line with a problem, takes the general path in formats.py, which
gives the same record or says precisely what is wrong.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import msgspec

from collectors.base import COL, blank_record
from models.prices import normalize_tier

Count = Annotated[int, msgspec.Meta(ge=0)]
Text = Annotated[str, msgspec.Meta(max_length=200)]


class _PromptDetails(msgspec.Struct):
    cached_tokens: Count | None = None
    audio_tokens: Count | None = None


class _CompletionDetails(msgspec.Struct):
    reasoning_tokens: Count | None = None
    audio_tokens: Count | None = None


class _ChatUsage(msgspec.Struct):
    prompt_tokens: Count
    completion_tokens: Count | None = None
    prompt_tokens_details: _PromptDetails | None = None
    completion_tokens_details: _CompletionDetails | None = None


class _InputDetails(msgspec.Struct):
    cached_tokens: Count | None = None


class _OutputDetails(msgspec.Struct):
    reasoning_tokens: Count | None = None


class _ResponseUsage(msgspec.Struct):
    input_tokens: Count
    output_tokens: Count | None = None
    input_tokens_details: _InputDetails | None = None
    output_tokens_details: _OutputDetails | None = None


class _Shape(msgspec.Struct):
    """Just enough to pick a schema; everything else about the line is ignored here."""

    object: str = ""


class _Chat(msgspec.Struct):
    id: Text
    model: Text
    created: Count
    usage: _ChatUsage
    service_tier: Annotated[str, msgspec.Meta(max_length=40)] | None = None


class _Response(msgspec.Struct):
    id: Text
    model: Text
    created_at: Count
    usage: _ResponseUsage
    service_tier: Annotated[str, msgspec.Meta(max_length=40)] | None = None


_shape = msgspec.json.Decoder(_Shape)
_chat = msgspec.json.Decoder(_Chat)
_response = msgspec.json.Decoder(_Response)
_I = {name: COL[name] for name in (
    "org_id", "provider", "source", "kind", "project_id", "model", "service_tier", "context_band",
    "bucket_start", "request_id", "requests", "input_tokens", "cached_input_tokens", "input_audio_tokens",
    "output_tokens", "reasoning_tokens", "output_audio_tokens",
)}


class FastPath:
    """Builds records for one ingest's defaults; `record(line)` is a usage record or None."""

    def __init__(self, org: str | None, project: str | None, catalog):
        self.org, self.project, self.catalog = org, project or "", catalog

    def record(self, line: str) -> list | None:
        if not self.org or not line.startswith("{") or "_input_tokens\"" in line:
            return None  # Anthropic-style usage keys (cache_read_/cache_creation_input_tokens): general path
        try:
            kind = _shape.decode(line).object
            if kind == "chat.completion":
                return self._chat(_chat.decode(line))
            if kind == "response":
                return self._response(_response.decode(line))
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
        return None

    def _base(self, obj, created: int, prompt: int) -> list | None:
        if not obj.id or not obj.model or obj.id != obj.id.strip() or obj.model != obj.model.strip():
            return None
        if obj.model.startswith("claude"):
            return None  # the general path reads a Claude model's response as Anthropic's
        tier = obj.service_tier
        if tier is not None and tier != tier.strip():
            return None
        i = _I
        record = blank_record()
        record[i["org_id"]] = self.org
        record[i["provider"]] = "openai"
        record[i["source"]] = "log"
        record[i["project_id"]] = self.project
        record[i["model"]] = obj.model
        record[i["service_tier"]] = normalize_tier(tier)
        record[i["context_band"]] = self.catalog.band(prompt)
        record[i["bucket_start"]] = datetime.fromtimestamp(created, UTC)
        record[i["request_id"]] = obj.id
        record[i["requests"]] = 1
        record[i["input_tokens"]] = prompt
        return record

    def _chat(self, obj: _Chat) -> list | None:
        usage = obj.usage
        details = usage.prompt_tokens_details
        out = usage.completion_tokens_details
        cached = (details.cached_tokens or 0) if details else 0
        if cached > usage.prompt_tokens:
            return None
        record = self._base(obj, obj.created, usage.prompt_tokens)
        if record is None:
            return None
        i = _I
        record[i["kind"]] = "completions"
        record[i["cached_input_tokens"]] = cached
        record[i["input_audio_tokens"]] = (details.audio_tokens or 0) if details else 0
        record[i["output_tokens"]] = usage.completion_tokens or 0
        record[i["reasoning_tokens"]] = (out.reasoning_tokens or 0) if out else 0
        record[i["output_audio_tokens"]] = (out.audio_tokens or 0) if out else 0
        return record

    def _response(self, obj: _Response) -> list | None:
        usage = obj.usage
        details = usage.input_tokens_details
        out = usage.output_tokens_details
        cached = (details.cached_tokens or 0) if details else 0
        if cached > usage.input_tokens:
            return None
        record = self._base(obj, obj.created_at, usage.input_tokens)
        if record is None:
            return None
        i = _I
        record[i["kind"]] = "responses"
        record[i["cached_input_tokens"]] = cached
        record[i["output_tokens"]] = usage.output_tokens or 0
        record[i["reasoning_tokens"]] = (out.reasoning_tokens or 0) if out else 0
        return record
