"""Parsers for one request-log line or CSV row each: a usage record, or a Reject saying why not."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from collectors.logs.settings import CSV_COUNT_FIELDS, EARLIEST, LATEST, MAX_COUNT

# A parsed JSON object or CSV row: every field is checked as it is read.
JSONObject = Mapping[str, object]
# What a parser makes of a line: field -> value (str, int, bool, datetime), read by ingest._to_record.
Parsed = dict[str, Any]


class Reject(Exception):
    """This line cannot be ingested; `field` names the offending field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


# --- small typed getters ---------------------------------------------------------------------


def count(obj: JSONObject, key: str, where: str, required: bool = False) -> int:
    value = obj.get(key) if isinstance(obj, dict) else None
    if type(value) is int and 0 <= value <= MAX_COUNT:  # the common case, checked first: this runs per field per line
        return value
    if value is None:
        if required:
            raise Reject(where, f"missing {where}")
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise Reject(where, f"{where} must be a non-negative integer, got {value!r}")
    if value > MAX_COUNT:  # before int(): a float may be infinite
        raise Reject(where, f"{where} {value!r} is larger than {MAX_COUNT:,}: not a real count")
    if value < 0 or int(value) != value:
        raise Reject(where, f"{where} must be a non-negative integer, got {value!r}")
    return int(value)


def sub(obj: JSONObject, key: str) -> JSONObject:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}


def parse_time(value: object, field: str = "timestamp") -> datetime:
    """ISO 8601 (naive means UTC), or Unix seconds/milliseconds; between 1970 and 2200."""
    if isinstance(value, bool) or value is None or value == "":
        raise Reject(field, f"missing {field}")
    if isinstance(value, (int, float)) or (isinstance(value, str) and _is_number(value)):
        seconds = float(value)
        if seconds != seconds:
            raise Reject(field, f"{field} {value!r} is not a valid Unix time")
        if seconds > 1e11:  # milliseconds
            seconds /= 1000
        try:
            return _in_range(datetime.fromtimestamp(seconds, UTC), field, value)
        except (OverflowError, OSError, ValueError):
            raise Reject(field, f"{field} {value!r} is not a valid Unix time") from None
    if not isinstance(value, str):
        raise Reject(field, f"{field} must be a string or number, got {type(value).__name__}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)  # may overflow: year 1 at +14:00 is before year 1 in UTC
    except (ValueError, OverflowError):
        raise Reject(field, f"{field} {value!r} is not an ISO 8601 time") from None
    return _in_range(moment, field, value)


def _in_range(moment: datetime, field: str, value: object) -> datetime:
    # Far from both ends of what datetime holds, so every org's local day of it exists too.
    if not EARLIEST <= moment < LATEST:
        raise Reject(field, f"{field} {value!r} is outside {EARLIEST.year}-{LATEST.year}")
    return moment


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# Control characters (NUL above all: PostgreSQL refuses it in text) are never part of an id or a name.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def text_field(obj: JSONObject, key: str, max_length: int = 200) -> str:
    value = obj.get(key) if isinstance(obj, dict) else None
    if (
        type(value) is str
        and len(value) <= max_length
        and value.isprintable()  # (fast: no control characters, and more)
        and not value[-1:].isspace()
        and not value[:1].isspace()
    ):
        return value
    if value is None:
        return ""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise Reject(key, f"{key} must be a string, got {type(value).__name__}")
    return clean_text(str(value), key, max_length)


def clean_text(value: str, field: str, max_length: int = 200) -> str:
    """A text value stripped, at most `max_length` characters and free of control characters."""
    value = value.strip()
    if len(value) > max_length:
        raise Reject(field, f"{field} is longer than {max_length} characters")
    if CONTROL.search(value):
        raise Reject(field, f"{field} contains control characters")
    return value


# --- JSONL ----------------------------------------------------------------------------------

WRAPPER_KEYS = ("timestamp", "created_at", "org", "project", "api_key_id", "user")


def load_json_line(line: str) -> dict[str, object]:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise Reject("json", f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(obj, dict):
        raise Reject("json", f"expected a JSON object, got {type(obj).__name__}")
    return obj


def unwrap(obj: JSONObject) -> tuple[JSONObject, JSONObject]:
    """Split an attribution wrapper {"timestamp", "org", ..., "response": {...}} from its payload."""
    inner = obj.get("response")
    if isinstance(inner, dict) and "custom_id" not in obj and ("body" not in inner or "usage" in inner):
        wrapper = {k: obj[k] for k in WRAPPER_KEYS if k in obj}
        return wrapper, inner
    return {}, obj


def detect_provider(payload: JSONObject) -> str:
    """'anthropic' or 'openai', judging by the payload's shape."""
    if payload.get("type") == "message" or isinstance(payload.get("result"), dict):
        return "anthropic"
    usage = sub(payload, "usage")
    if "cache_creation_input_tokens" in usage or "cache_read_input_tokens" in usage:
        return "anthropic"
    if str(payload.get("model", "")).startswith("claude"):
        return "anthropic"
    return "openai"


def parse_openai(payload: JSONObject) -> Parsed:
    """A Chat Completions, Responses or Embeddings response, or a Batch API output line."""
    record: Parsed = {"provider": "openai"}
    body = payload
    if "custom_id" in payload:
        response = sub(payload, "response")
        status = response.get("status_code")
        if payload.get("error") or (status is not None and status != 200):
            raise Reject("response.status_code", f"batch request failed (status {status}); nothing was billed")
        body = sub(response, "body")
        if not body:
            raise Reject("response.body", "batch output line has no response.body")
        record["batch"] = True
        record["request_id"] = text_field(body, "id") or text_field(payload, "id")
    else:
        record["request_id"] = text_field(body, "id")
    usage = body.get("usage")
    if not isinstance(usage, dict):
        raise Reject("usage", "no usage object: not an API response with token usage")
    obj_type = body.get("object")
    record["model"] = text_field(body, "model")
    record["service_tier"] = text_field(body, "service_tier", 40)
    created = body.get("created") if "created" in body else body.get("created_at")
    if created is not None:
        record["timestamp"] = parse_time(created, "created")
    if "prompt_tokens" in usage and ("completion_tokens" in usage or obj_type != "list"):
        prompt = count(usage, "prompt_tokens", "usage.prompt_tokens", required=True)
        details = sub(usage, "prompt_tokens_details")
        out_details = sub(usage, "completion_tokens_details")
        record.update(
            kind="completions",
            input_tokens=prompt,
            cached_input_tokens=count(details, "cached_tokens", "usage.prompt_tokens_details.cached_tokens"),
            input_audio_tokens=count(details, "audio_tokens", "usage.prompt_tokens_details.audio_tokens"),
            output_tokens=count(usage, "completion_tokens", "usage.completion_tokens"),
            reasoning_tokens=count(out_details, "reasoning_tokens", "usage.completion_tokens_details.reasoning_tokens"),
            output_audio_tokens=count(out_details, "audio_tokens", "usage.completion_tokens_details.audio_tokens"),
        )
    elif "input_tokens" in usage:
        details = sub(usage, "input_tokens_details")
        out_details = sub(usage, "output_tokens_details")
        record.update(
            kind="responses",
            input_tokens=count(usage, "input_tokens", "usage.input_tokens", required=True),
            cached_input_tokens=count(details, "cached_tokens", "usage.input_tokens_details.cached_tokens"),
            output_tokens=count(usage, "output_tokens", "usage.output_tokens"),
            reasoning_tokens=count(out_details, "reasoning_tokens", "usage.output_tokens_details.reasoning_tokens"),
        )
    elif "prompt_tokens" in usage or obj_type == "list":
        record.update(kind="embeddings", input_tokens=count(usage, "prompt_tokens", "usage.prompt_tokens", True))
    else:
        raise Reject("usage", "usage has neither prompt_tokens nor input_tokens")
    if record.get("cached_input_tokens", 0) > record["input_tokens"]:
        raise Reject("usage", "cached tokens exceed prompt tokens")
    return record


def parse_anthropic(payload: JSONObject) -> Parsed:
    """A Messages response, or a Message Batches result line."""
    record: Parsed = {"provider": "anthropic"}
    message = payload
    result = payload.get("result")
    if isinstance(result, dict):
        if result.get("type") != "succeeded":
            raise Reject("result.type", f"batch result {result.get('type')!r}; only succeeded requests are billed")
        message = sub(result, "message")
        if not message:
            raise Reject("result.message", "batch result has no message")
        record["batch"] = True
    usage = message.get("usage")
    if not isinstance(usage, dict):
        raise Reject("usage", "no usage object: not a Messages response")
    uncached = count(usage, "input_tokens", "usage.input_tokens", required=True)
    cache_read = count(usage, "cache_read_input_tokens", "usage.cache_read_input_tokens")
    creation = sub(usage, "cache_creation")
    write_5m = count(creation, "ephemeral_5m_input_tokens", "usage.cache_creation.ephemeral_5m_input_tokens")
    write_1h = count(creation, "ephemeral_1h_input_tokens", "usage.cache_creation.ephemeral_1h_input_tokens")
    write_total = count(usage, "cache_creation_input_tokens", "usage.cache_creation_input_tokens")
    cache_write = max(write_total, write_5m + write_1h)
    tier = text_field(usage, "service_tier", 40)
    if tier == "batch":
        record["batch"], tier = True, ""
    record.update(
        kind="messages",
        request_id=text_field(message, "id"),
        model=text_field(message, "model"),
        service_tier=tier,
        input_tokens=uncached + cache_read + cache_write,  # OpenAI's convention: every prompt token
        cached_input_tokens=cache_read,
        cache_write_tokens=cache_write,
        cache_write_1h_tokens=write_1h,
        output_tokens=count(usage, "output_tokens", "usage.output_tokens"),
        web_search_calls=count(
            sub(usage, "server_tool_use"), "web_search_requests", "usage.server_tool_use.web_search_requests"
        ),
    )
    return record


def apply_wrapper(record: Parsed, wrapper: JSONObject) -> None:
    if not wrapper:
        return
    for key, target in (("org", "org"), ("project", "project"), ("api_key_id", "api_key_id"), ("user", "user")):
        value = text_field(wrapper, key)
        if value:
            record[target] = value
    for key in ("timestamp", "created_at"):
        if wrapper.get(key) is not None:
            record["timestamp"] = parse_time(wrapper[key], key)
            break


# --- CSV ------------------------------------------------------------------------------------


def parse_csv_row(row: Mapping[str, str | None], mapping: dict[str, str]) -> Parsed:
    """A generic CSV row, read through the FIELD -> column mapping."""
    record: Parsed = {"kind": "completions", "requests": 1}
    for field, column in mapping.items():
        raw = row.get(column)
        value = raw.strip() if isinstance(raw, str) else raw
        if value in (None, ""):
            continue
        if field in CSV_COUNT_FIELDS:
            record[field] = _csv_int(value, column)
        elif field == "timestamp":
            record["timestamp"] = parse_time(value, column)
        elif field == "batch":
            record["batch"] = value.lower() in ("1", "true", "yes", "batch")
        else:
            record[field] = clean_text(value, column)
    if "input_tokens" not in record and "output_tokens" not in record:
        raise Reject("input_tokens", "row has no token counts")
    return record


def _csv_int(value: str, column: str) -> int:
    """A count cell: a whole number (`12`, `12.0`, `1.2e3`), never NaN, infinite or beyond MAX_COUNT."""
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise Reject(column, f"{column} must be a non-negative integer, got {value[:40]!r}") from None
    if not number.is_finite() or number < 0 or number != number.to_integral_value():
        raise Reject(column, f"{column} must be a non-negative integer, got {value[:40]!r}")
    if number > MAX_COUNT:
        raise Reject(column, f"{column} {value[:40]!r} is larger than {MAX_COUNT:,}: not a real count")
    return int(number)


def parse_litellm_row(row: Mapping[str, str | None]) -> Parsed:
    """A row of LiteLLM's spend-log export (LiteLLM_SpendLogs columns)."""
    model = (row.get("model") or "").strip()
    provider = (row.get("custom_llm_provider") or "").strip().lower()
    if "/" in model:
        prefix, rest = model.split("/", 1)
        provider = provider or prefix.lower()
        model = rest
    record: Parsed = {
        "kind": (row.get("call_type") or "completions").strip() or "completions",
        "request_id": (row.get("request_id") or "").strip(),
        "model": model,
        "provider": provider,
        "requests": 1,
        "user": (row.get("end_user") or row.get("user") or "").strip(),
    }
    record["timestamp"] = parse_time((row.get("startTime") or "").strip(), "startTime")
    cache_hit = (row.get("cache_hit") or "").strip().lower() in ("true", "1", "yes")
    if not cache_hit:  # a LiteLLM cache hit never reached the provider: nothing was billed
        record["input_tokens"] = _csv_int((row.get("prompt_tokens") or "0").strip() or "0", "prompt_tokens")
        record["output_tokens"] = _csv_int((row.get("completion_tokens") or "0").strip() or "0", "completion_tokens")
    api_key = (row.get("api_key") or "").strip()
    if api_key:
        record["api_key_id"] = "litellm:" + api_key[:16]  # LiteLLM stores a hash of the key, never the key
    metadata = row.get("metadata") or ""
    project = ""
    if metadata.strip().startswith("{"):
        try:
            meta = json.loads(metadata)
        except json.JSONDecodeError:
            meta = {}
        if isinstance(meta, dict):
            project = str(meta.get("project_id") or meta.get("user_api_key_team_alias") or "")
    record["project"] = project or (row.get("team_id") or "").strip()
    return record
