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
