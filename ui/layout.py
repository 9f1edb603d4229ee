"""Layout helpers shared by pages: headline cards in rows narrow enough to show whole figures."""

from __future__ import annotations

import streamlit as st


def card_grid(n: int, per_row: int = 3) -> list:
    """n containers for st.metric cards, per_row to a row: at 1280 px five cards in one row cut
    "¥22,519.53" to "¥22,5…", three (or two with a long delta line) show it whole."""
    slots: list = []
    while len(slots) < n:
        slots.extend(st.columns(per_row))
    return slots[:n]


def change_delta(current, previous, money, no_previous: str) -> dict:
    """st.metric's delta arguments for "against the previous period": the change and its percentage,
    or, when the previous period had nothing, the words `no_previous` (not "↑ the whole amount")."""
    if previous is None:
        return {"delta": None}
    if not previous:
        return {"delta": no_previous, "delta_color": "off", "delta_arrow": "off"}
    change = (current - previous) / previous
    return {"delta": f"{money(current - previous)} ({float(change) * 100:+.1f}%)", "delta_color": "inverse"}
