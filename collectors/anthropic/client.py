"""Anthropic Admin API requests: x-api-key + anthropic-version, RFC 3339 windows, `next_page` pagination."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx

from collectors.anthropic.settings import API_VERSION, WIDTH_PARAM
from collectors.http import Page, Params, RetryPolicy, paginate


def headers(key: str) -> dict[str, str]:
    return {"x-api-key": key, "anthropic-version": API_VERSION, "Accept": "application/json"}


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def query(group_by: tuple[str, ...]) -> Callable[[datetime, datetime, int, int], Params]:
    """The query builder for one report: starting_at/ending_at, group_by[] repeated."""

    def build(start: datetime, end: datetime, width: int, limit: int) -> list[tuple[str, str]]:
        params = [
            ("starting_at", rfc3339(start)),
            ("ending_at", rfc3339(end)),
            ("bucket_width", WIDTH_PARAM[width]),
            ("limit", str(limit)),
        ]
        return params + [("group_by[]", field) for field in group_by]

    return build


def bucket_start(bucket: Page) -> datetime:
    value = bucket["starting_at"]
    if not isinstance(value, str):
        raise ValueError(f"starting_at must be an RFC 3339 time, got {value!r}")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"starting_at {value!r} has no time zone")
    return moment.astimezone(UTC)


def pages(
    client: httpx.Client,
    url: str,
    params: list[tuple[str, str]],
    policy: RetryPolicy,
    secret: str | None = None,
    what: str = "",
) -> Iterator[Page]:
    """Every page of one report: `page=<next_page>` while `has_more`."""
    return paginate(client, url, params, policy, secret, what)
