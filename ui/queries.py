"""Cached query wrappers: the only way pages read data (TTLs keep pages fast and fresh).

Arguments are plain hashable values (tuples, dates, strings) so st.cache_data can key on them;
results are the models' own objects. After a page changes data it calls `refresh()`.
"""

from __future__ import annotations

from datetime import date

import streamlit as st

from models import overview as _overview
from models.db import init_db, session_scope
from models.orgs import list_orgs

TTL_SECONDS = 60
SLOW_TTL_SECONDS = 300  # catalog-wide tables that change only when prices.toml does


@st.cache_resource
def ensure_db() -> bool:
    init_db()
    return True


def refresh() -> None:
    """Forget cached query results (after a change made from a page)."""
    st.cache_data.clear()


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


# --- spend explorer --------------------------------------------------------------------------


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def explore_data(org_ids: tuple[str, ...], start: date, end: date, group_by: tuple[str, ...], grain: str,
                 filters: tuple[tuple[str, tuple[str, ...]], ...], split: bool):
    from models.explore import explore

    return explore(org_ids, start, end, group_by, grain, dict(filters), split)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def dimension_choices(org_ids: tuple[str, ...], start: date, end: date) -> dict[str, list[str]]:
    from models.explore import dimension_values

    return dimension_values(org_ids, start, end)
