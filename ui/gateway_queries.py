"""Cached reads for the Gateway page (short TTLs: the gateway answers every second)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from models import gateway as _gateway
from models.db import session_scope
from ui.queries import ensure_db

TTL_SECONDS = 5


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def keys(org_id: str) -> pd.DataFrame:
    ensure_db()
    with session_scope() as session:
        views = _gateway.list_keys(session, [org_id])
    return pd.DataFrame(
        [
            {
                "id": k.id,
                "name": k.name,
                "project": k.project_id,
                "prefix": k.prefix + "...",
                "created_at": k.created_at,
                "created_by": k.created_by,
                "revoked_at": k.revoked_at,
            }
            for k in views
        ],
        columns=["id", "name", "project", "prefix", "created_at", "created_by", "revoked_at"],
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def activity(org_id: str, minutes: int = 60) -> pd.DataFrame:
    """Per UTC minute: answered requests and rejections by reason, as columns."""
    ensure_db()
    rows = _gateway.activity(org_id, datetime.now(UTC) - timedelta(minutes=minutes))
    frame = pd.DataFrame(rows, columns=["minute", "series", "count"])
    if frame.empty:
        return frame
    frame["minute"] = pd.to_datetime(frame["minute"])
    return frame


def refresh() -> None:
    keys.clear()
    activity.clear()
