"""The upstream HTTP client: several small httpx pools used in turn instead of one large one.

httpcore's pool looks at every connection it holds on each request (an expiry check with a select()
per connection, under the pool's lock), so one pool of hundreds of keep-alive connections costs a scan
of all of them per request. py-spy on the gateway at 50 concurrent clients (bench/gateway.py) put 34%
of its time in `AsyncConnectionPool._assign_requests_to_connections`. Small pools keep that scan short;
the total number of connections stays what the operator set.
"""

from __future__ import annotations

import itertools

import httpx

SHARDS = 16


class UpstreamClient:
    def __init__(self, max_connections: int, timeout: httpx.Timeout) -> None:
        per_shard = max(4, -(-max_connections // SHARDS))
        self.clients = [
            httpx.AsyncClient(
                timeout=timeout,
                limits=httpx.Limits(max_connections=per_shard, max_keepalive_connections=per_shard),
                http1=True,
                follow_redirects=False,
                trust_env=False,  # the operator's upstream URL, not a proxy from the environment
            )
            for _ in range(SHARDS)
        ]
        self._turn = itertools.cycle(self.clients)

    def build_request(
        self, method: str, url: str, *, content: bytes, headers: list[tuple[bytes, bytes]]
    ) -> httpx.Request:
        return self.clients[0].build_request(method, url, content=content, headers=headers)

    async def send(self, request: httpx.Request, *, stream: bool) -> httpx.Response:
        return await next(self._turn).send(request, stream=stream)

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()
