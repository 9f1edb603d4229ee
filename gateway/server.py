"""Run the gateway on uvicorn (uvloop and httptools when installed, as uvicorn[standard] brings), in one
process or in several worker processes sharing the port."""

from __future__ import annotations

from typing import Any

import uvicorn

from collectors.otlp.receiver import routes as otlp_routes
from gateway import signin
from gateway.app import GatewayApp, build_app
from models.settings import Settings, get_settings


def make_app(settings: Settings | None = None) -> GatewayApp:
    # One server for what applications and people reach: the proxied provider routes, the OTLP traces
    # receiver (POST /v1/traces; its rows reach the gateway's spend state at its next refresh, every
    # SPENDSIGHT_GATEWAY_REFRESH_SECONDS, 2 s by default)
    # and the sign-in front route (/auth/*) that sets the dashboard's session cookie.
    return build_app(settings or get_settings(), extra_routes=[*otlp_routes(), *signin.routes()])


def serve(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    options: dict[str, Any] = dict(
        host=host,
        port=port,
        lifespan="on",
        access_log=False,  # an access log line per request costs throughput and says nothing usage does not
        log_level="info",
        timeout_graceful_shutdown=30,
        # uvicorn believes X-Forwarded-Proto/For from 127.0.0.1 by default; the sign-in route's Secure
        # cookie and per-address limits must follow the operator's SPENDSIGHT_AUTH_TRUST_PROXY instead.
        proxy_headers=settings.auth.trust_proxy,
    )
    if workers > 1:
        # uvicorn's supervisor binds the port once and starts `workers` processes that accept on it
        # (spawned: each builds its app from the same environment with make_app). Each process is a
        # replica as the gateway already supports them on one database: its own spend state refreshed
        # every few seconds, its own queue and journal file (named by pid), strict limits reserved by an
        # atomic update in the database. The supervisor passes SIGTERM on, so each worker flushes its
        # queue before it exits.
        uvicorn.run("gateway.server:make_app", factory=True, workers=workers, **options)
        return
    uvicorn.Server(uvicorn.Config(make_app(settings), **options)).run()
