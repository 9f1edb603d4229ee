"""The gateway for real: uvicorn serving build_app() in a thread, in front of a local LLM API server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import anthropic
import httpx
import openai
import pytest
from sqlalchemy import text

from gateway.app import build_app
from models.access.roles import Actor
from models.db import get_engine
from models.gateway import create_key, set_upstream
from models.settings import get_settings, reset_settings
from tests.factories import make_org
from tests.llm_upstream import UPSTREAM_ANTHROPIC_KEY, UPSTREAM_OPENAI_KEY, Served, Upstream

ORG = "org-gw"


@pytest.fixture
def upstream():
    app = Upstream()
    served = Served(app).start()
    served.app = app
    yield served
    served.stop()


@pytest.fixture
def gw_env(monkeypatch):
    monkeypatch.setenv("SPENDSIGHT_GATEWAY_REFRESH_SECONDS", "0.3")
    monkeypatch.setenv("SPENDSIGHT_GATEWAY_FLUSH_SECONDS", "0.1")
    monkeypatch.setenv("OPENAI_GW_KEY", UPSTREAM_OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_GW_KEY", UPSTREAM_ANTHROPIC_KEY)
    reset_settings()


class Gateway:
    """A running gateway; restart() stops it (gracefully) and starts a new one on the same data."""

    def __init__(self) -> None:
        self.served: Served | None = None
        self.app = None

    def start(self) -> Gateway:
        self.app = build_app(get_settings())
        self.served = Served(self.app).start()
        return self

    def stop(self) -> None:
        if self.served is not None:
            self.served.stop()
            self.served = None

    def restart(self) -> Gateway:
        self.stop()
        return self.start()

    @property
    def url(self) -> str:
        assert self.served is not None
        return self.served.url


@pytest.fixture
def org(gw_env, upstream, monkeypatch):
    monkeypatch.setenv("SPENDSIGHT_ALLOWED_BASE_URLS", f"{upstream.url}/openai/v1,{upstream.url}/anthropic/v1")
    reset_settings()
    make_org(ORG)
    set_upstream(Actor.cli(), ORG, "openai", "OPENAI_GW_KEY", upstream.url + "/openai/v1")
    set_upstream(Actor.cli(), ORG, "anthropic", "ANTHROPIC_GW_KEY", upstream.url + "/anthropic/v1")
    return ORG


@pytest.fixture
def key(org):
    token, _view = create_key(Actor.cli(), org, name="test app")
    return token


@pytest.fixture
def gateway(org):
    gw = Gateway().start()
    yield gw
    gw.stop()


class Sdk:
    """The official SDK clients a test makes (no retries), each closed when the test ends.

    An SDK client left to the garbage collector leaks its pooled keep-alive socket: when an SDK error's
    traceback holds the client in a reference cycle, the socket's ResourceWarning surfaces in whichever
    later test the collector happens to run in (filterwarnings=error fails that innocent test).
    """

    def __init__(self, stack: ExitStack) -> None:
        self._stack = stack

    def openai(self, base_url: str, api_key: str, **kw: Any) -> openai.OpenAI:
        return self._stack.enter_context(openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, **kw))

    def anthropic(self, base_url: str, api_key: str, **kw: Any) -> anthropic.Anthropic:
        client = anthropic.Anthropic(base_url=base_url, api_key=api_key, max_retries=0, **kw)
        return self._stack.enter_context(client)


@pytest.fixture
def sdk() -> Iterator[Sdk]:
    with ExitStack() as stack:
        yield Sdk(stack)


def usage_rows(org_id: str = ORG) -> list[dict]:
    with get_engine().connect() as conn:
        rows = conn.execute(text("SELECT * FROM usage WHERE org_id = :o AND source = 'gateway'"), {"o": org_id})
        return [dict(r._mapping) for r in rows]


def answers_healthz(base: str) -> bool:
    """A gateway process started by a test is up once its /healthz answers 200."""
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
