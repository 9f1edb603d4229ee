"""The proxied routes: authenticate the gateway key, check limits, forward to the provider, pass the answer
through unchanged (streaming included) and queue the request's usage.

A plain ASGI callable rather than a framework endpoint: every request pays for whatever sits here, and
the request and response bodies are passed on as bytes without being re-encoded (the body is parsed
only to read the model, stream flags and output limits; it is rewritten only to ask an OpenAI stream
for its usage chunk).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
from starlette.types import Message, Receive, Scope, Send

from gateway.errors import error_body, rejection_message
from gateway.estimate import EstimateError, worst_case_micros
from gateway.metrics import Metrics
from gateway.recorder import Recorder
from gateway.state import GatewayState, Upstream
from gateway.upstream import UpstreamClient
from gateway.usage import StreamScanner, from_body
from models.gateway import GatewayIdentity, hash_token, reserve, settle
from models.pricing.catalog import Catalog, normalize_tier
from models.tables import USAGE_COUNTERS
from models.units import MICROS_PER_USD

log = logging.getLogger("spendsight.gateway")

# Never forwarded upstream: hop-by-hop headers, the client's credentials and gateway-only headers
# (the client sets host and content-length; identity encoding keeps usage readable without decoding).
_DROP_REQUEST = {
    b"host",
    b"content-length",
    b"authorization",
    b"x-api-key",
    b"openai-organization",
    b"openai-project",
    b"x-spendsight-project",
    b"connection",
    b"keep-alive",
    b"transfer-encoding",
    b"te",
    b"upgrade",
    b"proxy-authorization",
    b"proxy-connection",
    b"accept-encoding",
    b"cookie",
}
_DROP_RESPONSE = {
    b"connection",
    b"keep-alive",
    b"transfer-encoding",
    b"content-length",
    b"content-encoding",
    b"set-cookie",
}
_NO_RETRY = [(b"x-should-retry", b"false")]  # both official SDKs would otherwise retry a 429


@dataclass(frozen=True)
class Route:
    provider: str  # openai | anthropic
    path: str  # the provider's path under its base URL, e.g. "chat/completions"


class Proxy:
    def __init__(
        self,
        route: Route,
        state: GatewayState,
        recorder: Recorder,
        metrics: Metrics,
        client: UpstreamClient,
        catalog: Catalog,
        max_body_bytes: int,
    ) -> None:
        self.route = route
        self.provider = route.provider
        self.state = state
        self.recorder = recorder
        self.metrics = metrics
        self.client = client
        self.catalog = catalog
        self.max_body_bytes = max_body_bytes

    # --- answers made here --------------------------------------------------------------------

    async def _error(self, send: Send, status: int, message: str, code: str | None = None) -> None:
        body = error_body(self.provider, status, message, code)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if status == 429:
            headers += _NO_RETRY
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self.metrics.requests.labels(self.provider, self.route.path, str(status)).inc()

    # --- the request ----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = datetime.now(UTC)
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers[name.lower()] = value
        body = await self._read_body(receive)
        if body is None:
            await self._error(send, 413, "request body too large")
            return
        ident = await self._identify(headers)
        if ident is None:
            code = "invalid_api_key"
            await self._error(send, 401, "Incorrect or revoked gateway key (expected a Spendsight ssk- key).", code)
            return
        org_header = headers.get(b"openai-organization", b"").decode("latin-1").strip()
        if org_header and org_header != ident.org_id:
            await self._error(
                send, 403, f"this gateway key belongs to organization {ident.org_id}", "mismatched_organization"
            )
            return
        asked = (
            (headers.get(b"openai-project") or headers.get(b"x-spendsight-project") or b"").decode("latin-1").strip()
        )
        if ident.project_id and asked and asked != ident.project_id:
            await self._error(
                send, 403, f"this gateway key is limited to project {ident.project_id}", "mismatched_project"
            )
            return
        project = ident.project_id or asked
        if len(project) > 200 or any(ord(c) < 32 for c in project):
            await self._error(send, 400, "invalid project header")
            return
        upstream = self.state.upstreams.get((ident.org_id, self.provider))
        if upstream is None:
            await self._error(send, 503, f"no {self.provider} upstream is configured for {ident.org_id}")
            return
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            await self._error(send, 400, "the request body is not a JSON object")
            return
        model = payload.get("model")
        model = model if isinstance(model, str) else ""
        refused = self.state.rejection(ident.org_id, project)
        if refused is not None:
            await self._reject(send, ident, project, model, *refused)
            return
        strict = self.state.strict_scopes(ident.org_id, project)
        held: list[list[Any]] = []
        if strict:
            try:  # tokenizing the body is CPU work and the reservation a database round trip: a thread
                held_or_scope = await asyncio.to_thread(self._reserve, ident.org_id, strict, model, body, payload)
            except EstimateError as exc:
                await self._error(send, 400, str(exc), "strict_limit_needs_bound")
                return
            except Exception as exc:  # no database, no reservation: a strict limit fails closed
                log.warning("gateway: reservation failed (%s)", type(exc).__name__)
                await self._error(send, 503, "the spend limit cannot be checked right now; try again")
                return
            if isinstance(held_or_scope, str):
                await self._reject(send, ident, project, model, "hard_limit_reached", held_or_scope)
                return
            held = held_or_scope
        stream = payload.get("stream") is True
        drop_usage = False
        if stream and self.route.path in ("chat/completions", "completions"):
            options = payload.get("stream_options")
            if not (isinstance(options, dict) and options.get("include_usage") is True):
                payload["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
                body = orjson.dumps(payload)
                drop_usage = True
        user = payload.get("user")
        if self.provider == "anthropic" and isinstance(payload.get("metadata"), dict):
            user = payload["metadata"].get("user_id")
        context = _Context(ident, project, model, user if isinstance(user, str) else "", started, held)
        url, outgoing = self._upstream_request(upstream, headers)
        # The upstream call runs in this task; one watcher task cancels it if the client hangs up.
        # (A second task for the call and asyncio.wait over both cost 7% of the gateway's CPU.)
        request_task = asyncio.current_task()
        assert request_task is not None
        watch = asyncio.get_running_loop().create_task(_hang_up(receive, request_task, context))
        try:
            await self._forward(url, outgoing, body, send, context, drop_usage)
        except (asyncio.CancelledError, Exception):
            if not context.hung_up:
                raise  # a real error, or the server cancelling: not the client leaving
            # The client hung up: the cancellation closed the upstream response; record what is known.
            request_task.uncancel()
            self.metrics.disconnects.inc()
            self._finish(context, context.scanner.usage() if context.scanner else None, "", cancelled=True)
        finally:
            watch.cancel()

    async def _read_body(self, receive: Receive) -> bytes | None:
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b""
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    async def _identify(self, headers: dict[bytes, bytes]) -> GatewayIdentity | None:
        token = headers.get(b"x-api-key", b"")
        auth = headers.get(b"authorization", b"")
        if auth[:7].lower() == b"bearer ":
            token = auth[7:].strip()
        if not token.startswith(b"ssk-"):
            return None
        sha = hash_token(token.decode("latin-1"))
        ident = self.state.key(sha)
        if ident is None:
            ident = await asyncio.to_thread(self.state.lookup_key, sha)
        return None if ident is None or ident.revoked else ident

    async def _reject(
        self, send: Send, ident: GatewayIdentity, project: str, model: str, reason: str, scope: str
    ) -> None:
        self.metrics.rejections.labels(reason).inc()
        self.recorder.submit(
            {
                "kind": "rejection",
                "row": {
                    "rejection_id": uuid.uuid4().hex,
                    "at": datetime.now(UTC),
                    "org_id": ident.org_id,
                    "project_id": project,
                    "key_id": ident.key_id,
                    "provider": self.provider,
                    "model": model[:200],
                    "reason": reason,
                },
            }
        )
        await self._error(send, 429, rejection_message(reason, ident.org_id, scope), reason)

    def _reserve(
        self, org_id: str, strict: list[tuple[str, str, int]], model: str, body: bytes, payload: dict[str, Any]
    ) -> list[list[Any]] | str:
        """Reserve the worst case on every strict scope, all or none; the refusing scope's project when refused."""
        micros = worst_case_micros(self.catalog, self.provider, self.route.path, model, body, payload)
        held: list[list[Any]] = []
        with self.state.engine.begin() as conn:
            for project, period, hard in strict:
                if not reserve(conn, org_id, project, period, micros, hard):
                    for o, p, m, r in held:  # give back what the wider scope took
                        settle(conn, o, p, m, r, 0)
                    return project
                held.append([org_id, project, period, micros])
        return held

    def _upstream_request(self, upstream: Upstream, headers: dict[bytes, bytes]) -> tuple[str, list[tuple[str, str]]]:
        out = [(k.decode("latin-1"), _text(v)) for k, v in headers.items() if k not in _DROP_REQUEST]
        if self.provider == "anthropic":
            out.append(("x-api-key", upstream.key))
        else:
            out.append(("authorization", "Bearer " + upstream.key))
        out.append(("accept-encoding", "identity"))
        return f"{upstream.base_url}/{self.route.path}", out

    async def _forward(
        self, url: str, outgoing: list[tuple[str, str]], body: bytes, send: Send, context: _Context, drop_usage: bool
    ) -> None:
        started = time.perf_counter()
        try:
            response = await self.client.post(url, body, outgoing)
        except TimeoutError:  # aiohttp's connect and read timeouts are TimeoutErrors
            self._finish(context, None, "")
            await self._error(send, 504, f"the {self.provider} API did not answer in time")
            return
        except aiohttp.ClientError as exc:
            self._finish(context, None, "")
            await self._error(send, 502, f"the {self.provider} API could not be reached ({type(exc).__name__})")
            return
        self.metrics.upstream_seconds.labels(self.provider).observe(time.perf_counter() - started)
        try:
            headers = [(k, v) for k, v in response.raw_headers if k.lower() not in _DROP_RESPONSE]
            request_id = response.headers.get("x-request-id") or response.headers.get("request-id") or ""
            streaming = response.status == 200 and "text/event-stream" in response.headers.get("content-type", "")
            # Usage is queued (and counted) before the client gets the answer's last byte, so the
            # client's next request already sees this one's cost.
            if streaming:
                scanner = context.scanner = StreamScanner(self.provider, drop_usage)
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                async for chunk in response.content.iter_any():
                    out = scanner.feed(chunk)
                    if out:
                        await send({"type": "http.response.body", "body": out, "more_body": True})
                self._finish(context, scanner.usage(), request_id)
                self.metrics.requests.labels(self.provider, self.route.path, "200").inc()
                await send({"type": "http.response.body", "body": scanner.tail()})
            else:
                content = await response.read()
                status = response.status
                self._finish(context, from_body(self.provider, content) if status == 200 else None, request_id)
                self.metrics.requests.labels(self.provider, self.route.path, str(status)).inc()
                headers.append((b"content-length", str(len(content)).encode()))
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": content})
        finally:
            # A body read to its end has already gone back to the pool (this is then a no-op); one cut
            # short (a client that hung up, an error) is closed, which tells the provider to stop.
            response.close()

    def _finish(self, context: _Context, usage: dict[str, Any] | None, header_id: str, cancelled: bool = False) -> None:
        """Queue the usage (or give back the reservation). A stream cut short without usage keeps its
        whole reservation as spent, since the provider may bill what it generated."""
        if context.finished:
            return
        context.finished = True
        if usage is None:
            cost = context.held[0][3] if cancelled and context.held else 0
            if context.held:
                self.recorder.submit({"kind": "release", "strict": context.held, "cost": cost})
            return
        ident = context.ident
        model = str(usage.get("model") or context.model)[:200]
        tier = normalize_tier(usage.get("service_tier"))
        counts = {c: int(usage.get(c, 0) or 0) for c in USAGE_COUNTERS}
        counts["requests"] = 1
        band = self.catalog.band(counts["input_tokens"])
        # Priced by the UTC date, as spend() prices the rollups (and the catalog caches per date).
        price = self.catalog.resolve(self.provider, model, context.started.date(), tier, False, band)
        cost = math.ceil(price.cost(counts) * MICROS_PER_USD) if price is not None else 0
        scopes = [[ident.org_id, ""]] + ([[ident.org_id, context.project]] if context.project else [])
        row = {
            "org_id": ident.org_id,
            "provider": self.provider,
            "project_id": context.project,
            "api_key_id": ident.key_id,
            "user_id": context.user[:200],
            "model": model,
            "service_tier": tier,
            "context_band": band,
            "source": "gateway",
            "kind": usage.get("kind", "completions"),
            "bucket_start": context.started,
            "request_id": (usage.get("request_id") or header_id or "gw-" + uuid.uuid4().hex)[:200],
            **counts,
        }
        self.recorder.submit({"kind": "usage", "row": row, "cost": cost, "scopes": scopes, "strict": context.held})


@dataclass
class _Context:
    ident: GatewayIdentity
    project: str
    model: str
    user: str
    started: datetime
    held: list[list[Any]]
    scanner: StreamScanner | None = None
    finished: bool = False
    hung_up: bool = False


async def _hang_up(receive: Receive, request_task: asyncio.Task[Any], context: _Context) -> None:
    """Cancels the request's task when the client hangs up (after the body, receive() yields only
    http.disconnect). Cancelled itself when the request ends first."""
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            context.hung_up = True
            request_task.cancel()
            return


def _text(value: bytes) -> str:
    """A header value as aiohttp takes it (str, written back as UTF-8): exact for ASCII and UTF-8."""
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value.decode("latin-1")
