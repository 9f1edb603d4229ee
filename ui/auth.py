"""Who is signed in to this browser session, the sign-in gate, and sign-out.

Password sign-in happens on the front route (gateway/signin.py), which sets an HttpOnly cookie
holding only an opaque session token; Streamlit cannot set cookies, but reads the ones the browser
sent with `st.context.cookies`, so a reload, a second tab, a bookmark or an email's link is still
signed in. `current_actor()` asks the server-side session table (models/access/auth.py) on every run
whether the token is still valid, so a forged, revoked or expired one never counts. With OIDC
configured (an `[auth]` section in `.streamlit/secrets.toml`), Streamlit's `st.login` proves the
identity and a server-side session is started for its email, kept in this browser session's state.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import StopException

from models.access import auth as _auth
from models.access.policy import oidc_email_verified
from models.access.roles import Actor
from models.settings import get_settings
from models.validation import ValidationError, validate_email
from ui.i18n import lang, t
from ui.safe import md

TOKEN_KEY = "auth_token"  # a session started here (OIDC), not from the cookie
NOTICE_KEY = "auth_notice"  # why the gate is shown again: expired | revoked | signed_out
SSO_DONE_KEY = "auth_sso_done"  # this browser session already had (and ended) an OIDC session
FROM_COOKIE_KEY = "auth_from_cookie"  # the member signed in on the front route (sign out there too)
# The cookie gateway/signin.py sets (ui/ may not import gateway/, so the name is written twice).
COOKIE = "spendsight_session"


def _cookie_token() -> str | None:
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:  # not in a browser session (a bare script run)
        return None
    return value if isinstance(value, str) and value else None


def current_actor() -> Actor | None:
    """The signed-in member, only while their server-side session is valid and unexpired."""
    token = st.session_state.get(TOKEN_KEY)
    if token:
        actor, status = _auth.check_session(token)
        if actor is not None:
            return actor
        del st.session_state[TOKEN_KEY]
        st.session_state[NOTICE_KEY] = status if status in ("expired", "revoked") else "signed_out"
    cookie = _cookie_token()
    if cookie and cookie != token:
        actor, status = _auth.check_session(cookie)
        if actor is not None:
            st.session_state[FROM_COOKIE_KEY] = True
            st.session_state.pop(NOTICE_KEY, None)
            return actor
        if status in ("expired", "revoked"):
            st.session_state[NOTICE_KEY] = status
    st.session_state.pop(FROM_COOKIE_KEY, None)
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


def require_actor(actor: Actor | None = None) -> Actor:
    """The gate: the signed-in actor, or the sign-in link and st.stop() when nobody is signed in."""
    actor = actor or current_actor()
    if actor is None:
        sign_in_gate()
        st.stop()
        # st.stop() only requests a stop; where no script runner honours it (a run that outlived
        # its session, a bare import) the page must still not go on without a signed-in member.
        raise StopException()
    with st.sidebar:
        st.caption(t("auth.signed_in_as", email=md(actor.email)))
        if st.session_state.get(FROM_COOKIE_KEY) and not st.session_state.get(TOKEN_KEY):
            # Only the front route can clear the cookie: sign out there (it comes back to its sign-in page).
            st.markdown(_link(front_url("/auth/signout", lang=lang()), t("auth.sign_out")), unsafe_allow_html=True)
        elif st.button(t("auth.sign_out"), key="auth_sign_out"):
            sign_out()
    return actor


def front_url(path: str, **query: str) -> str:
    """A page of the sign-in front route (SPENDSIGHT_AUTH_URL)."""
    values = {k: v for k, v in query.items() if v}
    return get_settings().auth.url + path + (f"?{urlencode(values)}" if values else "")


def _link(url: str, label: str) -> str:
    # target="_self": Streamlit opens links in a new tab unless told; the sign-in should happen in this one.
    return f'<a href="{escape(url)}" target="_self" rel="noreferrer">{escape(label)}</a>'


def _here() -> str:
    """This page's address, so the front route brings the member back to it (a deep link stays deep)."""
    try:
        url = st.context.url
    except Exception:
        url = None
    if not url:
        return ""
    query = urlencode({k: v for k, v in st.query_params.items() if k != "lang"})
    base = url.split("?")[0].split("#")[0]
    return f"{base}?{query}" if query else base


def sign_out() -> None:
    token = st.session_state.pop(TOKEN_KEY, None)
    method = _auth.session_method(token)
    _auth.end_session(token)
    st.session_state[NOTICE_KEY] = "signed_out"
    if method == "oidc" and _sso_logged_in():
        st.logout()  # clears Streamlit's identity cookie too; starts a new browser session
    st.rerun()


def sign_in_gate() -> None:
    """Nobody signed in: a link to the front route's sign-in page (which sets the cookie and comes back
    here), and the single sign-on buttons when OIDC is configured."""
    st.title(t("auth.title"))
    notice = st.session_state.get(NOTICE_KEY)
    if notice in ("expired", "revoked", "signed_out"):
        st.info(t(f"auth.{notice}"))
    if _sso_logged_in() and not st.session_state.get(SSO_DONE_KEY) and _sso_email() is None:
        raw = st.user.get("email")
        st.warning(t("auth.sso_unverified", email=md(raw)) if raw else t("auth.sso_missing_email"))
    url = front_url("/auth/signin", next=_here(), lang=lang())
    st.markdown(
        f'<p style="font-size: 1.1rem;">{_link(url, t("auth.submit"))}</p>',
        unsafe_allow_html=True,
    )
    st.caption(t("auth.signin_where"))
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
