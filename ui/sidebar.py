"""The shared sidebar: who is signed in, organization picker; every page calls `render()` first."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import streamlit as st

from models.orgs import Actor
from ui import auth
from ui.format import money as format_money
from ui.queries import org_choices, roles_for


@dataclass(frozen=True)
class PageContext:
    actor: Actor | None
    org_id: str | None
    org_name: str
    environment: str
    timezone: str
    role: str | None  # "owner", "reader" or None for the selected org
    orgs: tuple[dict, ...]  # the orgs this actor may see
    currency: str = "USD"  # display currency; stored amounts stay USD
    rate: Decimal = Decimal(1)  # display units per USD

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"

    def money(self, amount_usd) -> str:
        """An amount in the display currency, e.g. $1,234.56 or ¥8,765.43."""
        return format_money(amount_usd, self.currency, self.rate)


def render() -> PageContext:
    actor = auth.current_actor()
    roles = roles_for(actor.email if actor else None, actor.system if actor else False)
    orgs = tuple(o for o in org_choices() if o["id"] in roles)
    if not orgs:
        return PageContext(actor, None, "", "", "UTC", None, ())
    ids = [o["id"] for o in orgs]
    by_id = {o["id"]: o for o in orgs}
    current = st.session_state.get("org_id")
    index = ids.index(current) if current in ids else 0
    with st.sidebar:
        org_id = st.selectbox(
            "Organization", ids, index=index, key="org_picker",
            format_func=lambda i: f"{by_id[i]['name']} · {by_id[i]['environment']}",
        )
        if by_id[org_id]["environment"] == "staging":
            st.warning("STAGING organization", icon="🧪")
    st.session_state["org_id"] = org_id
    org = by_id[org_id]
    return PageContext(actor, org_id, org["name"], org["environment"], org["timezone"], roles.get(org_id), orgs)
