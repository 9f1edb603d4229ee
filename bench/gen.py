"""Deterministic synthetic request logs for the benchmarks: OpenAI-style JSONL, or every line kind mixed."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

MODELS = ("gpt-4o", "gpt-4o-mini", "o3", "gpt-4.1")
START = 1_762_000_000  # 2025-11-01


def line(i: int, rng: random.Random) -> str:
    kind = rng.random()
    created = START + i // 20  # ~20 requests per second
    if kind < 0.70:
        prompt = int(rng.lognormvariate(7, 1)) + 1
        body = {
            "id": f"chatcmpl-{i:012d}",
            "object": "chat.completion",
            "created": created,
            "model": rng.choice(MODELS),
            "service_tier": "default",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": int(rng.lognormvariate(5, 1)),
                "total_tokens": 0,
                "prompt_tokens_details": {"cached_tokens": int(prompt * rng.random() * 0.5), "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
            },
        }
    elif kind < 0.85:
        body = {
            "id": f"resp_{i:012d}",
            "object": "response",
            "created_at": created,
            "model": "gpt-4o-mini",
            "usage": {
                "input_tokens": int(rng.lognormvariate(6.5, 1)) + 1,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": int(rng.lognormvariate(5, 1)),
                "output_tokens_details": {"reasoning_tokens": 0},
            },
        }
    elif kind < 0.95:
        body = {
            "timestamp": created,
            "project": f"proj-{i % 7}",
            "user": f"user-{i % 50}",
            "api_key_id": f"key_{i % 5}",
            "response": {
                "id": f"chatcmpl-w{i:012d}",
                "object": "chat.completion",
                "model": "gpt-4o",
                "usage": {"prompt_tokens": 900, "completion_tokens": 120},
            },
        }
    else:
        body = {
            "id": f"batch_req_{i:012d}",
            "custom_id": f"t{i}",
            "response": {
                "status_code": 200,
                "body": {
                    "id": f"chatcmpl-b{i:012d}",
                    "object": "chat.completion",
                    "created": created,
                    "model": "gpt-4o-mini",
                    "usage": {"prompt_tokens": 2500, "completion_tokens": 400},
                },
            },
            "error": None,
        }
    return json.dumps(body, separators=(",", ":"))


def mixed_line(i: int, rng: random.Random) -> str:
    """Every kind ingest reads: OpenAI lines as above, wrappers with ISO 8601 times (around chat
    completions, embeddings and Batch API lines), and Anthropic Messages responses, bare and wrapped."""
    kind = rng.random()
    created = START + i // 20
    iso = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    wrapper = {"timestamp": iso, "project": f"proj-{i % 7}", "user": f"user-{i % 50}", "api_key_id": f"key_{i % 5}"}
    if kind < 0.40:
        return line(i, rng)  # the OpenAI mix: bare, wrapped with Unix seconds, batch
    if kind < 0.55:
        body: dict[str, object] = {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.0123, -0.0456, 0.0789]}],
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": int(rng.lognormvariate(5, 1)) + 1, "total_tokens": 0},
        }
        return json.dumps({**wrapper, "response": body}, separators=(",", ":"))
    if kind < 0.65:
        return json.dumps({**wrapper, "response": _batch(i, created)}, separators=(",", ":"))
    if kind < 0.75:
        chat = {
            "id": f"chatcmpl-i{i:012d}",
            "object": "chat.completion",
            "model": "gpt-4o",
            "usage": {"prompt_tokens": int(rng.lognormvariate(7, 1)) + 1, "completion_tokens": 90},
        }
        return json.dumps({**wrapper, "org": f"team-{i % 3}", "response": chat}, separators=(",", ":"))
    read, write = int(rng.lognormvariate(7, 1)), int(rng.lognormvariate(5, 1))
    message = {
        "id": f"msg_{i:012d}",
        "type": "message",
        "role": "assistant",
        "model": rng.choice(("claude-sonnet-4-5", "claude-haiku-4-5")),
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "usage": {
            "input_tokens": int(rng.lognormvariate(5, 1)) + 1,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": write,
            "cache_creation": {"ephemeral_5m_input_tokens": write, "ephemeral_1h_input_tokens": 0},
            "output_tokens": int(rng.lognormvariate(5, 1)),
            "service_tier": "standard",
        },
    }
    if kind < 0.80:
        return json.dumps({**wrapper, "timestamp": created, "response": message}, separators=(",", ":"))
    return json.dumps({**wrapper, "response": message}, separators=(",", ":"))


def _batch(i: int, created: int) -> dict[str, object]:
    return {
        "id": f"batch_req_w{i:012d}",
        "custom_id": f"w{i}",
        "response": {
            "status_code": 200,
            "body": {
                "id": f"chatcmpl-wb{i:012d}",
                "object": "chat.completion",
                "created": created,
                "model": "gpt-4o-mini",
                "usage": {"prompt_tokens": 2500, "completion_tokens": 400},
            },
        },
        "error": None,
    }


def write_jsonl(path: Path, n: int, seed: int = 1, make: Callable[[int, random.Random], str] = line) -> Path:
    rng = random.Random(seed)
    with path.open("w") as fh:
        for i in range(n):
            fh.write(make(i, rng) + "\n")
    return path
