"""Run the gateway on uvicorn (uvloop and httptools when installed, as uvicorn[standard] brings)."""

from __future__ import annotations

import uvicorn

from collectors.otlp.receiver import routes as otlp_routes
from gateway import signin
from gateway.app import build_app
from models.settings import Settings


def serve(settings: Settings, host: str, port: int) -> None:
    # One server for what applications and people reach: the proxied provider routes, the OTLP traces
    # receiver (POST /v1/traces; its rows reach the gateway's spend state at its next refresh, <= 5 s)
    # and the sign-in front route (/auth/*) that sets the dashboard's session cookie.
    app = build_app(settings, extra_routes=[*otlp_routes(), *signin.routes()])
    config = uvicorn.Config(
        app,
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
    uvicorn.Server(config).run()
