"""Configured collector sources: owner-only, audited changes (add, enable, disable, run now) and the
read-only views pages and the CLI show.

A source stores the *name* of the variable holding its admin key, never the key. Every change takes
an Actor and checks `require_owner` in the caller's session, with the audit record in the same
transaction.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from sqlmodel import Session, select

from models.access.audit import record
from models.access.orgs import get_org
from models.access.policy import check_base_url, check_key_env, check_key_env_at_run, split_list
from models.access.roles import Actor, PermissionDenied, require_owner
from models.db import session_scope, utcnow
from models.settings import PROVIDER_BASE_URLS, get_settings
from models.tables import Source, SourceCursor
from models.validation import ValidationError

ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,199}$")
SOURCE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
# What keys look like: a value pasted where the variable's *name* belongs.
_KEY_PREFIXES = ("sk-", "sk_", "sess-")


def validate_key_env(value: str) -> str:
    """The variable's name. The value is never echoed: a mistake here is usually the key itself."""
    value = (value or "").strip()
    if value.lower().startswith(_KEY_PREFIXES) or not ENV_NAME_RE.match(value):
        raise ValidationError(
            "key-env must be the NAME of an environment variable made of letters, digits "
            "and '_' (e.g. OPENAI_ADMIN_KEY), not the key itself: put the key in that "
            "variable or in .streamlit/secrets.toml"
        )
    return value


def validate_base_url(value: str) -> str:
    value = (value or "").strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(f"base-url {value!r} must be an http(s) URL such as https://api.openai.com/v1")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValidationError("base-url must not carry credentials, a query or a fragment")
    if len(value) > 500:
        raise ValidationError("base-url is longer than 500 characters")
    return value


def validate_source_name(value: str) -> str:
    value = (value or "").strip()
    if not SOURCE_NAME_RE.match(value):
        raise ValidationError(f"source name {value!r}: use 1-100 letters, digits, '-', '_', '.' or ':'")
    return value


def _public(source: Source) -> dict[str, object]:
    return {
        "name": source.name,
        "org_id": source.org_id,
        "provider": source.provider,
        "key_env": source.key_env,
        "base_url": source.base_url,
        "enabled": source.enabled,
    }


def add_source(
    session: Session,
    actor: Actor,
    org_id: str,
    provider: str,
    key_env: str,
    base_url: str | None = None,
    name: str | None = None,
    shared_key: bool = False,
) -> Source:
    """Create a source for an org; its name defaults to '<org>-<provider>'.

    The key variable and base URL must be ones the operator allows (models/access/policy.py); the
    variable is bound to the org in this transaction. `shared_key` lets the operator (a system actor,
    the CLI's --shared-key) name a variable another org already uses; nobody else may pass it.
    """
    require_owner(session, actor, org_id)  # first: a non-member learns nothing, not even that the org exists
    if shared_key and not actor.system:
        raise PermissionDenied("only the operator can share a key variable between organizations")
    get_org(session, org_id)
    provider = (provider or "").strip().lower()
    if provider not in PROVIDER_BASE_URLS:
        raise ValidationError(f"provider {provider!r} must be one of {', '.join(PROVIDER_BASE_URLS)}")
    key_env = validate_key_env(key_env)
    base_url = check_base_url(validate_base_url(base_url) if base_url else None, provider)
    name = validate_source_name(name or f"{org_id}-{provider}")
    if session.exec(select(Source).where(Source.name == name)).first() is not None:
        raise ValidationError(f"a source named {name!r} already exists; pick another with --name")
    check_key_env(session, org_id=org_id, name=key_env, shared=shared_key, by=actor.label)
    source = Source(org_id=org_id, name=name, provider=provider, key_env=key_env, base_url=base_url)
    session.add(source)
    session.flush()
    record(session, actor, "source.add", org_id, name, after=_public(source))
    return source


def get_source(session: Session, name: str) -> Source:
    source = session.exec(select(Source).where(Source.name == (name or "").strip())).first()
    if source is None:
        raise ValidationError(f"no source named {name!r} (see `spendsight source list`)")
    return source


def set_enabled(session: Session, actor: Actor, name: str, enabled: bool) -> Source:
    source = get_source(session, name)
    require_owner(session, actor, source.org_id)
    before = _public(source)
    source.enabled = enabled
    if enabled:
        source.next_run_at = None  # due at once
    session.add(source)
    session.flush()
    if before["enabled"] == enabled:
        return source  # already so: not a change for the audit log
    record(
        session,
        actor,
        "source.enable" if enabled else "source.disable",
        source.org_id,
        source.name,
        before=before,
        after=_public(source),
    )
    return source


def check_source_policy(session: Session, source: Source) -> None:
    """The operator's policy, again, for a stored source about to use its key: the variable still
    declared and bound to the source's org, the base URL still allowed. Raises PolicyError."""
    check_key_env_at_run(session, org_id=source.org_id, name=source.key_env)
    check_base_url(source.base_url, source.provider)


def policy_summary() -> dict[str, list[str]]:
    """What the operator allows sources to name (shown beside the form): key variable patterns, and
    base URL prefixes (the providers' official APIs first)."""
    policy = get_settings().policy
    return {
        "key_envs": split_list(policy.key_envs),
        "base_urls": list(PROVIDER_BASE_URLS.values()) + split_list(policy.allowed_base_urls),
    }


def request_run(session: Session, actor: Actor, name: str) -> Source:
    """Ask the worker to collect this source now (it polls every few seconds)."""
    source = get_source(session, name)
    require_owner(session, actor, source.org_id)
    if not source.enabled:
        raise ValidationError(f"source {source.name} is disabled; enable it first")
    check_source_policy(session, source)  # say so now; the run checks again before reading the key
    source.run_requested_at = utcnow()
    session.add(source)
    session.flush()
    record(session, actor, "source.run", source.org_id, source.name, after={"requested_at": source.run_requested_at})
    return source


def list_sources(session: Session, org_id: str | None = None) -> list[Source]:
    query = select(Source).order_by(Source.org_id, Source.name)
    if org_id:
        query = query.where(Source.org_id == org_id)
    return list(session.exec(query))


# --- views -------------------------------------------------------------------------------------

STATUS_COLUMNS = (
    "name",
    "provider",
    "enabled",
    "key_env",
    "key_set",
    "base_url",
    "last_run_at",
    "last_success_at",
    "last_rows",
    "rows_written",
    "last_error",
    "next_run_at",
    "run_requested_at",
)


def source_status(org_id: str) -> list[dict[str, object]]:
    """One dict per source of the org. `key_set` says whether the key variable is set, never its value."""
    settings = get_settings()
    with session_scope() as session:
        sources = list(session.exec(select(Source).where(Source.org_id == org_id).order_by(Source.name)))
        out = []
        for s in sources:
            row = {c: getattr(s, c) for c in STATUS_COLUMNS if c != "key_set"}
            row["key_set"] = settings.has_secret(s.key_env)
            out.append(row)
        return out


def endpoint_status(org_id: str) -> list[dict[str, object]]:
    """Per source and endpoint: how far it is collected, the last run's rows and error."""
    with session_scope() as session:
        query = (
            select(  # type: ignore[call-overload]  # sqlmodel's select() is typed for up to 4 columns
                Source.name,
                SourceCursor.endpoint,
                SourceCursor.collected_until,
                SourceCursor.last_rows,
                SourceCursor.last_error,
                SourceCursor.updated_at,
            )
            .join(SourceCursor, SourceCursor.source_id == Source.id)
            .where(Source.org_id == org_id)
            .order_by(Source.name, SourceCursor.endpoint)
        )
        return [
            {
                "source": r[0],
                "endpoint": r[1],
                "collected_until": r[2],
                "last_rows": r[3],
                "last_error": r[4],
                "updated_at": r[5],
            }
            for r in session.exec(query)
        ]
