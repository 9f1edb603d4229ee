"""A real LLM API server on 127.0.0.1 speaking OpenAI (chat, responses, legacy completions with n and
best_of, embeddings) and Anthropic (messages), streaming included, for the gateway's tests and bench.

Answers are made at once from the request (no model runs); token counts follow from the body so
different requests bill differently. `billed` holds what the server charged per response id: the
truth a correct gateway must end up recording. Model "slow-*" waits before answering (or between
stream events), so a test can hang up mid-request; `cancelled` counts requests whose client left.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Any

import orjson
import uvicorn

UPSTREAM_OPENAI_KEY = "sk-proj-UPSTREAMSECRET-openai-0123456789abcdef"
UPSTREAM_ANTHROPIC_KEY = "sk-ant-api03-UPSTREAMSECRET-anthropic-0123456789"


def _text(payload: dict[str, Any]) -> str:
    return orjson.dumps(payload.get("messages") or payload.get("input") or payload.get("prompt") or "").decode()


class Upstream:
    """The ASGI app; `billed[id]` is the usage it charged for that response."""

    def __init__(self, slow_seconds: float = 0.05) -> None:
        self.billed: dict[str, dict[str, Any]] = {}
        self.auth_seen: list[str] = []
        self.include_usage_asked: list[bool] = []
        self.cancelled = 0
        self.slow_seconds = slow_seconds
        self._ids = itertools.count(1)
        self.record = True  # the bench turns it off (a dict per request is memory it would measure)

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        path = scope["path"]
        if path.startswith("/anthropic"):
            # The API takes x-api-key; newer SDKs send the same key as a bearer token.
            key = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
            ok = key == UPSTREAM_ANTHROPIC_KEY
        else:
            key = headers.get("authorization", "")
            ok = key == f"Bearer {UPSTREAM_OPENAI_KEY}"
        if self.record:
            self.auth_seen.append(key)
        if not ok:
            return await _json(send, 401, {"error": {"message": "bad upstream key", "type": "invalid_request_error"}})
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return await _json(send, 400, {"error": {"message": "invalid JSON", "type": "invalid_request_error"}})
        if payload.get("model") == "error-model":
            error = {
                "message": "The model `error-model` does not exist",
                "type": "invalid_request_error",
                "param": None,
            }
            return await _json(send, 404, {"error": {**error, "code": "model_not_found"}}, {"x-request-id": "req_err"})
        if str(payload.get("model", "")).startswith("slow-"):
            waiter = asyncio.ensure_future(_hung_up(receive))
            done, _ = await asyncio.wait({waiter}, timeout=self.slow_seconds if payload.get("stream") else 30)
            if done:
                self.cancelled += 1
                return
            waiter.cancel()
        n = next(self._ids)
        route = path.split("/v1/", 1)[-1]
        handler = {
            "chat/completions": self._chat,
            "responses": self._responses,
            "completions": self._completions,
            "embeddings": self._embeddings,
            "messages": self._messages,
        }[route]
        await handler(n, payload, send, receive)

    def _bill(self, rid: str, usage: dict[str, Any]) -> None:
        if self.record:
            self.billed[rid] = usage

    # --- OpenAI -------------------------------------------------------------------------------

    def _chat_usage(self, payload: dict[str, Any]) -> dict[str, Any]:
        prompt = len(_text(payload)) // 4 + 7
        out = int(payload.get("max_completion_tokens") or payload.get("max_tokens") or 12) * int(payload.get("n") or 1)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": out,
            "total_tokens": prompt + out,
            "prompt_tokens_details": {"cached_tokens": min(3, prompt), "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": min(2, out), "audio_tokens": 0},
        }

    async def _chat(self, n: int, payload: dict[str, Any], send, receive) -> None:
        rid = f"chatcmpl-{n:08d}"
        usage = self._chat_usage(payload)
        model = payload.get("model", "gpt-4o-mini")
        if model == "gpt-4o-mini":
            model = "gpt-4o-mini-2024-07-18"
        base = {
            "id": rid,
            "object": "chat.completion",
            "created": 1764460800,
            "model": model,
            "service_tier": "default",
        }
        self._bill(rid, {"model": model, **usage})
        choices = int(payload.get("n") or 1)
        if not payload.get("stream"):
            message = {"role": "assistant", "content": "Hello from upstream.", "refusal": None}
            body = {
                **base,
                "choices": [
                    {"index": i, "message": message, "logprobs": None, "finish_reason": "stop"} for i in range(choices)
                ],
                "usage": usage,
                "system_fingerprint": "fp_test",
            }
            return await _json(send, 200, body, {"x-request-id": f"req_{n}"})
        include = bool((payload.get("stream_options") or {}).get("include_usage"))
        if self.record:
            self.include_usage_asked.append(include)
        base = {**base, "object": "chat.completion.chunk", "system_fingerprint": "fp_test"}
        extra = {"usage": None} if include else {}
        events = []
        for i in range(choices):
            events.append(
                {
                    **base,
                    "choices": [{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
                    **extra,
                }
            )
            for word in ("Hello", " from", " upstream."):
                events.append(
                    {**base, "choices": [{"index": i, "delta": {"content": word}, "finish_reason": None}], **extra}
                )
            events.append({**base, "choices": [{"index": i, "delta": {}, "finish_reason": "stop"}], **extra})
        if include:
            events.append({**base, "choices": [], "usage": usage})
        await self._sse(send, receive, [(None, e) for e in events], model, done=True, rid=n)

    async def _responses(self, n: int, payload: dict[str, Any], send, receive) -> None:
        rid = f"resp_{n:08d}"
        prompt = len(_text(payload)) // 4 + 5
        out = int(payload.get("max_output_tokens") or 10)
        usage = {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": 1},
            "output_tokens": out,
            "output_tokens_details": {"reasoning_tokens": 4},
            "total_tokens": prompt + out,
        }
        model = payload.get("model", "gpt-4o-mini")
        self._bill(rid, {"model": model, **usage})
        output = [
            {
                "type": "message",
                "id": "msg_out",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Hello from upstream.", "annotations": []}],
            }
        ]
        response = {
            "id": rid,
            "object": "response",
            "created_at": 1764460800,
            "status": "completed",
            "model": model,
            "output": output,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": usage,
            "service_tier": "default",
        }
        if not payload.get("stream"):
            return await _json(send, 200, response, {"x-request-id": f"req_{n}"})
        pending = {**response, "status": "in_progress", "output": [], "usage": None}
        events = [
            ("response.created", {"type": "response.created", "sequence_number": 0, "response": pending}),
            (
                "response.output_text.delta",
                {
                    "type": "response.output_text.delta",
                    "sequence_number": 1,
                    "item_id": "msg_out",
                    "output_index": 0,
                    "content_index": 0,
                    "delta": "Hello from upstream.",
                    "logprobs": [],
                },
            ),
            ("response.completed", {"type": "response.completed", "sequence_number": 2, "response": response}),
        ]
        await self._sse(send, receive, events, model, done=False, rid=n)

    async def _completions(self, n: int, payload: dict[str, Any], send, receive) -> None:
        rid = f"cmpl-{n:08d}"
        prompt = len(_text(payload)) // 4 + 3
        copies = max(int(payload.get("n") or 1), int(payload.get("best_of") or 1))
        out = int(payload.get("max_tokens") or 16) * copies
        usage = {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out}
        model = payload.get("model", "gpt-3.5-turbo-instruct")
        self._bill(rid, {"model": model, **usage})
        base = {"id": rid, "object": "text_completion", "created": 1764460800, "model": model}
        shown = int(payload.get("n") or 1)
        if not payload.get("stream"):
            choices = [
                {"index": i, "text": " hello", "logprobs": None, "finish_reason": "length"} for i in range(shown)
            ]
            return await _json(send, 200, {**base, "choices": choices, "usage": usage}, {"x-request-id": f"req_{n}"})
        include = bool((payload.get("stream_options") or {}).get("include_usage"))
        if self.record:
            self.include_usage_asked.append(include)
        events = [
            (
                None,
                {
                    **base,
                    "choices": [{"index": i, "text": " hello", "logprobs": None, "finish_reason": None}],
                    **({"usage": None} if include else {}),
                },
            )
            for i in range(shown)
        ]
        if include:
            events.append((None, {**base, "choices": [], "usage": usage}))
        await self._sse(send, receive, events, model, done=True, rid=n)

    async def _embeddings(self, n: int, payload: dict[str, Any], send, receive) -> None:
        inputs = payload.get("input")
        items = inputs if isinstance(inputs, list) else [inputs]
        prompt = len(_text(payload)) // 4 + len(items)
        usage = {"prompt_tokens": prompt, "total_tokens": prompt}
        model = payload.get("model", "text-embedding-3-small")
        # Embeddings have no id: the request id header identifies them.
        self._bill(f"req_emb_{n}", {"model": model, **usage})
        data = [{"object": "embedding", "index": i, "embedding": [0.25, -0.5, 0.125]} for i in range(len(items))]
        body = {"object": "list", "data": data, "model": model, "usage": usage}
        await _json(send, 200, body, {"x-request-id": f"req_emb_{n}"})

    # --- Anthropic ----------------------------------------------------------------------------

    async def _messages(self, n: int, payload: dict[str, Any], send, receive) -> None:
        rid = f"msg_{n:08d}"
        model = payload.get("model", "claude-3-5-haiku-20241022")
        uncached = len(_text(payload)) // 4 + 9
        out = min(int(payload.get("max_tokens") or 20), 25)
        usage = {
            "input_tokens": uncached,
            "cache_creation_input_tokens": 6,
            "cache_read_input_tokens": 5,
            "cache_creation": {"ephemeral_5m_input_tokens": 4, "ephemeral_1h_input_tokens": 2},
            "output_tokens": out,
            "service_tier": "standard",
        }
        self._bill(rid, {"model": model, **usage})
        message = {
            "id": rid,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": "Hello from upstream."}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
        if not payload.get("stream"):
            return await _json(send, 200, message, {"request-id": f"req_{n}"})
        start_usage = {**usage, "output_tokens": 1}
        events = [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {**message, "content": [], "stop_reason": None, "usage": start_usage},
                },
            ),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            ("ping", {"type": "ping"}),
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
            ),
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " from upstream."}},
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": out},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        await self._sse(send, receive, events, model, done=False, rid=n, header="request-id")

    async def _sse(self, send, receive, events, model, done: bool, rid: int, header: str = "x-request-id") -> None:
        headers = [(b"content-type", b"text/event-stream; charset=utf-8"), (header.encode(), f"req_{rid}".encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        slow = str(model).startswith("slow-")
        for name, event in events:
            line = (f"event: {name}\n" if name else "").encode() + b"data: " + orjson.dumps(event) + b"\n\n"
            await send({"type": "http.response.body", "body": line, "more_body": True})
            if slow:
                waiter = asyncio.ensure_future(_hung_up(receive))
                finished, _ = await asyncio.wait({waiter}, timeout=self.slow_seconds)
                if finished:
                    self.cancelled += 1
                    return
                waiter.cancel()
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n" if done else b""})


async def _hung_up(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _json(send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    raw = orjson.dumps(body)
    extra = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode()), *extra],
        }
    )
    await send({"type": "http.response.body", "body": raw})


class Served:
    """An ASGI app on uvicorn in a thread of its own, on a free port of 127.0.0.1."""

    def __init__(self, app, port: int = 0, **config: Any) -> None:
        self.config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, **config)
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    @property
    def port(self) -> int:
        return self.server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
