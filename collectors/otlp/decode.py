"""An OTLP/HTTP traces body into an ExportTraceServiceRequest: content type, gzip and size limits.

Decoding uses the spec's own generated messages (opentelemetry-proto) and protobuf's json_format;
the only hand-written step is OTLP/JSON's one deviation from the protobuf JSON mapping, hex trace
and span ids where json_format expects base64.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# application/protobuf is the registered name some clients send for the same encoding.
ENCODINGS = {PROTOBUF: PROTOBUF, "application/protobuf": PROTOBUF, JSON: JSON}


class BodyError(Exception):
    """The request cannot be decoded: `status` is the HTTP answer (400, 413, 415), the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def encoding_of(content_type: str | None) -> str:
    """PROTOBUF or JSON for a Content-Type header; BodyError(415) for anything else."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    found = ENCODINGS.get(media)
    if found is None:
        raise BodyError(415, f"unsupported Content-Type {media or '(none)'!r}: send {PROTOBUF} or {JSON}")
    return found


def check_coding(content_encoding: str | None) -> bool:
    """True when the body is gzip; BodyError(415) for a coding other than gzip or identity."""
    coding = (content_encoding or "").strip().lower()
    if coding in ("", "identity"):
        return False
    if coding == "gzip":
        return True
    raise BodyError(415, f"unsupported Content-Encoding {coding!r}: send gzip or none")


def gunzip(body: bytes, limit: int) -> bytes:
    """Inflate at most `limit` bytes: a small body that inflates past it (a gzip bomb) is refused
    without ever holding more than the limit in memory."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BodyError(400, f"body is not valid gzip: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise BodyError(413, f"body is larger than {limit} bytes once decompressed")
    if not inflater.eof:
        raise BodyError(400, "body is truncated gzip")
    return out


def decode(body: bytes, encoding: str) -> ExportTraceServiceRequest:
    """Parse a (decompressed) body; BodyError(400) when it is not a valid request."""
    request = ExportTraceServiceRequest()
    if encoding == PROTOBUF:
        try:
            request.ParseFromString(body)
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise BodyError(400, f"body is not a valid ExportTraceServiceRequest: {exc}") from None
        return request
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise BodyError(400, "body must be a JSON object (an ExportTraceServiceRequest)")
    try:
        _hex_ids_to_base64(obj)
        json_format.ParseDict(obj, request, ignore_unknown_fields=True)  # unknown fields: ignored, per spec
    except (json_format.ParseError, ValueError, TypeError, AttributeError) as exc:
        raise BodyError(400, f"body is not a valid OTLP/JSON ExportTraceServiceRequest: {exc}") from None
    return request


_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _hex_ids_to_base64(obj: dict[str, Any]) -> None:
    """OTLP/JSON spells trace and span ids in hex; json_format reads bytes as base64. Rewritten in place."""
    for resource_spans in _list(obj, "resourceSpans"):
        for scope_spans in _list(resource_spans, "scopeSpans"):
            for span in _list(scope_spans, "spans"):
                _convert(span)
                for link in _list(span, "links"):
                    _convert(link)


def _list(obj: object, key: str) -> list[Any]:
    value = obj.get(key) if isinstance(obj, dict) else None
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{key} must be a list")
    return value


def _convert(obj: object) -> None:
    if not isinstance(obj, dict):
        raise ValueError("a span or link must be a JSON object")
    for key in _ID_FIELDS:
        value = obj.get(key)
        if isinstance(value, str) and value:
            try:
                obj[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
            except ValueError:
                raise ValueError(f"{key} {value[:40]!r} is not hex") from None


def to_json(message: Any) -> bytes:
    """A response message as OTLP/JSON (lowerCamelCase keys; responses carry no ids to re-spell)."""
    return json_format.MessageToJson(message, indent=None).encode("utf-8")


__all__ = ["BodyError", "JSON", "PROTOBUF", "check_coding", "decode", "encoding_of", "gunzip", "to_json"]
