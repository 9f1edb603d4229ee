"""Run the gateway on uvicorn (uvloop and httptools when installed, as uvicorn[standard] brings)."""

from __future__ import annotations

import uvicorn

from gateway.app import build_app
from models.settings import Settings


def serve(settings: Settings, host: str, port: int) -> None:
    app = build_app(settings)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        access_log=False,  # an access log line per request costs throughput and says nothing usage does not
        log_level="info",
        timeout_graceful_shutdown=30,
    )
    uvicorn.Server(config).run()
