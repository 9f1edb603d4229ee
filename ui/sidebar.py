"""The shared sidebar: organization picker; every page calls `render()` first."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from ui.queries import org_choices


@dataclass(frozen=True)
class PageContext:
    org_id: str | None
    org_name: str
    environment: str
    orgs: tuple[dict, ...]


def render() -> PageContext:
    orgs = org_choices()
    if not orgs:
        return PageContext(None, "", "", ())
    ids = [o["id"] for o in orgs]
    by_id = {o["id"]: o for o in orgs}
    current = st.session_state.get("org_id")
    index = ids.index(current) if current in ids else 0
    with st.sidebar:
        org_id = st.selectbox(
            "Organization", ids, index=index, key="org_picker",
            format_func=lambda i: f"{by_id[i]['name']} · {by_id[i]['environment']}",
        )
        env = by_id[org_id]["environment"]
        if env == "staging":
            st.warning("STAGING organization", icon="🧪")
    st.session_state["org_id"] = org_id
    return PageContext(org_id, by_id[org_id]["name"], env, tuple(orgs))
