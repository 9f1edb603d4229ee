"""HTTP for the provider collectors: one retry policy, one JSON page fetcher, one paginator.

Every provider admin API we read pages the same way (`has_more` + `next_page`, sent back as
`page`), and fails the same ways (429 with Retry-After, 5xx, timeouts, resets, a body cut short).
Errors carry messages that are safe to store and show: they never include a header, and any text
taken from a response is scrubbed of anything that looks like a key.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from models.settings import get_settings

log = logging.getLogger("spendsight.collect")

# A page of a listing as the provider sent it; page_problem() checks its shape before it is read.
Page = dict[str, Any]
Params = list[tuple[str, str]]  # a query string's pairs, repeated keys allowed

# Anything shaped like a provider key, e.g. in an error body that echoes a partial key back.
_KEYLIKE = re.compile(r"(sk-[A-Za-z0-9_\-.*]{3,}|[A-Za-z0-9_\-]{32,})")
RETRY_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529}


@dataclass
class RetryPolicy:
    """How hard one request is retried: attempts, exponential backoff with jitter, a sleep budget."""

    attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0
    budget: float = 300.0  # seconds of sleeping allowed for one request before giving up
    timeout: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def from_env(cls) -> RetryPolicy:
        s = get_settings().http
        return cls(
            attempts=max(1, s.retry_attempts),
            base_delay=s.retry_base_seconds,
            max_delay=s.retry_max_seconds,
            budget=s.retry_budget_seconds,
            timeout=s.timeout_seconds,
        )

    def backoff(self, attempt: int) -> float:
        """Delay before retry number `attempt` (1-based): exponential, capped, 50-100% jitter."""
        ceiling: float = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))  # (int ** int is typed Any)
        return ceiling * (0.5 + self.rng.random() / 2)


class CollectError(Exception):
    """A request failed for good; the message is safe to store on the source and show on a page."""

    retryable = False


class AuthError(CollectError):
    """The provider refused the key (401/403): no point trying other endpoints of this source."""


class GiveUp(CollectError):
    """Retries or their budget ran out."""


class _Transient(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def scrub(text: str, secret: str | None = None) -> str:
    """Text with the secret and anything key-shaped replaced; safe to log, store and show."""
    if secret:
        text = text.replace(secret, "[redacted]")
    return _KEYLIKE.sub("[redacted]", text)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (now if now is not None else datetime.now(UTC).timestamp()))


def _error_detail(response: httpx.Response, secret: str | None) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    err = body.get("error") if isinstance(body, dict) else None
    message = err.get("message") if isinstance(err, dict) else err if isinstance(err, str) else None
    return f": {scrub(str(message), secret)[:300]}" if message else ""


def get_json(
    client: httpx.Client, url: str, params: Params, policy: RetryPolicy, secret: str | None = None, what: str = ""
) -> Page:
    """GET a JSON object, retrying transient failures within the policy; raises CollectError."""
    label = what or httpx.URL(url).path
    slept = 0.0
    last = ""
    for attempt in range(1, policy.attempts + 1):
        try:
            return _attempt(client, url, params, secret, label)
        except _Transient as exc:
            last = str(exc)
            if attempt == policy.attempts:
                break
            delay = exc.retry_after if exc.retry_after is not None else policy.backoff(attempt)
            if slept + delay > policy.budget:
                raise GiveUp(
                    f"{label}: {last}; waiting {delay:.0f} s more would exceed the retry budget "
                    f"of {policy.budget:.0f} s"
                ) from None
            log.warning("%s: %s; retry %d/%d in %.1f s", label, last, attempt, policy.attempts - 1, delay)
            policy.sleep(delay)
            slept += delay
    raise GiveUp(f"{label}: {last}; gave up after {policy.attempts} attempts")


def _attempt(client: httpx.Client, url: str, params: Params, secret: str | None, label: str) -> Page:
    try:
        # (httpx types a list of pairs invariantly, as list[tuple[str, str | int | float | bool | None]])
        response = client.get(url, params=params)  # type: ignore[arg-type]
        body = response.content  # reads the whole body: a cut-short body raises here
    except httpx.TimeoutException as exc:
        raise _Transient(f"timed out ({type(exc).__name__})") from None
    except httpx.TransportError as exc:
        raise _Transient(f"connection failed ({type(exc).__name__}: {scrub(str(exc), secret)[:200]})") from None
    status = response.status_code
    if status in RETRY_STATUSES:
        raise _Transient(f"HTTP {status}", parse_retry_after(response.headers.get("retry-after")))
    if status in (401, 403):
        raise AuthError(
            f"{label}: HTTP {status}: the provider refused the admin key "
            "(check the key's variable and that it is an admin key)"
        )
    if status >= 400:
        raise CollectError(f"{label}: HTTP {status}{_error_detail(response, secret)}")
    try:
        data = json.loads(body)
    except ValueError:
        raise _Transient(f"invalid JSON in a {len(body)}-byte response") from None
    if not isinstance(data, dict):
        raise _Transient("response is not a JSON object")
    return data


def paginate(
    client: httpx.Client,
    url: str,
    params: Mapping[str, str] | list[tuple[str, str]],
    policy: RetryPolicy,
    secret: str | None = None,
    what: str = "",
    max_pages: int = 10_000,
) -> Iterator[Page]:
    """Yield each page of a `has_more`/`next_page` listing; a malformed page is retried like a 5xx."""
    base = list(params.items()) if isinstance(params, Mapping) else list(params)
    token: str | None = None
    for _ in range(max_pages):
        query = base + ([("page", token)] if token else [])
        page = _checked_page(client, url, query, policy, secret, what)
        yield page
        if not page.get("has_more"):
            return
        token = page["next_page"]
    raise CollectError(f"{what or url}: more than {max_pages} pages; narrow the window")


def _checked_page(
    client: httpx.Client, url: str, query: Params, policy: RetryPolicy, secret: str | None, what: str
) -> Page:
    """A page whose shape is usable; a half-written page (valid JSON, wrong shape) is fetched again."""
    for attempt in range(1, policy.attempts + 1):
        page = get_json(client, url, query, policy, secret, what)
        problem = page_problem(page)
        if problem is None:
            return page
        log.warning("%s: %s; fetching the page again", what or url, problem)
        if attempt < policy.attempts:
            policy.sleep(policy.backoff(attempt))
    raise GiveUp(f"{what or url}: {problem}; gave up after {policy.attempts} attempts")


def page_problem(page: Page) -> str | None:
    if not isinstance(page.get("data"), list):
        return "page has no data list"
    if not isinstance(page.get("has_more"), bool):
        return "page has no has_more flag"
    if page["has_more"] and not isinstance(page.get("next_page"), str):
        return "has_more is true but next_page is missing"
    for bucket in page["data"]:
        if not isinstance(bucket, dict) or not isinstance(bucket.get("results"), list):
            return "a bucket has no results list"
    return None


def make_client(headers: dict[str, str], policy: RetryPolicy) -> httpx.Client:
    """An httpx client for one run: the auth headers live only here, never in messages."""
    return httpx.Client(headers=headers, timeout=httpx.Timeout(policy.timeout), follow_redirects=False)
