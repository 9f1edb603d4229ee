"""Who is signed in to this browser session, the sign-in form, and sign-out.

The browser session keeps only an opaque token (`st.session_state[TOKEN_KEY]`); `current_actor()`
asks the server-side session table (models/auth.py) on every run whether it is still valid, so an
email written into session state, a forged or stolen-then-revoked token, or an expired session
never counts as signed in. With OIDC configured (an `[auth]` section in `.streamlit/secrets.toml`),
Streamlit's `st.login` proves the identity and a server-side session is started for its email.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import StopException

from models.access import auth as _auth
from models.access.policy import oidc_email_verified
from models.access.roles import Actor
from models.validation import ValidationError, validate_email
from ui.i18n import t
from ui.safe import md

TOKEN_KEY = "auth_token"
NOTICE_KEY = "auth_notice"  # why the form is shown again: expired | revoked | signed_out
SSO_DONE_KEY = "auth_sso_done"  # this browser session already had (and ended) an OIDC session


def current_actor() -> Actor | None:
    """The signed-in member, only while their server-side session is valid and unexpired."""
    token = st.session_state.get(TOKEN_KEY)
    if token:
        actor, status = _auth.check_session(token)
        if actor is not None:
            return actor
        del st.session_state[TOKEN_KEY]
        st.session_state[NOTICE_KEY] = status if status in ("expired", "revoked") else "signed_out"
    return _sso_actor()


def _sso_actor() -> Actor | None:
    """Start a server-side session for an identity proven by st.login (once per browser session)."""
    if not _sso_logged_in() or st.session_state.get(SSO_DONE_KEY):
        return None
    email = _sso_email()
    if email is None:
        return None
    st.session_state[TOKEN_KEY] = _auth.start_session(email, "oidc")
    st.session_state[SSO_DONE_KEY] = True
    st.session_state.pop(NOTICE_KEY, None)
    return Actor(email)


def _sso_logged_in() -> bool:
    return bool(st.user.get("is_logged_in", False))


def _sso_email() -> str | None:
    raw = st.user.get("email")
    if not raw or not isinstance(raw, str):
        return None
    if not oidc_email_verified(st.user):
        return None
    try:
        return validate_email(raw)
    except ValidationError:
        return None


def sso_providers() -> list[str | None] | None:
    """None when OIDC is not configured; else the providers to offer ([None] for the default one)."""
    try:
        # lazy and guarded: a private Streamlit module; if a release moves it, password sign-in still works.
        from streamlit.auth_util import get_secrets_auth_section

        section = get_secrets_auth_section()
    except Exception:  # a broken secrets file must not lock everyone out of password sign-in
        return None
    if not section:
        return None
    named: list[str | None] = [
        name for name, value in section.items() if hasattr(value, "get") and value.get("client_id")
    ]
    if section.get("client_id"):
        return [None, *named]
    return named or None


def require_actor() -> Actor:
    """The gate: the signed-in actor, or the sign-in form and st.stop() when nobody is signed in."""
    actor = current_actor()
    if actor is None:
        sign_in_form()
        st.stop()
        # st.stop() only requests a stop; where no script runner honours it (a run that outlived
        # its session, a bare import) the page must still not go on without a signed-in member.
        raise StopException()
    with st.sidebar:
        st.caption(t("auth.signed_in_as", email=md(actor.email)))
        if st.button(t("auth.sign_out"), key="auth_sign_out"):
            sign_out()
    return actor


def sign_out() -> None:
    token = st.session_state.pop(TOKEN_KEY, None)
    method = _auth.session_method(token)
    _auth.end_session(token)
    st.session_state[NOTICE_KEY] = "signed_out"
    if method == "oidc" and _sso_logged_in():
        st.logout()  # clears Streamlit's identity cookie too; starts a new browser session
    st.rerun()


def sign_in_form() -> None:
    st.title(t("auth.title"))
    notice = st.session_state.get(NOTICE_KEY)
    if notice in ("expired", "revoked", "signed_out"):
        st.info(t(f"auth.{notice}"))
    if _sso_logged_in() and not st.session_state.get(SSO_DONE_KEY) and _sso_email() is None:
        raw = st.user.get("email")
        st.warning(t("auth.sso_unverified", email=md(raw)) if raw else t("auth.sso_missing_email"))
    with st.form("sign_in", clear_on_submit=True):
        email = st.text_input(t("auth.email"), key="sign_in_email", max_chars=320)
        password = st.text_input(
            t("auth.password"), type="password", key="sign_in_password", max_chars=_auth.MAX_PASSWORD
        )
        submitted = st.form_submit_button(t("auth.submit"), type="primary")
    if submitted:
        if not email.strip() or not password:
            st.error(t("auth.missing"))
        else:
            result = _auth.authenticate(email, password, client=_client_address())
            if result.ok:
                st.session_state[TOKEN_KEY] = result.token
                st.session_state.pop(NOTICE_KEY, None)
                st.rerun()
            if result.retry_after is not None:
                minutes = max(1, -(-int(result.retry_after.total_seconds()) // 60))
                st.error(t("auth.locked", minutes=minutes))
            else:
                st.error(t("auth.wrong"))
    providers = sso_providers()
    for provider in providers or ():
        label = t("auth.sso") + (f" ({provider})" if provider else "")
        if st.button(label, key=f"auth_sso_{provider or 'default'}"):
            st.session_state.pop(SSO_DONE_KEY, None)
            if provider:
                st.login(provider)
            else:
                st.login()
    st.caption(t("auth.help"))


def _client_address() -> str | None:
    try:
        return st.context.ip_address
    except Exception:  # not in a browser session (e.g. bare script run)
        return None
