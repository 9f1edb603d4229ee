"""A real local HTTP server that records every request it gets (method, path, headers, body): where an
attacker would point a base URL or a webhook to catch a secret."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def text(self) -> str:
        return (
            f"{self.method} {self.path}\n"
            + "\n".join(f"{k}: {v}" for k, v in self.headers.items())
            + "\n"
            + (self.body.decode("utf-8", "replace"))
        )


class Sink:
    """Answers 200 with an empty JSON page to everything; `requests` lists what arrived."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                sink.requests.append(Seen(self.command, self.path, dict(self.headers.items()), body))
                raw = b'{"data": [], "has_more": false, "object": "page"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PUT = _record

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> Sink:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def authorizations(self) -> list[str]:
        return [r.headers.get("Authorization") or r.headers.get("x-api-key") or "" for r in self.requests]

    def everything(self) -> str:
        return "\n\n".join(r.text() for r in self.requests)


@pytest.fixture
def sink():
    server = Sink().start()
    yield server
    server.stop()
