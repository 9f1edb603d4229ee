"""Provider keys a limit switches off at its hard cap: which keys, under which limit, and what was done.

The opt-in lever for traffic that does not pass through the gateway. An owner lists Anthropic API
key ids (`apikey_...`, never a key) under a limit scope and names the org's Anthropic source whose
admin key may act on them; `worker/key_actions.py` does the switching. Changes go through an `Actor`,
`require_owner` and an audit row in the same transaction, like every other change to a limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from models.access.audit import record
from models.access.orgs import get_org
from models.access.roles import Actor, PermissionDenied, require_owner, role_of
from models.db import session_scope, utcnow
from models.tables import ProviderKeyAction, ProviderKeyLink, Source
from models.validation import ValidationError, validate_project

# Anthropic's key ids: "apikey_" and base62 (see the Admin API's API-keys listing).
KEY_ID = re.compile(r"apikey_[A-Za-z0-9]{1,90}")
PROVIDERS = ("anthropic",)  # the one provider whose Admin API can switch a key off and on again


@dataclass(frozen=True)
class KeyLink:
    id: int
    org_id: str
    project_id: str
    source: str
    api_key_id: str
    state: str

    @property
    def scope(self) -> str:
        return self.project_id or "(organization)"


@dataclass(frozen=True)
class KeyActionView:
    at: datetime
    api_key_id: str
    project_id: str
    action: str
    reason: str
    ok: bool
    error: str


def validate_key_id(value: str) -> str:
    value = (value or "").strip()
    if not KEY_ID.fullmatch(value):
        raise ValidationError(f"key id: {value[:40]!r} is not an Anthropic API key id (apikey_...)")
    return value


def _source(session: Session, org_id: str, name: str) -> Source:
    """The org's own Anthropic source: its admin key is the one that acts, so it must be this org's."""
    source = session.exec(select(Source).where(Source.name == name)).first()
    if source is None or source.org_id != org_id:
        # The same words whether the source is missing or another org's: nothing about other orgs leaks.
        raise ValidationError(f"source: {org_id} has no source named {name!r}")
    if source.provider not in PROVIDERS:
        raise ValidationError(f"source: {name!r} is a {source.provider} source; keys can be switched for anthropic")
    return source


def _require_member(session: Session, actor: Actor, org_id: str) -> None:
    if role_of(session, actor, org_id) is None:
        raise PermissionDenied(f"{actor.label} is not a member of {org_id}")


def _view(link: ProviderKeyLink, source_name: str) -> KeyLink:
    assert link.id is not None
    return KeyLink(link.id, link.org_id, link.project_id, source_name, link.api_key_id, link.state)


def link_key(actor: Actor, org_id: str, project_id: str | None, source: str, api_key_id: str) -> KeyLink:
    """List a key under a limit scope; it is switched off when that scope's hard limit is reached."""
    project_id = validate_project(project_id)
    api_key_id = validate_key_id(api_key_id)
    with session_scope() as session:
        require_owner(session, actor, org_id)
        get_org(session, org_id)
        src = _source(session, org_id, source)
        existing = session.exec(
            select(ProviderKeyLink).where(
                ProviderKeyLink.org_id == org_id,
                ProviderKeyLink.project_id == project_id,
                ProviderKeyLink.api_key_id == api_key_id,
            )
        ).first()
        if existing is not None:
            raise ValidationError(f"key: {api_key_id} is already listed under this limit")
        assert src.id is not None
        link = ProviderKeyLink(
            org_id=org_id, project_id=project_id, source_id=src.id, api_key_id=api_key_id, created_by=actor.label
        )
        session.add(link)
        session.flush()
        after = {"project": project_id, "source": src.name, "key": api_key_id}
        record(session, actor, "limit.key_link", org_id, f"key:{api_key_id}", None, after)
        return _view(link, src.name)


def unlink_key(actor: Actor, org_id: str, project_id: str | None, api_key_id: str) -> bool:
    """Stop switching a key. A key Spendsight switched off stays off: the owner decides, not us."""
    project_id = validate_project(project_id)
    api_key_id = validate_key_id(api_key_id)
    with session_scope() as session:
        require_owner(session, actor, org_id)
        link = session.exec(
            select(ProviderKeyLink).where(
                ProviderKeyLink.org_id == org_id,
                ProviderKeyLink.project_id == project_id,
                ProviderKeyLink.api_key_id == api_key_id,
            )
        ).first()
        if link is None:
            return False
        before = {"project": project_id, "key": api_key_id, "state": link.state}
        record(session, actor, "limit.key_unlink", org_id, f"key:{api_key_id}", before, None)
        session.delete(link)
        return True


def key_links(actor: Actor, org_id: str) -> list[KeyLink]:
    """The org's listed keys (any member may see them: they are ids, not secrets)."""
    with session_scope() as session:
        _require_member(session, actor, org_id)
        rows = session.exec(
            select(ProviderKeyLink, Source.name)
            .join(Source, col(Source.id) == ProviderKeyLink.source_id)
            .where(ProviderKeyLink.org_id == org_id)
            .order_by(col(ProviderKeyLink.project_id), col(ProviderKeyLink.api_key_id))
        ).all()
        return [_view(link, name) for link, name in rows]


def key_actions(actor: Actor, org_id: str, limit: int = 200) -> list[KeyActionView]:
    """What the worker did to the org's keys, newest first."""
    with session_scope() as session:
        _require_member(session, actor, org_id)
        rows = session.exec(
            select(ProviderKeyAction, ProviderKeyLink)
            .join(ProviderKeyLink, col(ProviderKeyLink.id) == ProviderKeyAction.link_id)
            .where(ProviderKeyAction.org_id == org_id)
            .order_by(col(ProviderKeyAction.at).desc(), col(ProviderKeyAction.id).desc())
            .limit(limit)
        ).all()
        return [
            KeyActionView(a.at, link.api_key_id, link.project_id, a.action, a.reason, a.ok, a.error) for a, link in rows
        ]


def linked_scopes() -> dict[str, list[ProviderKeyLink]]:
    """org id -> its links, for the worker (a system process: no actor)."""
    with session_scope() as session:
        rows = session.exec(select(ProviderKeyLink).order_by(col(ProviderKeyLink.id))).all()
        out: dict[str, list[ProviderKeyLink]] = {}
        for row in rows:
            session.expunge(row)
            out.setdefault(row.org_id, []).append(row)
        return out


def note_action(
    link: ProviderKeyLink, action: str, reason: str, ok: bool, error: str = "", actor: Actor | None = None
) -> int:
    """Record one switch (and, when it worked, the key's new state and an audit row) in one transaction."""
    actor = actor or Actor("provider-action", system=True)
    assert link.id is not None
    with session_scope() as session:
        if not ok:
            last = session.exec(
                select(ProviderKeyAction)
                .where(ProviderKeyAction.link_id == link.id)
                .order_by(col(ProviderKeyAction.id).desc())
                .limit(1)
            ).first()
            if last is not None and not last.ok and last.action == action and last.error == error[:500]:
                last.at = utcnow()  # the same failure again: one row, its time moved on
                session.add(last)
                assert last.id is not None
                return last.id
        row = ProviderKeyAction(
            link_id=link.id, org_id=link.org_id, action=action, reason=reason[:300], ok=ok, error=error[:500]
        )
        session.add(row)
        if ok:
            current = session.get(ProviderKeyLink, link.id)
            if current is not None:
                before = current.state
                current.state = "inactive" if action == "deactivate" else "active"
                session.add(current)
                record(
                    session,
                    actor,
                    f"limit.key_{action}",
                    link.org_id,
                    f"key:{link.api_key_id}",
                    {"state": before},
                    {"state": current.state, "reason": reason},
                )
        row.at = utcnow()
        session.flush()
        assert row.id is not None
        return row.id
