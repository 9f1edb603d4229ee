"""Usage out of provider responses: a whole JSON body, or the events of an SSE stream as they pass.

Counting follows the request-log parsers (collectors.logs.formats), so a request seen by the gateway
and the same response ingested from a log give the same row.
"""

from __future__ import annotations

from typing import Any

import orjson

from collectors.logs.formats import Parsed, Reject, parse_anthropic, parse_openai


def from_body(provider: str, body: bytes) -> Parsed | None:
    """The usage of a non-streaming response body; None when it has none (or is not JSON)."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return from_payload(provider, payload)


def from_payload(provider: str, payload: object) -> Parsed | None:
    if not isinstance(payload, dict):
        return None
    try:
        return parse_anthropic(payload) if provider == "anthropic" else parse_openai(payload)
    except Reject:
        return None


class StreamScanner:
    """Reads SSE events as they pass and keeps what carries usage.

    OpenAI chat and legacy completions: the chunk with `usage` (asked for with
    stream_options.include_usage); `drop_usage_chunk` leaves it out of what the client gets when the
    gateway added the option itself. Responses: the `response.completed` (or incomplete/failed)
    event. Anthropic: `message_start` (id, model, input and cache tokens) updated by each
    `message_delta` (cumulative output tokens).
    """

    def __init__(self, provider: str, drop_usage_chunk: bool = False) -> None:
        self.provider = provider
        self.drop_usage_chunk = drop_usage_chunk
        self._buffer = b""
        self._message: dict[str, Any] | None = None  # Anthropic: the message_start message, updated
        self._openai: dict[str, Any] | None = None  # OpenAI: the payload whose usage counts

    def feed(self, chunk: bytes) -> bytes:
        """Bytes to pass on now: every complete event of what has arrived (a partial one waits)."""
        data = self._buffer + chunk
        end = data.rfind(b"\n\n")
        if end < 0:
            self._buffer = data
            return b""
        ready, self._buffer = data[: end + 2], data[end + 2 :]
        if self.provider == "anthropic":
            if b"message_start" in ready or b"message_delta" in ready:
                for event in ready.split(b"\n\n"):
                    self._anthropic_event(event)
            return ready
        if b'"usage"' not in ready:
            return ready
        out = []
        for event in ready.split(b"\n\n")[:-1]:
            if self._openai_event(event):
                out.append(event + b"\n\n")
        return b"".join(out)

    def tail(self) -> bytes:
        """What is left when the stream ends (an event without its blank line)."""
        rest, self._buffer = self._buffer, b""
        return rest

    def _data(self, event: bytes) -> Any:
        for line in event.split(b"\n"):
            if line.startswith(b"data:"):
                try:
                    return orjson.loads(line[5:].strip())
                except orjson.JSONDecodeError:
                    return None
        return None

    def _openai_event(self, event: bytes) -> bool:
        """Keep the usage this event carries; False when the client must not see it."""
        if b'"usage"' not in event:
            return True
        payload = self._data(event)
        if not isinstance(payload, dict):
            return True
        kind = payload.get("type")
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            response = payload.get("response")
            if isinstance(response, dict) and isinstance(response.get("usage"), dict):
                self._openai = response
            return True
        if isinstance(payload.get("usage"), dict):
            self._openai = payload
            return not (self.drop_usage_chunk and not payload.get("choices"))
        return True

    def _anthropic_event(self, event: bytes) -> None:
        if b"message_start" not in event and b"message_delta" not in event:
            return
        payload = self._data(event)
        if not isinstance(payload, dict):
            return
        if payload.get("type") == "message_start" and isinstance(payload.get("message"), dict):
            self._message = dict(payload["message"])
            self._message["usage"] = dict(self._message.get("usage") or {})
        elif payload.get("type") == "message_delta" and self._message is not None:
            usage = payload.get("usage")
            if isinstance(usage, dict):  # cumulative counts: the latest wins
                self._message["usage"].update({k: v for k, v in usage.items() if v is not None})

    def usage(self) -> Parsed | None:
        payload = self._message if self.provider == "anthropic" else self._openai
        return from_payload(self.provider, payload) if payload is not None else None
