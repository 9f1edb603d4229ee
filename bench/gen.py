"""Deterministic synthetic request logs for the benchmarks (OpenAI-style JSONL, mixed kinds)."""

from __future__ import annotations

import json
import random
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


def write_jsonl(path: Path, n: int, seed: int = 1) -> Path:
    rng = random.Random(seed)
    with path.open("w") as fh:
        for i in range(n):
            fh.write(line(i, rng) + "\n")
    return path
