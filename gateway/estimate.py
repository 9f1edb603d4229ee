"""A request's worst-case cost, reserved before forwarding under a strict limit.

Prompt: the tokens of the whole request body (message text plus the JSON around it, so never fewer
than the prompt's own tokens), counted with tiktoken offline: the model's own encoding for OpenAI,
o200k_base x 1.25 for Anthropic (whose tokenizer is not public and yields more tokens than o200k on
the same text). Output: max_tokens x max(n, best_of). Priced by the catalog at today's prices.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from models.pricing.catalog import Catalog
from models.spend.compare import count_tokens, encoding
from models.units import MICROS_PER_USD

ANTHROPIC_FACTOR = Decimal("1.25")


class EstimateError(ValueError):
    """The request cannot be bounded (no output limit, or no known price): refused under a strict limit."""


def prompt_tokens(provider: str, model: str, body: bytes) -> int:
    text = body.decode("utf-8", "replace")
    tokens = count_tokens(text, provider, model).tokens
    if provider == "anthropic":
        return math.ceil(tokens * ANTHROPIC_FACTOR)
    return tokens


def output_tokens(route: str, payload: dict[str, Any]) -> int:
    if route == "embeddings":
        return 0
    if route == "responses":
        limit = payload.get("max_output_tokens")
    elif route == "chat/completions":
        limit = payload.get("max_completion_tokens", payload.get("max_tokens"))
    else:  # completions, messages
        limit = payload.get("max_tokens")
    if type(limit) is not int or limit < 0:
        raise EstimateError("this scope has a strict spend limit: the request must set max_tokens")
    copies = max(_positive(payload.get("n")), _positive(payload.get("best_of")))
    return limit * copies


def _positive(value: object) -> int:
    return value if type(value) is int and value > 0 else 1


def worst_case_micros(
    catalog: Catalog, provider: str, route: str, model: str, body: bytes, payload: dict[str, Any]
) -> int:
    """Micro-dollars the request can cost at most (rounded up)."""
    prompt = prompt_tokens(provider, model, body)
    output = output_tokens(route, payload)
    price = catalog.resolve(provider, model, datetime.now(UTC).date(), "", False, catalog.band(prompt))
    if price is None:
        raise EstimateError(f"this scope has a strict spend limit and no price is known for model {model!r}")
    cost = price.cost({"requests": 1, "input_tokens": prompt, "output_tokens": output})
    return math.ceil(cost * MICROS_PER_USD)


def warm_tokenizers() -> None:
    for name in ("o200k_base", "cl100k_base"):
        encoding(name)
