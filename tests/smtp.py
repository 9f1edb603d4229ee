"""A real SMTP server (aiosmtpd) on 127.0.0.1 for alert tests: it keeps what it receives, can go
down (connections refused) and come back on the same port, or answer 4xx for a while."""

from __future__ import annotations

import email
import socket
import threading
import time
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from models.settings import reset_settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.server.temporary_failures > 0:
            self.server.temporary_failures -= 1
            return "451 4.3.0 try again later"
        if address in self.server.reject:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content, policy=default_policy)
        with self.server.lock:
            self.server.received.append((list(envelope.rcpt_tos), msg))
        return "250 OK"


class SmtpServer:
    """`received` holds (recipients, EmailMessage) in arrival order."""

    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        self.port = free_port()
        self.received: list[tuple[list[str], EmailMessage]] = []
        self.lock = threading.Lock()
        self.temporary_failures = 0
        self.reject: set[str] = set()
        self.logins: list[str] = []
        self.username, self.password = username, password
        self._controller: Controller | None = None

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        )
        if ok:
            self.logins.append(self.username)
        return AuthResult(success=ok, handled=False)

    def start(self) -> None:
        kwargs = {}
        if self.username:
            kwargs = {"authenticator": self._authenticate, "auth_require_tls": False}
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **kwargs)
        for _ in range(50):  # the port may linger for a moment after a stop
            try:
                self._controller.start()
                return
            except (OSError, RuntimeError):
                time.sleep(0.1)
        self._controller.start()

    def stop(self) -> None:
        """Go down: connections are refused until `start()`."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages_to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for rcpts, m in self.received if address in rcpts]

    def subjects(self) -> list[str]:
        with self.lock:
            return [str(m["Subject"]) for _, m in self.received]


def use_smtp(monkeypatch, server: SmtpServer, **extra: str) -> None:
    """Point the settings at `server` (SMTP_HOST/SMTP_PORT plus any extra SMTP_* values)."""
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(server.port))
    monkeypatch.setenv("SMTP_FROM", "spendsight@example.com")
    monkeypatch.setenv("SMTP_TIMEOUT_SECONDS", "5")
    for key, value in extra.items():
        monkeypatch.setenv(key, value)
    reset_settings()


@pytest.fixture
def smtp(monkeypatch):
    server = SmtpServer()
    server.start()
    use_smtp(monkeypatch, server)
    yield server
    server.stop()
