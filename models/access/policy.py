"""The operator's trust boundary: who may create orgs, which key variables, base URLs and webhook hosts
a member may name. Every check is here so each door (pages, CLI, worker, gateway) applies the same one.

The settings (models/settings.PolicySettings) are the operator's; a member's input only ever selects
among what they allow. Messages never say whether an undeclared variable exists or holds a value.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from models.settings import PROVIDER_BASE_URLS, get_settings
from models.tables import KeyEnvBinding, Source
from models.validation import ValidationError

KEY_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,199}$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class PolicyError(ValidationError):
    """Refused by the operator's policy; the message is safe to show to whoever asked. A ValueError
    (through ValidationError), so every page and command that reports bad input reports this too."""


def split_list(value: str | None) -> list[str]:
    """A comma-separated setting as its non-empty, stripped items."""
    return [item.strip() for item in (value or "").split(",") if item.strip()]


# --- organizations ---------------------------------------------------------------------------


def may_create_org(email: str | None) -> bool:
    """Whether a signed-in member may create organizations (SPENDSIGHT_ORG_CREATORS; the CLI always may)."""
    if not email:
        return False
    creators = {e.lower() for e in split_list(get_settings().policy.org_creators)}
    return email.strip().lower() in creators


def oidc_email_verified(claims: Mapping[str, Any]) -> bool:
    """Whether an OIDC identity's email may be trusted: the provider said `email_verified: true` (some
    send the string "true"), or the operator set SPENDSIGHT_OIDC_TRUST_UNVERIFIED_EMAIL for a provider
    that never sends the claim. A missing claim is not a yes: anyone may type any address at some
    providers, and the email decides which orgs a member sees."""
    verified = claims.get("email_verified")
    if verified is True or (isinstance(verified, str) and verified.strip().lower() == "true"):
        return True
    return get_settings().policy.oidc_trust_unverified_email


# --- key variables ---------------------------------------------------------------------------


def key_env_declared(name: str) -> bool:
    """The name matches SPENDSIGHT_KEY_ENVS (names or shell patterns; case matters, as in the environment)."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in split_list(get_settings().policy.key_envs))


def _declared_or_refuse(name: str) -> str:
    name = (name or "").strip()
    if not KEY_ENV_RE.match(name) or not key_env_declared(name):
        # One message for every refused name: set or unset, it must not be told apart.
        patterns = ", ".join(split_list(get_settings().policy.key_envs)) or "(none)"
        raise PolicyError(
            f"key variable {name[:200]!r} is not one the operator allows: names must match "
            f"SPENDSIGHT_KEY_ENVS ({patterns})"
        )
    return name


def _other_orgs_using(session: Session, name: str, org_id: str) -> bool:
    bound = select(KeyEnvBinding.id).where(KeyEnvBinding.name == name, KeyEnvBinding.org_id != org_id)
    if session.exec(bound).first() is not None:
        return True
    # Sources stored before bindings existed count too.
    used = select(Source.id).where(Source.key_env == name, Source.org_id != org_id)
    return session.exec(used).first() is not None


def _binding(session: Session, name: str, org_id: str) -> KeyEnvBinding | None:
    query = select(KeyEnvBinding).where(KeyEnvBinding.name == name, KeyEnvBinding.org_id == org_id)
    return session.exec(query).first()


def check_key_env(session: Session, *, org_id: str, name: str, shared: bool = False, by: str = "") -> None:
    """Allow `org_id` to name the key variable `name`, binding it to the org in the caller's transaction.

    The name must be declared (SPENDSIGHT_KEY_ENVS). A variable another org already uses is refused
    unless `shared` (only the operator's CLI passes it: `--shared-key`). Every feature that names a key
    variable (sources, gateway upstreams, admin keys) calls this, so one binding covers them all.
    """
    name = _declared_or_refuse(name)
    if _binding(session, name, org_id) is not None:
        return
    if _other_orgs_using(session, name, org_id) and not shared:
        raise PolicyError(
            f"key variable {name} is already used by another organization; only the operator can share "
            "it (spendsight source add ... --shared-key)"
        )
    _bind(session, KeyEnvBinding(name=name, org_id=org_id, shared=shared, created_by=by[:320]))


def check_key_env_at_run(session: Session, *, org_id: str, name: str) -> None:
    """Before a key is read for a run: still declared, and bound to this org (or, for an unbound
    variable no other org names, bound now: a source stored before bindings existed)."""
    name = _declared_or_refuse(name)
    if _binding(session, name, org_id) is not None:
        return
    if _other_orgs_using(session, name, org_id):
        raise PolicyError(
            f"key variable {name} is not bound to {org_id} and another organization uses it; "
            "the operator can share it (spendsight source add ... --shared-key)"
        )
    _bind(session, KeyEnvBinding(name=name, org_id=org_id, created_by="run"))


def _bind(session: Session, binding: KeyEnvBinding) -> None:
    """A concurrent first claim by another org loses with a message; the caller's transaction then
    rolls back whole (no savepoint: pysqlite's RELEASE would commit the caller's work early)."""
    session.add(binding)
    try:
        session.flush()
    except IntegrityError:
        raise PolicyError(f"key variable {binding.name} was just bound to another organization") from None


# --- base URLs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Url:
    scheme: str
    host: str
    port: int
    path: str  # without a trailing "/"


def _parse_url(url: str, what: str) -> _Url:
    """Scheme, host, port and path of a plain http(s) URL; anything unusual is refused, not guessed."""
    if len(url) > 1000 or any(c.isspace() or ord(c) < 32 or c == "\\" for c in url):
        raise PolicyError(f"{what} must be a plain http(s) URL")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise PolicyError(f"{what} has an invalid port") from None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise PolicyError(f"{what} must be an http(s) URL such as https://api.openai.com/v1")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise PolicyError(f"{what} must not carry credentials, a query or a fragment")
    path = parts.path.rstrip("/")
    if any(seg in (".", "..") for seg in unquote(path).split("/")) or "%2f" in path.lower():
        raise PolicyError(f"{what} must not contain '.' or '..' path segments")
    return _Url(parts.scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[parts.scheme], path)


def url_has_prefix(url: str, prefix: str) -> bool:
    """`url` is under `prefix`: same scheme, host and port, and its path equals the prefix's or goes on
    after a '/' (so https://api.openai.com.evil.example and https://api.openai.com:444 are not under
    https://api.openai.com, nor /v10 under /v1)."""
    try:
        u, p = _parse_url(url, "URL"), _parse_url(prefix, "prefix")
    except PolicyError:
        return False
    if (u.scheme, u.host, u.port) != (p.scheme, p.host, p.port):
        return False
    return u.path == p.path or u.path.startswith(p.path + "/")


def check_base_url(url: str | None, provider: str) -> str:
    """The base URL to store for a source of `provider`: its official API root when none is given,
    else a URL under the official root or under one of SPENDSIGHT_ALLOWED_BASE_URLS."""
    official = PROVIDER_BASE_URLS.get((provider or "").strip().lower())
    url = (url or "").strip()
    if not url:
        if official is None:
            raise PolicyError(f"provider {provider!r} has no official API URL; give one the operator allows")
        return official
    url = url.rstrip("/")
    _parse_url(url, "base URL")
    allowed = ([official] if official else []) + split_list(get_settings().policy.allowed_base_urls)
    if not any(url_has_prefix(url, prefix) for prefix in allowed):
        raise PolicyError(
            f"base URL {url[:200]} is not allowed: use the provider's official API "
            f"({official or 'none'}) or a URL the operator lists in SPENDSIGHT_ALLOWED_BASE_URLS"
        )
    return url


# --- webhooks --------------------------------------------------------------------------------


class UnresolvedHost(PolicyError):
    """The webhook's host does not resolve (now): trying again later may succeed."""


def address_is_public(address: str) -> bool:
    """A globally routable unicast address (not loopback, private, link-local, shared, reserved or
    multicast); an IPv4 address mapped or embedded in IPv6 is judged as itself."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return address_is_public(str(embedded))
    return ip.is_global and not ip.is_multicast


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to now (an IP literal is itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnresolvedHost(f"webhook host {host} does not resolve") from None
    return sorted({str(info[4][0]) for info in infos})


@dataclass(frozen=True)
class WebhookTarget:
    """A checked webhook: where to connect. `address` is None when the operator allowed the host by
    name (then it is connected to as usual); else the public address that was checked."""

    url: str
    host: str
    port: int
    address: str | None


def check_webhook_url(url: str) -> None:
    """Refuse a webhook URL outside SPENDSIGHT_ALLOWED_WEBHOOK_HOSTS, or (with none listed) one whose
    host is or resolves to a loopback, private, link-local or otherwise non-public address."""
    webhook_target(url)


def webhook_target(url: str) -> WebhookTarget:
    """check_webhook_url, returning the address to connect to. Call it again at delivery time and
    connect to that address: a name that resolved to a public address when saved may not now."""
    parsed = _parse_webhook(url)
    allowed = {h.lower().rstrip(".") for h in split_list(get_settings().policy.allowed_webhook_hosts)}
    if allowed:
        if parsed.host.rstrip(".") not in allowed:
            raise PolicyError(
                f"webhook host {parsed.host} is not allowed: "
                "the operator lists hosts in SPENDSIGHT_ALLOWED_WEBHOOK_HOSTS"
            )
        return WebhookTarget(url, parsed.host, parsed.port, None)
    addresses = resolve(parsed.host, parsed.port)
    if not addresses or not all(address_is_public(a) for a in addresses):
        raise PolicyError(
            f"webhook host {parsed.host} is a loopback, private or link-local address (or resolves to one); "
            "the operator can allow it in SPENDSIGHT_ALLOWED_WEBHOOK_HOSTS"
        )
    return WebhookTarget(url, parsed.host, parsed.port, addresses[0])


def _parse_webhook(url: str) -> _Url:
    url = (url or "").strip()
    parts = urlsplit(url)
    if len(url) > 1000 or any(c.isspace() or ord(c) < 32 or c == "\\" for c in url):
        raise PolicyError("webhook URL must be a plain http(s) URL")
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise PolicyError("webhook URL must be an http(s) URL such as https://hooks.slack.com/services/...")
    if parts.username is not None or parts.password is not None:
        raise PolicyError("webhook URL must not carry credentials")
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise PolicyError("webhook URL has an invalid port") from None
    return _Url(parts.scheme, parts.hostname.lower(), port, parts.path)
