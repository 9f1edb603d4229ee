"""OpenAI usage and cost collector: every /organization/usage/* endpoint and /organization/costs."""

from __future__ import annotations

from collections.abc import Mapping

from collectors.base import RowDict
from collectors.openai import client
from collectors.openai.settings import (
    COSTS_GROUP_BY,
    COSTS_LIMITS,
    COSTS_PATH,
    USAGE_GROUP_BY,
    USAGE_LIMITS,
    USAGE_PATH,
)
from collectors.parse import JSONObject, amount, billed, count, flag, name, usage
from collectors.runner import Endpoint, Parse, ProviderSpec
from models.pricing.catalog import normalize_tier
from models.units import DAY, HOUR

__all__ = ["SPEC"]


def _dims(result: JSONObject) -> dict[str, str]:
    return {
        "project_id": name(result, "project_id"),
        "user_id": name(result, "user_id"),
        "api_key_id": name(result, "api_key_id"),
        "model": name(result, "model"),
    }


def parse_completions(result: JSONObject, context: Mapping[str, object]) -> RowDict:
    return usage(
        context,
        **_dims(result),
        batch=flag(result, "batch"),
        service_tier=normalize_tier(name(result, "service_tier", 40)),
        requests=count(result, "num_model_requests", required=True),
        input_tokens=count(result, "input_tokens", required=True),  # already includes cached and cache writes
        cached_input_tokens=count(result, "input_cached_tokens"),
        cache_write_tokens=count(result, "input_cache_write_tokens"),
        output_tokens=count(result, "output_tokens", required=True),
        input_audio_tokens=count(result, "input_audio_tokens"),
        output_audio_tokens=count(result, "output_audio_tokens"),
    )


def _requests_and(counter: str, field: str) -> Parse:
    def parse(result: JSONObject, context: Mapping[str, object]) -> RowDict:
        return usage(
            context,
            **_dims(result),
            requests=count(result, "num_model_requests", required=True),
            **{counter: count(result, field, required=True)},
        )

    return parse


def parse_vector_stores(result: JSONObject, context: Mapping[str, object]) -> None:
    count(result, "usage_bytes", required=True)  # validated; storage has no usage counter (billed via costs)
    return None


def parse_code_interpreter(result: JSONObject, context: Mapping[str, object]) -> RowDict:
    return usage(
        context,
        project_id=name(result, "project_id"),
        code_interpreter_sessions=count(result, "num_sessions", required=True),
    )


def parse_web_search(result: JSONObject, context: Mapping[str, object]) -> RowDict:
    # num_model_requests are completions requests, already counted there: only the calls count here.
    return usage(context, **_dims(result), web_search_calls=count(result, "num_requests", required=True))


def parse_file_search(result: JSONObject, context: Mapping[str, object]) -> RowDict:
    return usage(
        context,
        project_id=name(result, "project_id"),
        user_id=name(result, "user_id"),
        api_key_id=name(result, "api_key_id"),
        file_search_calls=count(result, "num_requests", required=True),
    )


def parse_cost(result: JSONObject, context: Mapping[str, object]) -> RowDict | None:
    money = result.get("amount")
    if not isinstance(money, dict):
        raise ValueError(f"amount must be an object with value and currency, got {money!r}")
    value = amount(money.get("value"), "amount.value")
    return billed(
        context,
        project_id=name(result, "project_id"),
        line_item=name(result, "line_item", 300),
        amount=value,
        currency=(name(money, "currency", 3) or "usd").upper(),
    )


PARSERS = {
    "completions": parse_completions,
    "embeddings": _requests_and("input_tokens", "input_tokens"),
    "moderations": _requests_and("input_tokens", "input_tokens"),
    "images": _requests_and("images", "images"),
    "audio_speeches": _requests_and("audio_characters", "characters"),
    "audio_transcriptions": _requests_and("audio_seconds", "seconds"),
    "vector_stores": parse_vector_stores,
    "code_interpreter_sessions": parse_code_interpreter,
    "web_search_calls": parse_web_search,
    "file_search_calls": parse_file_search,
}

SPEC = ProviderSpec(
    name="openai",
    headers=client.headers,
    pages=client.pages,
    endpoints=tuple(
        Endpoint(
            kind,
            USAGE_PATH.format(kind=kind),
            (HOUR, DAY),
            USAGE_LIMITS,
            client.query(group_by),
            client.bucket_start,
            PARSERS[kind],
        )
        for kind, group_by in USAGE_GROUP_BY.items()
    )
    + (
        Endpoint(
            "costs",
            COSTS_PATH,
            (DAY,),
            COSTS_LIMITS,
            client.query(COSTS_GROUP_BY),
            client.bucket_start,
            parse_cost,
            billed=True,
        ),
    ),
)
