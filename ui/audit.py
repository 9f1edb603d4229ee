"""Cached reads for the audit log page; the owner check happens in models.audit.owner_entries."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from models.access import audit as _audit
from models.access.roles import Actor, owned_orgs
from models.db import session_scope, utcnow
from ui.audit_sentences import sentence
from ui.queries import ensure_db

LIMIT = 1000
COLUMNS = ("at", "actor", "org_id", "action", "entity", "before", "after")


@st.cache_data(ttl=10, show_spinner=False)
def owned_org_ids(email: str) -> list[str]:
    ensure_db()
    with session_scope() as session:
        return owned_orgs(session, Actor(email))


@st.cache_data(ttl=10, show_spinner=False)
def audit_frame(
    email: str,
    org_ids: tuple[str, ...],
    days: int | None,
    action: str | None,
    who: str = "",
    lang_code: str = "en",
    timezone: str = "UTC",
) -> pd.DataFrame:
    """Audit rows, newest first, as a table (raises PermissionDenied for orgs the member does not own);
    `at` as aware times in `timezone` (the org's, which the page's column names), so the CSV export
    carries the same wall-clock times with their UTC offset."""
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
        # Whole seconds, as the table shows them: an export reads "2026-11-30 21:15:55+08:00".
        frame["at"] = pd.to_datetime(frame["at"], utc=True).dt.tz_convert(timezone).dt.floor("s")
    return frame


@st.cache_data(ttl=60, show_spinner=False)
def actions(email: str, org_ids: tuple[str, ...]) -> list[str]:
    """The kinds of change recorded for these orgs, for the filter."""
    ensure_db()
    with session_scope() as session:
        rows = _audit.owner_entries(session, Actor(email), list(org_ids), limit=LIMIT)
        return sorted({r.action for r in rows})
