"""Anthropic usage and cost collector: usage_report/messages and cost_report."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from collectors.anthropic import client
from collectors.anthropic.settings import (
    CONTEXT_BANDS,
    COSTS_GROUP_BY,
    COSTS_LIMITS,
    COSTS_PATH,
    USAGE_GROUP_BY,
    USAGE_KIND,
    USAGE_LIMITS,
    USAGE_PATH,
)
from collectors.base import RowDict
from collectors.parse import JSONObject, amount, billed, count, name, usage
from collectors.runner import Endpoint, ProviderSpec
from models.pricing.catalog import normalize_tier
from models.units import DAY, HOUR

__all__ = ["SPEC"]
CENT = Decimal("0.01")


def _tier(result: JSONObject) -> tuple[str, bool]:
    """(service_tier, batch): the batch tier is our batch flag on the standard tier."""
    tier = normalize_tier(name(result, "service_tier", 40))
    return ("", True) if tier == "batch" else (tier, False)


def parse_messages(result: JSONObject, context: Mapping[str, object]) -> RowDict:
    creation = result.get("cache_creation") or {}
    if not isinstance(creation, dict):
        raise ValueError(f"cache_creation must be an object keyed by TTL, got {creation!r}")
    tools = result.get("server_tool_use") or {}
    if not isinstance(tools, dict):
        raise ValueError(f"server_tool_use must be an object, got {tools!r}")
    uncached = count(result, "uncached_input_tokens", required=True)
    cache_read = count(result, "cache_read_input_tokens")
    write_5m = count(creation, "ephemeral_5m_input_tokens")
    write_1h = count(creation, "ephemeral_1h_input_tokens")
    window = name(result, "context_window", 40)
    if window not in CONTEXT_BANDS:
        raise ValueError(f"context_window {window!r} is not one of {', '.join(k for k in CONTEXT_BANDS if k)}")
    tier, batch = _tier(result)
    return usage(
        context,
        project_id=name(result, "workspace_id"),  # a workspace is Anthropic's project; null is the default one
        api_key_id=name(result, "api_key_id"),
        model=name(result, "model"),
        service_tier=tier,
        batch=batch,
        context_band=CONTEXT_BANDS[window],
        requests=0,  # the usage report has no request count
        input_tokens=uncached + cache_read + write_5m + write_1h,  # every prompt token (OpenAI's convention)
        cached_input_tokens=cache_read,
        cache_write_tokens=write_5m + write_1h,
        cache_write_1h_tokens=write_1h,
        output_tokens=count(result, "output_tokens", required=True),
        web_search_calls=count(tools, "web_search_requests"),
    )


def parse_cost(result: JSONObject, context: Mapping[str, object]) -> RowDict:
    cents = amount(result.get("amount"), "amount")  # a string in cents: "123.45" is $1.2345
    tier = normalize_tier(name(result, "service_tier", 40))
    return billed(
        context,
        project_id=name(result, "workspace_id"),
        line_item=name(result, "description", 300),
        model=name(result, "model"),
        service_tier=tier,
        amount=cents * CENT,
        currency=(name(result, "currency", 3) or "USD").upper(),
    )


SPEC = ProviderSpec(
    name="anthropic",
    headers=client.headers,
    pages=client.pages,
    endpoints=(
        Endpoint(
            USAGE_KIND,
            USAGE_PATH,
            (HOUR, DAY),
            USAGE_LIMITS,
            client.query(USAGE_GROUP_BY),
            client.bucket_start,
            parse_messages,
        ),
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
