"""The gateway's one ASGI app: the proxied provider routes, /healthz, /metrics, and any routes other
parts mount on the same server (the OTLP receiver, the sign-in front route)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.routing import Route as StarletteRoute
from starlette.types import Receive, Scope, Send

from gateway.estimate import warm_tokenizers
from gateway.metrics import Metrics
from gateway.proxy import Proxy, Route
from gateway.recorder import Recorder
from gateway.state import GatewayState
from gateway.upstream import UpstreamClient
from models.db import get_engine
from models.pricing.catalog import get_catalog
from models.schema import init_db
from models.settings import Settings

log = logging.getLogger("spendsight.gateway")

ROUTES = {
    "/openai/v1/chat/completions": Route("openai", "chat/completions"),
    "/openai/v1/responses": Route("openai", "responses"),
    "/openai/v1/completions": Route("openai", "completions"),
    "/openai/v1/embeddings": Route("openai", "embeddings"),
    "/anthropic/v1/messages": Route("anthropic", "messages"),
}


class GatewayApp:
    """Proxied POSTs go straight to their handler (a dict lookup); everything else, lifespan included,
    to the Starlette app."""

    def __init__(self, settings: Settings, extra_routes: Sequence[BaseRoute] = ()) -> None:
        self.settings = settings
        config = settings.gateway
        self.engine = get_engine(settings.db_url)
        self.metrics = Metrics()
        self.state = GatewayState(self.engine)
        self.recorder = Recorder(
            self.engine,
            self.state,
            self.metrics,
            settings.data_dir,
            config.flush_seconds,
            config.queue_size,
            config.batch_size,
        )
        self.client = UpstreamClient(
            config.max_connections, config.connect_timeout_seconds, config.upstream_timeout_seconds
        )
        catalog = get_catalog()
        self.proxies = {
            path: Proxy(route, self.state, self.recorder, self.metrics, self.client, catalog, config.max_body_bytes)
            for path, route in ROUTES.items()
        }
        self._refresher: asyncio.Task[None] | None = None
        self._warm: asyncio.Task[None] | None = None
        routes: list[BaseRoute] = [
            StarletteRoute("/healthz", self.healthz, methods=["GET"]),
            StarletteRoute("/metrics", self.metrics_page, methods=["GET"]),
            *extra_routes,
        ]
        self.starlette = Starlette(routes=routes, lifespan=self.lifespan)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            handler = self.proxies.get(scope["path"])
            if handler is not None:
                await handler(scope, receive, send)
                return
        await self.starlette(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(init_db, self.engine)
        try:
            await asyncio.to_thread(self.state.refresh)
        except Exception as exc:  # the database is down at start: serve with what comes later
            log.warning("gateway: first refresh failed (%s)", type(exc).__name__)
        await self.recorder.start()
        # The tokenizers strict limits estimate with take a second to build: not on a request.
        self._warm = asyncio.create_task(asyncio.to_thread(warm_tokenizers))
        self._refresher = asyncio.create_task(self._refresh_loop())
        try:
            yield
        finally:
            self._refresher.cancel()
            await self.recorder.stop()
            await self.client.aclose()

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.gateway.refresh_seconds)
            try:
                await asyncio.to_thread(self.state.refresh)
            except Exception as exc:  # keep the last state; try again next time
                log.warning("gateway: refresh failed (%s)", type(exc).__name__)

    async def healthz(self, request: Request) -> Response:
        ok = self.state.loaded and self.recorder.db_ok
        body = {
            "status": "ok" if ok else "degraded",
            "database": self.recorder.db_ok,
            "queue": self.recorder.queue.qsize(),
        }
        return JSONResponse(body, status_code=200)

    async def metrics_page(self, request: Request) -> Response:
        return Response(self.metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")


def build_app(settings: Settings, extra_routes: Sequence[BaseRoute] = ()) -> GatewayApp:
    return GatewayApp(settings, extra_routes)
