"""An owner's change from a page: a refusal is shown where it happened; success reruns with fresh numbers."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from models.access.roles import PermissionDenied
from models.db import session_scope
from models.pricing.catalog import PriceFileError
from models.validation import ValidationError
from ui.safe import md

# What a service raises to refuse a change; each message is meant for the person who tried.
REFUSALS = (PermissionDenied, ValidationError, PriceFileError, OSError)


def attempt(action: Callable[[], object], success, flash_key: str, refresh: Callable[[], None]) -> None:
    """Run `action`; on success clear caches, keep the confirmation for the next run, and rerun."""
    try:
        result = action()
    except REFUSALS as exc:
        st.error(md(str(exc)))
    else:
        refresh()
        st.session_state[flash_key] = success(result) if callable(success) else success
        st.rerun()


def show_flash(flash_key: str) -> None:
    """The confirmation a previous run left behind, shown once."""
    if flash_key in st.session_state:
        st.success(st.session_state.pop(flash_key))


def in_session(change: Callable) -> Callable[[], object]:
    """Adapt a service that takes a session (collectors.sources) to `attempt`."""

    def run():
        with session_scope() as session:
            return change(session)

    return run
