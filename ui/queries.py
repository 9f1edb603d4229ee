"""Cached query wrappers: the only way pages read data (TTLs keep pages fast and fresh)."""

from __future__ import annotations

from datetime import date

import streamlit as st

from models import overview as _overview
from models.db import init_db, session_scope
from models.orgs import list_orgs

TTL_SECONDS = 60


@st.cache_resource
def ensure_db() -> bool:
    init_db()
    return True


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def org_choices() -> list[dict]:
    ensure_db()
    with session_scope() as session:
        return [{"id": o.id, "name": o.name, "environment": o.environment, "timezone": o.timezone}
                for o in sorted(list_orgs(session), key=lambda o: (o.name.lower(), o.id))]


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def home_overview(org_id: str, today: date) -> _overview.Overview:
    return _overview.overview(org_id, today)


@st.cache_data(ttl=10, show_spinner=False)
def roles_for(email: str | None, system: bool = False) -> dict[str, str]:
    """org id -> role for this member (all orgs as owner for a system actor)."""
    from models.access import role_of, visible_orgs
    from models.orgs import Actor

    ensure_db()
    actor = Actor(email, system=system)
    with session_scope() as session:
        return {org_id: role_of(session, actor, org_id) for org_id in visible_orgs(session, actor)}
