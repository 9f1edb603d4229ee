"""The sign-in front route over real HTTP (uvicorn on 127.0.0.1, httpx as the browser): the session
cookie and its flags, the password check and its rate limit, sign-out, and no open redirect."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from sqlmodel import select

from gateway.signin import COOKIE, CSRF_COOKIE, safe_next
from models.access import auth
from models.access.preferences import saved_preferences, set_preferences
from models.access.roles import Actor
from models.db import session_scope, utcnow
from models.settings import get_settings, reset_settings
from models.tables import UserSession
from tests.factories import make_org
from tests.gateway.signin_server import SigninServer

PASSWORD = "correct horse battery"
DASHBOARD = "http://127.0.0.1:8501"


@pytest.fixture
def front(monkeypatch):
    monkeypatch.setenv("SPENDSIGHT_PUBLIC_URL", DASHBOARD)
    reset_settings()
    make_org("org-a", name="Acme", owners=("ana@example.com",))
    with session_scope() as session:
        auth.add_user(session, Actor.cli(), "ana@example.com", PASSWORD)
    with SigninServer() as server:
        yield server.url


def form_page(client: httpx.Client, url: str, **params: str) -> str:
    """GET the sign-in page; returns the form's CSRF token (its twin is now a cookie of `client`)."""
    page = client.get(url + "/auth/signin", params=params)
    assert page.status_code == 200, page.text
    # Behind a (pretended) TLS proxy the form's cookie is Secure, which httpx keeps off plain http.
    client.cookies.set(CSRF_COOKIE, page.cookies[CSRF_COOKIE], domain="127.0.0.1", path="/auth")
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def sign_in(client: httpx.Client, url: str, email="ana@example.com", password=PASSWORD, **fields: str):
    csrf = form_page(client, url, **({"next": fields["next"]} if "next" in fields else {}))
    return client.post(url + "/auth/signin", data={"csrf": csrf, "email": email, "password": password} | fields)


def set_cookie_header(response: httpx.Response, name: str) -> str:
    return next(h for h in response.headers.get_list("set-cookie") if h.startswith(name + "="))


def test_sign_in_sets_an_httponly_lax_cookie_holding_only_the_session_token(front):
    with httpx.Client(timeout=60) as client:
        response = sign_in(client, front, next=f"{DASHBOARD}/Forecast?org=org-a")
        assert response.status_code == 303
        assert response.headers["location"] == f"{DASHBOARD}/Forecast?org=org-a"
        header = set_cookie_header(response, COOKIE).lower()
        assert "httponly" in header and "samesite=lax" in header and "path=/" in header
        assert "secure" not in header  # served over plain http, no proxy: a Secure cookie would never come back
        token = client.cookies[COOKIE]
    actor, status = auth.check_session(token)
    assert (actor.email, status) == ("ana@example.com", "ok")
    with session_scope() as session:
        row = session.exec(select(UserSession)).one()
    assert row.token_sha256 != token and token not in row.token_sha256  # the database holds only a digest


def test_a_signed_in_visitor_goes_straight_on_and_a_revoked_or_expired_cookie_does_not(front):
    with httpx.Client(timeout=60) as client:
        sign_in(client, front)
        token = client.cookies[COOKIE]
        again = client.get(front + "/auth/signin", params={"next": "/Statement"})
        assert again.status_code == 303 and again.headers["location"] == f"{DASHBOARD}/Statement"
        with session_scope() as session:
            auth.revoke_sessions(session, "ana@example.com")
        assert client.get(front + "/auth/signin").status_code == 200  # the form again
    assert auth.check_session(token) == (None, "revoked")
    with httpx.Client(timeout=60) as client:
        sign_in(client, front)
        with session_scope() as session:
            row = session.exec(select(UserSession).where(UserSession.revoked_at.is_(None))).one()
            row.expires_at = utcnow() - timedelta(seconds=1)
            session.add(row)
        assert auth.check_session(client.cookies[COOKIE]) == (None, "expired")
        assert client.get(front + "/auth/signin").status_code == 200


@pytest.mark.parametrize(
    ("secure", "proxy", "forwarded", "expected"),
    [
        ("true", "false", "", True),
        ("false", "true", "https", False),
        ("auto", "true", "https", True),  # behind a trusted TLS-terminating proxy
        ("auto", "false", "https", False),  # the header is anyone's to send without one
        ("auto", "true", "http", False),
    ],
)
def test_the_secure_flag_follows_https(front, monkeypatch, secure, proxy, forwarded, expected):
    monkeypatch.setenv("SPENDSIGHT_AUTH_COOKIE_SECURE", secure)
    monkeypatch.setenv("SPENDSIGHT_AUTH_TRUST_PROXY", proxy)
    reset_settings()
    headers = {"X-Forwarded-Proto": forwarded} if forwarded else {}
    with httpx.Client(headers=headers, timeout=60) as client:
        response = sign_in(client, front)
    assert response.status_code == 303
    assert ("; secure" in set_cookie_header(response, COOKIE).lower()) is expected


def test_an_https_auth_url_makes_the_cookie_secure(front, monkeypatch):
    monkeypatch.setenv("SPENDSIGHT_AUTH_URL", "https://spend.example.com")
    reset_settings()
    with httpx.Client(timeout=60) as client:
        response = sign_in(client, front)
    assert "; secure" in set_cookie_header(response, COOKIE).lower()


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "http://127.0.0.1:8501@evil.example/",
        "http://evil.example/?http://127.0.0.1:8501/",
        "javascript:alert(1)",
        "http:evil.example",
        "http://127.0.0.1:9999/Forecast",
        "https://127.0.0.1:8501/Forecast",
        "Forecast",
        "/Forecast\r\nSet-Cookie: x=1",
    ],
)
def test_next_never_leaves_the_dashboard(front, target):
    assert safe_next(target, get_settings()) == DASHBOARD + "/"
    with httpx.Client(timeout=60) as client:
        response = sign_in(client, front, next=target)
    assert response.status_code == 303 and response.headers["location"] == DASHBOARD + "/"


def test_next_keeps_a_deep_link_into_the_dashboard(monkeypatch):
    monkeypatch.setenv("SPENDSIGHT_PUBLIC_URL", "https://spend.example.com/app/")
    reset_settings()
    settings = get_settings()
    assert (
        safe_next("https://spend.example.com/app/Forecast?org=a", settings)
        == "https://spend.example.com/app/Forecast?org=a"
    )
    assert safe_next("/Statement?month=2026-10", settings) == "https://spend.example.com/app/Statement?month=2026-10"
    assert safe_next("https://spend.example.com/other", settings) == "https://spend.example.com/app/"
    assert safe_next("https://spend.example.com/app/../admin", settings) == "https://spend.example.com/app/"


def test_wrong_passwords_are_answered_alike_then_rate_limited(front):
    with httpx.Client(timeout=60) as client:
        wrong = sign_in(client, front, password="not the password")
        unknown = sign_in(client, front, email="nobody@example.com", password="whatever it is")
        assert wrong.status_code == unknown.status_code == 401
        assert "Wrong email or password." in wrong.text and "Wrong email or password." in unknown.text
        assert COOKIE not in client.cookies
        for i in range(auth.MAX_FAILURES - 1):
            sign_in(client, front, password=f"guess {i} wrong")
        locked = sign_in(client, front)  # the right password, refused unchecked while locked
        assert locked.status_code == 429 and "Too many failed sign-ins" in locked.text
        assert int(locked.headers["retry-after"]) > 0
        assert COOKIE not in client.cookies
        zh = sign_in(client, front, lang="zh")
        assert "登录失败次数过多" in zh.text


def test_a_post_without_the_forms_token_is_refused(front):
    with httpx.Client(timeout=60) as client:
        response = client.post(
            front + "/auth/signin", data={"email": "ana@example.com", "password": PASSWORD, "csrf": "guessed"}
        )
        assert response.status_code == 400 and COOKIE not in client.cookies
        form_page(client, front)  # a real form's cookie, but another token in the post
        response = client.post(
            front + "/auth/signin", data={"email": "ana@example.com", "password": PASSWORD, "csrf": "guessed"}
        )
        assert response.status_code == 400 and COOKIE not in client.cookies
    with session_scope() as session:
        assert session.exec(select(UserSession)).all() == []


def test_the_page_speaks_the_browsers_or_the_chosen_language(front):
    with httpx.Client(timeout=60) as client:
        assert (
            "登录 Spendsight" in client.get(front + "/auth/signin", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).text
        )
        english = client.get(front + "/auth/signin", params={"lang": "en"}, headers={"Accept-Language": "zh-CN"})
        assert "Sign in to Spendsight" in english.text
        page = client.get(front + "/auth/signin", params={"next": '"><script>alert(1)</script>'})
        assert "<script>alert(1)" not in page.text  # replaced by the dashboard's address anyway, and escaped
        assert (
            page.headers["cache-control"] == "no-store"
            and "frame-ancestors 'none'" in page.headers["content-security-policy"]
        )


def test_a_language_picked_on_the_sign_in_page_becomes_the_members_first_choice(front):
    with httpx.Client(timeout=60) as client:
        sign_in(client, front, lang="zh")
    assert saved_preferences("ana@example.com").lang == "zh"
    set_preferences(Actor("ana@example.com"), "ana@example.com", lang="en")
    with httpx.Client(timeout=60) as client:
        sign_in(client, front, lang="zh")  # a saved choice is not overwritten by a link's ?lang=
    assert saved_preferences("ana@example.com").lang == "en"


def test_sign_out_revokes_the_session_and_clears_the_cookie(front):
    with httpx.Client(timeout=60) as client:
        sign_in(client, front)
        token = client.cookies[COOKIE]
        # From another site: a page that asks, the session untouched.
        asked = client.get(front + "/auth/signout", headers={"Sec-Fetch-Site": "cross-site"})
        assert asked.status_code == 200 and "Sign out of Spendsight?" in asked.text
        assert auth.check_session(token)[1] == "ok"
        # From the dashboard's sidebar link (same site, another port).
        out = client.get(front + "/auth/signout", headers={"Sec-Fetch-Site": "same-site"})
        assert out.status_code == 303 and out.headers["location"].startswith("/auth/signin?notice=signed_out")
        cleared = set_cookie_header(out, COOKIE).lower()
        assert 'spendsight_session=""' in cleared and "max-age=0" in cleared
        assert COOKIE not in client.cookies
        assert "You signed out." in client.get(front + out.headers["location"]).text
    assert auth.check_session(token) == (None, "revoked")


def test_sign_out_by_the_confirming_form(front):
    with httpx.Client(timeout=60) as client:
        sign_in(client, front)
        token = client.cookies[COOKIE]
        client.get(front + "/auth/signout")  # no Sec-Fetch-Site (an older browser, a script): the form
        refused = client.post(front + "/auth/signout", data={"csrf": "forged"})
        assert refused.status_code == 400 and auth.check_session(token)[1] == "ok"
        csrf = re.search(r'name="csrf" value="([^"]+)"', refused.text).group(1)  # the form, offered again
        assert client.post(front + "/auth/signout", data={"csrf": csrf}).status_code == 303
    assert auth.check_session(token) == (None, "revoked")


def test_the_csrf_cookie_is_strict_and_scoped_to_the_auth_pages(front):
    with httpx.Client(timeout=60) as client:
        page = client.get(front + "/auth/signin")
    header = set_cookie_header(page, CSRF_COOKIE).lower()
    assert "httponly" in header and "samesite=strict" in header and "path=/auth" in header
