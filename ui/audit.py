"""Cached reads for the audit log page; the owner check happens in models.audit.owner_entries."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from functools import reduce
from typing import Any

import pandas as pd
import streamlit as st

from models.access import audit as _audit
from models.access.roles import Actor, owned_orgs
from models.db import session_scope, utcnow
from ui.i18n import t
from ui.queries import ensure_db

LIMIT = 1000
COLUMNS = ("at", "actor", "org_id", "action", "entity", "before", "after")
LIMIT_FIELDS = ("soft_usd", "hard_usd", "quota_usd")


def _load(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


def _usd(value: object) -> str:
    """$3,965 or $3,965.50: whole dollars without cents, as people write limits."""
    amount = Decimal(str(value))
    return f"${amount:,.0f}" if amount == amount.to_integral_value() else f"${amount:,.2f}"


def _joined(parts: list[str]) -> str:
    """Clauses joined as the language joins them ("a; b" / "a；b")."""
    return reduce(lambda a, b: t("audit.say.and", a=a, b=b), parts) if parts else ""


def _scope(entity: str) -> str:
    project = entity.split(":", 1)[1] if entity.startswith("limit:") else entity
    return t("audit.say.org_scope") if project in ("*", "") else project


def sentence(actor: str, action: str, entity: str, before_text: str, after_text: str) -> str:
    """One audit row as a sentence: "owner@… raised the soft limit of search-rag from $3,965 to $4,200"."""
    before, after = _load(before_text), _load(after_text)
    if action == "limit.set" and isinstance(after, dict):
        scope, old = _scope(entity), before if isinstance(before, dict) else {}
        parts = []
        for name in LIMIT_FIELDS:
            was, now = old.get(name), after.get(name)
            what = t(f"audit.say.{name}")
            if was == now:
                continue
            if now is None:
                parts.append(t("audit.say.removed", what=what, scope=scope, old=_usd(was)))
            elif was is None:
                parts.append(t("audit.say.set", what=what, scope=scope, new=_usd(now)))
            else:
                verb = "raised" if Decimal(str(now)) > Decimal(str(was)) else "lowered"
                parts.append(t(f"audit.say.{verb}", what=what, scope=scope, old=_usd(was), new=_usd(now)))
        if old.get("thresholds") != after.get("thresholds") and after.get("thresholds") is not None:
            marks = ", ".join(f"{v}%" for v in after["thresholds"])
            parts.append(t("audit.say.thresholds", scope=scope, new=marks))
        return t("audit.say.who", who=actor, what=_joined(parts) or t("audit.say.resaved", scope=scope))
    if action == "limit.clear":
        return t("audit.say.who", who=actor, what=t("audit.say.limit_clear", scope=_scope(entity)))
    if action == "member.set" and isinstance(after, dict):
        role = t(f"role.{after.get('role', 'reader')}")
        if isinstance(before, dict):
            was = t(f"role.{before.get('role', 'reader')}")
            return t("audit.say.who", who=actor, what=t("audit.say.member_change", email=entity, old=was, new=role))
        return t("audit.say.who", who=actor, what=t("audit.say.member_add", email=entity, role=role))
    if action == "member.remove":
        return t("audit.say.who", who=actor, what=t("audit.say.member_remove", email=entity))
    if action == "org.update" and isinstance(after, dict) and isinstance(before, dict):
        changes = [
            t("audit.say.org_field", field=name, old=before.get(name), new=value)
            for name, value in after.items()
            if before.get(name) != value
        ]
        return t("audit.say.who", who=actor, what=_joined(changes))
    return t("audit.say.who", who=actor, what=t("audit.say.generic", action=action, entity=entity))


@st.cache_data(ttl=10, show_spinner=False)
def owned_org_ids(email: str) -> list[str]:
    ensure_db()
    with session_scope() as session:
        return owned_orgs(session, Actor(email))


@st.cache_data(ttl=10, show_spinner=False)
def audit_frame(
    email: str, org_ids: tuple[str, ...], days: int | None, action: str | None, who: str = "", lang_code: str = "en"
) -> pd.DataFrame:
    """Audit rows, newest first, as a table (raises PermissionDenied for orgs the member does not own)."""
    ensure_db()
    since = utcnow() - timedelta(days=days) if days else None
    with session_scope() as session:
        rows = _audit.owner_entries(
            session, Actor(email), list(org_ids), since=since, action=action, actor_contains=who, limit=LIMIT
        )
        records = [
            {
                **{c: getattr(r, c) for c in COLUMNS},
                "what": sentence(r.actor, r.action, r.entity, r.before, r.after),
            }
            for r in rows
        ]
    frame = pd.DataFrame.from_records(records, columns=["at", "what", *COLUMNS[1:]])
    if not frame.empty:
        frame["at"] = pd.to_datetime(frame["at"], utc=True).dt.strftime("%Y-%m-%d %H:%M:%S UTC")
    return frame


@st.cache_data(ttl=60, show_spinner=False)
def actions(email: str, org_ids: tuple[str, ...]) -> list[str]:
    """The kinds of change recorded for these orgs, for the filter."""
    ensure_db()
    with session_scope() as session:
        rows = _audit.owner_entries(session, Actor(email), list(org_ids), limit=LIMIT)
        return sorted({r.action for r in rows})
