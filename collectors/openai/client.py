"""OpenAI admin API requests: bearer auth, Unix-second windows, `next_page` pagination."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx

from collectors.http import Page, Params, RetryPolicy, paginate
from collectors.openai.settings import WIDTH_PARAM


def headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Accept": "application/json"}


def query(group_by: tuple[str, ...]) -> Callable[[datetime, datetime, int, int], Params]:
    """The query builder for one endpoint: start_time/end_time in Unix seconds, group_by repeated."""

    def build(start: datetime, end: datetime, width: int, limit: int) -> list[tuple[str, str]]:
        params = [
            ("start_time", str(int(start.timestamp()))),
            ("end_time", str(int(end.timestamp()))),
            ("bucket_width", WIDTH_PARAM[width]),
            ("limit", str(limit)),
        ]
        return params + [("group_by", field) for field in group_by]

    return build


def bucket_start(bucket: Page) -> datetime:
    value = bucket["start_time"]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"start_time must be Unix seconds, got {value!r}")
    return datetime.fromtimestamp(value, UTC)


def pages(
    client: httpx.Client,
    url: str,
    params: list[tuple[str, str]],
    policy: RetryPolicy,
    secret: str | None = None,
    what: str = "",
) -> Iterator[Page]:
    """Every page of one listing: `page=<next_page>` while `has_more`."""
    return paginate(client, url, params, policy, secret, what)
