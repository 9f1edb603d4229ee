"""A real HTTP server on 127.0.0.1 speaking the Anthropic Admin API's API-key endpoints.

`GET /v1/organizations/api_keys[/{id}]` and `POST /v1/organizations/api_keys/{id}` with
`{"status": "active"|"inactive"|"archived"}` (POST, not PATCH, as documented), the admin key checked
in `x-api-key`, `anthropic-version` required. `fail_next` answers the next updates with a 500.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ADMIN_KEY = "sk-ant-admin01-TESTKEY-keys-0123456789abcdef"
STATUSES = ("active", "inactive", "archived")


def api_key(key_id: str, status: str) -> dict[str, object]:
    return {
        "id": key_id,
        "type": "api_key",
        "name": f"key {key_id[-4:]}",
        "status": status,
        "workspace_id": None,
        "created_at": "2026-01-05T10:00:00Z",
        "created_by": {"id": "user_01WCz1FkmYMm4gnmykNKUu3Q", "type": "user"},
        "expires_at": None,
        "partial_key_hint": "sk-ant-api03-R2D...igAA",
    }


class AdminServer:
    def __init__(self, keys: dict[str, str]) -> None:
        self.keys = dict(keys)  # id -> status
        self.updates: list[tuple[str, str]] = []  # (id, status) of every accepted POST
        self.headers_seen: list[dict[str, str]] = []
        self.fail_next = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _send(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, kind: str, message: str) -> None:
                self._send(status, {"type": "error", "error": {"type": kind, "message": message}})

            def _checked(self) -> str | None:
                server.headers_seen.append(dict(self.headers))
                if self.headers.get("x-api-key") != ADMIN_KEY:
                    self._error(401, "authentication_error", "invalid x-api-key")
                    return None
                if not self.headers.get("anthropic-version"):
                    self._error(400, "invalid_request_error", "anthropic-version header is required")
                    return None
                prefix = "/v1/organizations/api_keys"
                return self.path[len(prefix) :].strip("/") if self.path.startswith(prefix) else None

            def do_GET(self) -> None:
                key_id = self._checked()
                if key_id is None:
                    return
                with server._lock:
                    if key_id == "":
                        data = [api_key(k, s) for k, s in server.keys.items()]
                        self._send(200, {"data": data, "has_more": False, "first_id": None, "last_id": None})
                    elif key_id in server.keys:
                        self._send(200, api_key(key_id, server.keys[key_id]))
                    else:
                        self._error(404, "not_found_error", "api key not found")

            def do_POST(self) -> None:
                key_id = self._checked()
                if not key_id:
                    return
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with server._lock:
                    if server.fail_next:
                        server.fail_next -= 1
                        self._error(500, "api_error", "internal error")
                        return
                    if key_id not in server.keys:
                        self._error(404, "not_found_error", "api key not found")
                        return
                    status = body.get("status")
                    if status not in STATUSES:
                        self._error(400, "invalid_request_error", "status must be active, inactive or archived")
                        return
                    server.keys[key_id] = status
                    server.updates.append((key_id, status))
                    self._send(200, api_key(key_id, status))

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> AdminServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
