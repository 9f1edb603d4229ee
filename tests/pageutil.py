"""Helpers for driving pages with streamlit's AppTest."""

from __future__ import annotations

import re

import streamlit as st
from streamlit.testing.v1 import AppTest

from models.access.auth import start_session
from tests.conftest import REPO
from ui.auth import TOKEN_KEY

DEFAULT_USER = "owner@example.com"


def sign_in(at: AppTest, email: str) -> None:
    """Make `email` the signed-in member of this AppTest session, as the sign-in form does after a
    correct password: a real server-side session whose token goes into the browser session's state."""
    at.session_state[TOKEN_KEY] = start_session(email, "password")


def app_test(path: str = "app.py", timeout: float = 60) -> AppTest:
    """An AppTest of the whole app showing `path`: the app's entry script stays the main script, as
    under `streamlit run`, so the sidebar's links to the other pages resolve."""
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=timeout)
    if path != "app.py":
        at.switch_page(path)
    return at


def run_page(
    path: str = "app.py", session: dict | None = None, user: str | None = DEFAULT_USER, timeout: float = 60
) -> AppTest:
    """Run a page script (relative to the repo) as `user` (None: signed out); returns the AppTest."""
    st.cache_data.clear()
    st.cache_resource.clear()
    at = app_test(path, timeout)
    if user:
        sign_in(at, user)
    for key, value in (session or {}).items():
        at.session_state[key] = value
    return at.run()


# A backslash before ASCII punctuation is markdown's escape (ui.safe.md): the reader sees the character.
_MD_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def texts(at: AppTest) -> str:
    """Everything the page printed as markdown, captions, alerts and titles, as read on screen
    (escapes of user text removed), for assertions."""
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success"):
        parts += [_MD_ESCAPE.sub(r"\1", str(e.value)) for e in getattr(at, kind)]
    return "\n".join(parts)
