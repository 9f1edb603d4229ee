"""Slack-compatible webhook delivery: POST {"text": ...} as JSON. The URL is a secret: errors name
only its host. The answer's body is never kept (a hostile endpoint could echo anything into it).

Every delivery checks the URL against the operator's policy again and, unless the operator allowed
the host by name, connects to the very address that check approved, so a name re-pointed at a
private address after it was saved (DNS rebinding) is refused rather than followed."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from alerts.config import redact_url
from alerts.mail import SendFailure
from models.access.policy import PolicyError, UnresolvedHost, WebhookTarget, webhook_target

TIMEOUT_SECONDS = 10.0


def pinned(target: WebhookTarget) -> tuple[str, dict[str, str], dict[str, str]]:
    """The URL, headers and httpx extensions that reach `target.address` while speaking to the
    named host: Host header and TLS server name (SNI, certificate check) stay the host's."""
    parts = urlsplit(target.url)
    if target.address is None:
        return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, "")), {}, {}
    ip = f"[{target.address}]" if ":" in target.address else target.address
    netloc = f"{ip}:{parts.port}" if parts.port else ip
    url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    host = f"{target.host}:{parts.port}" if parts.port else target.host
    extensions = {"sni_hostname": target.host} if parts.scheme == "https" else {}
    return url, {"Host": host}, extensions


def post(url: str, text: str) -> None:
    import httpx  # lazy: every ingest imports this module to check alerts, few post (~0.1 s)

    try:
        target = webhook_target(url)
    except PolicyError as exc:
        # A host that does not resolve now may later; one the policy refuses will not be allowed by retrying.
        raise SendFailure(f"webhook refused: {exc}", permanent=not isinstance(exc, UnresolvedHost)) from None
    request_url, headers, extensions = pinned(target)
    try:
        # Pinned to a checked address: no proxy from the environment may resolve the name instead.
        with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=target.address is None) as client:
            response = client.post(request_url, json={"text": text}, headers=headers, extensions=extensions)
    except httpx.HTTPError as exc:
        raise SendFailure(f"webhook {redact_url(url)} unreachable: {type(exc).__name__}") from None
    if response.is_success:
        return
    code = response.status_code
    permanent = 400 <= code < 500 and code not in (408, 425, 429)
    raise SendFailure(f"webhook {redact_url(url)} answered {code}", permanent=permanent)
