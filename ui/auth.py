"""Who is signed in to this browser session.

Placeholder until sign-in lands (issue: sign-in, roles, audit): the signed-in email is taken from
session state as set by the sign-in form. The real implementation validates a server-side session.
"""

from __future__ import annotations

import streamlit as st

from models.orgs import Actor

SESSION_KEY = "user_email"


def current_actor() -> Actor | None:
    email = st.session_state.get(SESSION_KEY)
    return Actor(email) if email else None
