"""The upstream HTTP client: one aiohttp session (one keep-alive pool) for every provider call.

aiohttp rather than httpx on this path, for CPU: the gateway does nothing per request but parse a
little JSON and pass bytes on, so the client's own cost is most of it. Measured on this machine
(uvloop, 50 concurrent requests against tests/llm_upstream.py, client process CPU only): httpx
(16 pools of 4, build_request + send + aread + aclose) 650-690 us per request, aiohttp 97-112 us.
py-spy on the gateway with httpx put 46% of its samples in AsyncClient.send (httpcore, anyio cancel
scopes and locks, h11) and 8% more in build_request's header merging; aiohttp parses with its C
parser and its pool hands out an idle connection without scanning the others.

Nothing is added to what the client sent but Host, Content-Length and the provider key: aiohttp's
default User-Agent, Accept, Accept-Encoding and Content-Type are skipped, no cookies are kept, no
redirect is followed and no proxy is taken from the environment.
"""

from __future__ import annotations

import asyncio

import aiohttp
from yarl import URL

# aiohttp's defaults for headers the caller did not give: leave them out, as a plain pass-through would.
_SKIP = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


class UpstreamClient:
    def __init__(self, max_connections: int, connect_seconds: float, read_seconds: float) -> None:
        self.max_connections = max_connections
        # sock_read: between bytes from the provider (a long generation streams; none may stall longer).
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_seconds, sock_read=read_seconds)
        self._session: aiohttp.ClientSession | None = None
        self._urls: dict[str, URL] = {}

    def session(self) -> aiohttp.ClientSession:
        """Made on first use, inside the server's event loop (a session belongs to one loop)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=0),
                timeout=self.timeout,
                auto_decompress=False,
                skip_auto_headers=_SKIP,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
        return self._session

    def url(self, text: str) -> URL:
        """Parsed once per upstream URL (yarl's parsing shows in a per-request profile)."""
        url = self._urls.get(text)
        if url is None:
            url = self._urls[text] = URL(text)
        return url

    async def post(self, url: str, body: bytes, headers: list[tuple[str, str]]) -> aiohttp.ClientResponse:
        """The provider's response once its headers are in; the caller reads the body and closes it."""
        return await self.session().request("POST", self.url(url), data=body, headers=headers, allow_redirects=False)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
            # The transports close on the loop's next turn: give it that turn before the loop ends,
            # or their sockets are left to the garbage collector (aiohttp's documented shutdown).
            await asyncio.sleep(0)
