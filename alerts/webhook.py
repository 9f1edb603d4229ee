"""Slack-compatible webhook delivery: POST {"text": ...} as JSON. The URL is a secret: errors name
only its host."""

from __future__ import annotations

from alerts.config import redact_url
from alerts.mail import SendFailure

TIMEOUT_SECONDS = 10.0


def post(url: str, text: str) -> None:
    import httpx  # lazy: every ingest imports this module to check alerts, few post (~0.1 s)

    try:
        response = httpx.post(url, json={"text": text}, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        raise SendFailure(f"webhook {redact_url(url)} unreachable: {type(exc).__name__}") from None
    if response.is_success:
        return
    code = response.status_code
    permanent = 400 <= code < 500 and code not in (408, 425, 429)
    raise SendFailure(f"webhook {redact_url(url)} answered {code} {response.text[:200]}", permanent=permanent)
