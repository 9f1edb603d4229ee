"""The top every page starts with: browser tab, sidebar, title and help line, and the no-organization stop."""

from __future__ import annotations

import streamlit as st

from ui import actions, sidebar
from ui.i18n import DEFAULT_LANG, strings, t

APP_NAME = "Spendsight"
ICON = "💸"


def page_header(
    area: str, *, needs_org: bool = False, no_orgs: str = "common.no_orgs", flash: str | None = None
) -> sidebar.PageContext:
    """Draw the page's top from the `<area>.title` and `<area>.help` texts; return the sidebar's context.

    The browser tab keeps the English title ("Spend explorer · Spendsight"; the home page's title is
    the app's name) whatever the language, as bookmarks and history show it. `flash` shows the
    confirmation a previous run left under that key; with `needs_org`, someone in no organization
    sees the `no_orgs` text and the page stops there.
    """
    english = strings()[DEFAULT_LANG][f"{area}.title"]
    tab = english if english == APP_NAME else f"{english} · {APP_NAME}"
    st.set_page_config(page_title=tab, page_icon=ICON, layout="wide")
    ctx = sidebar.render()
    st.title(t(f"{area}.title"))
    st.caption(t(f"{area}.help"))
    if flash:
        actions.show_flash(flash)
    if needs_org and ctx.org_id is None:
        st.info(t(no_orgs))
        st.stop()
    return ctx
