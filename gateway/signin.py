"""The sign-in front route: plain HTML pages that sign in, sign out and accept invitations, and the
one thing Streamlit cannot do, set the session cookie.

The cookie (`spendsight_session`) holds only the opaque token of a server-side session
(models/access/auth.py), so expiry and revocation keep working; it is HttpOnly, SameSite=Lax, and
Secure over HTTPS. Cookies are not port-specific: set here (e.g. 127.0.0.1:8788), the dashboard on the
same host (127.0.0.1:8501) receives it and reads it with `st.context.cookies` (ui/auth.py).

`routes()` are mounted on the gateway's ASGI app; `serve_signin()` (or `python -m gateway.signin`)
serves them alone where the gateway does not run.
"""

from __future__ import annotations

import argparse
import hmac
import secrets
from functools import cache
from importlib import resources
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import uvicorn
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from models.access import auth
from models.access.invites import InviteError, accept_invite, check_invite
from models.access.preferences import get_preferences, saved_preferences, set_preferences
from models.access.roles import Actor
from models.locales import LANGUAGES, Strings, pick_lang
from models.settings import Settings, get_settings
from models.validation import ValidationError

COOKIE = "spendsight_session"
CSRF_COOKIE = "spendsight_csrf"
MAX_FORM_BYTES = 16 * 1024  # a sign-in form is a few hundred bytes; anything far larger is refused
NOTICES = ("signed_out", "expired", "revoked")
STRINGS = Strings(resources.files("gateway").joinpath("locales"), "gateway/locales")
# Every page: never cached, never framed, no referrer (an invitation link carries its token).
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
}


@cache
def _template() -> Template:
    # autoescaped, as emails and names are user input
    folder = str(resources.files("gateway").joinpath("templates"))
    env = Environment(
        loader=FileSystemLoader(folder), autoescape=select_autoescape(default=True), undefined=StrictUndefined
    )
    return env.get_template("auth.html")


# --- where to send people back ---------------------------------------------------------------


def dashboard_url(settings: Settings) -> str:
    return settings.public_url.rstrip("/") + "/"


def safe_next(value: str | None, settings: Settings) -> str:
    """`next` when it is a page of the dashboard itself (its origin and path prefix), else the dashboard:
    a sign-in page must never send a freshly signed-in browser to another site (open redirect)."""
    home = dashboard_url(settings)
    if not value or len(value) > 2000 or any(ord(ch) < 0x21 or ch in "\\\x7f" for ch in value):
        return home
    base, target = urlsplit(home), urlsplit(value)
    prefix = base.path.rstrip("/")
    if target.scheme or target.netloc:
        if (target.scheme.lower(), target.netloc.lower()) != (base.scheme.lower(), base.netloc.lower()):
            return home
        path = target.path or "/"
    elif value.startswith("/") and not value.startswith("//"):
        path = prefix + target.path  # a path on the dashboard, relative to where it is served
    else:
        return home
    if prefix and not (path == prefix or path.startswith(prefix + "/")):
        return home
    if "/../" in path + "/" or "/./" in path + "/":
        return home
    return urlunsplit((base.scheme, base.netloc, path, target.query, ""))


# --- request details ---------------------------------------------------------------------------


def _https(request: Request, settings: Settings) -> bool:
    """Did this request arrive over HTTPS (directly, or at the trusted proxy in front)?"""
    if request.url.scheme == "https":
        return True
    return settings.auth.trust_proxy and request.headers.get("x-forwarded-proto", "").lower() == "https"


def _secure(request: Request, settings: Settings) -> bool:
    """The session cookie's Secure flag: as set, or (auto) whenever HTTPS is in use."""
    choice = settings.auth.cookie_secure
    if choice != "auto":
        return choice == "true"
    return _https(request, settings) or settings.auth.url.startswith("https://")


def _client(request: Request, settings: Settings) -> str | None:
    """The address failed sign-ins are counted against (the proxy's client only when it is trusted)."""
    if settings.auth.trust_proxy:
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
        if forwarded:
            return forwarded
    return request.client.host if request.client else None


def _lang(request: Request, form: dict[str, str] | None = None) -> str:
    wanted = (form or {}).get("lang") or request.query_params.get("lang")
    if wanted in LANGUAGES:
        return wanted
    return pick_lang(request.headers.get("accept-language"))


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form (python-multipart is not a dependency, and these forms never carry files)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=20)
    return {name: values[0] for name, values in fields.items()}


def _csrf_ok(request: Request, form: dict[str, str]) -> bool:
    """Double-submit check: the form's token equals the cookie this site set with the form, which
    another site can neither read nor set (a forged post would sign the victim in as the attacker)."""
    cookie, sent = request.cookies.get(CSRF_COOKIE, ""), form.get("csrf", "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), sent.encode())


# --- pages -------------------------------------------------------------------------------------


def _page(
    request: Request,
    kind: str,
    lang: str,
    status: int = 200,
    **values: object,
) -> HTMLResponse:
    settings = get_settings()
    csrf = secrets.token_urlsafe(24)
    words = STRINGS.words(lang, "page")
    here = request.url.path
    switch = {
        code: here + "?" + urlencode({k: v for k, v in request.query_params.items() if k != "lang"} | {"lang": code})
        for code in LANGUAGES
    }
    context = {
        "kind": kind,
        "lang": lang,
        "w": words,
        "csrf": csrf,
        "error": "",
        "notice": "",
        "next": "",
        "email": "",
        "token": "",
        "switch": switch,
        "languages": {"en": "English", "zh": "中文"},
        "dashboard": dashboard_url(settings),
    } | values
    response = HTMLResponse(_template().render(context), status_code=status, headers=HEADERS)
    response.set_cookie(
        CSRF_COOKIE, csrf, path="/auth", httponly=True, samesite="strict", secure=_https(request, settings)
    )
    return response


def _signed_in(request: Request, target: str, token: str) -> RedirectResponse:
    settings = get_settings()
    response = RedirectResponse(target, status_code=303, headers=HEADERS)
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(auth.SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request, settings),
    )
    response.delete_cookie(CSRF_COOKIE, path="/auth")
    return response


async def signin(request: Request) -> Response:
    settings = get_settings()
    if request.method == "GET":
        target = safe_next(request.query_params.get("next"), settings)
        actor, _status = await run_in_threadpool(auth.check_session, request.cookies.get(COOKIE))
        if actor is not None:  # a bookmark or an email's link while signed in: straight on
            return RedirectResponse(target, status_code=303, headers=HEADERS)
        notice = request.query_params.get("notice", "")
        lang = _lang(request)
        return _page(request, "signin", lang, next=target, notice=notice if notice in NOTICES else "")
    form = await _form(request)
    lang = _lang(request, form)
    target = safe_next(form.get("next"), settings)
    email = form.get("email", "").strip()[:320]
    if not _csrf_ok(request, form):
        return _page(request, "signin", lang, 400, next=target, email=email, error=STRINGS(lang, "page.expired_form"))
    password = form.get("password", "")
    if not email or not password:
        return _page(request, "signin", lang, 400, next=target, email=email, error=STRINGS(lang, "page.missing"))
    result = await run_in_threadpool(auth.authenticate, email, password, _client(request, settings))
    if result.token is None:
        if result.retry_after is not None:
            minutes = max(1, -(-int(result.retry_after.total_seconds()) // 60))
            response = _page(
                request,
                "signin",
                lang,
                429,
                next=target,
                email=email,
                error=STRINGS(lang, "page.locked", minutes=minutes),
            )
            response.headers["Retry-After"] = str(int(result.retry_after.total_seconds()) + 1)
            return response
        return _page(request, "signin", lang, 401, next=target, email=email, error=STRINGS(lang, "page.wrong"))
    if form.get("lang") in LANGUAGES:  # a language picked on this page becomes the member's, if they had none
        await run_in_threadpool(_first_language, email, form["lang"])
    return _signed_in(request, target, result.token)


def _first_language(email: str, lang: str) -> None:
    address = email.strip().lower()
    if saved_preferences(address) is None:
        set_preferences(Actor(address), address, lang=lang)


async def signout(request: Request) -> Response:
    """Sign out: the server-side session is revoked and the cookie cleared. A link from the dashboard
    (same site, or typed) signs out at once; from anywhere else the page asks first, with a form."""
    settings = get_settings()
    lang = _lang(request)
    if request.method == "GET":
        fetched_from = request.headers.get("sec-fetch-site", "")
        if fetched_from not in ("same-origin", "same-site", "none"):
            return _page(request, "signout", lang)
    else:
        form = await _form(request)
        lang = _lang(request, form)
        if not _csrf_ok(request, form):
            return _page(request, "signout", lang, 400, error=STRINGS(lang, "page.expired_form"))
    token = request.cookies.get(COOKIE)
    await run_in_threadpool(auth.end_session, token)
    back = "/auth/signin?" + urlencode({"notice": "signed_out", "lang": lang})
    response = RedirectResponse(back, status_code=303, headers=HEADERS)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request, settings))
    return response


async def invite(request: Request) -> Response:
    """The invitation link: set a password (twice), then signed in and on to the dashboard."""
    if request.method == "GET":
        token = request.query_params.get("token", "")
        lang = _lang(request)
        try:
            email = await run_in_threadpool(check_invite, token)
        except InviteError as exc:
            return _page(request, "message", lang, 410, error=STRINGS(lang, f"page.invite_{exc.reason}"))
        lang = request.query_params.get("lang") or (await run_in_threadpool(get_preferences, email)).lang
        return _page(request, "invite", lang if lang in LANGUAGES else "en", email=email, token=token)
    form = await _form(request)
    lang = _lang(request, form)
    token = form.get("token", "")
    try:
        email = await run_in_threadpool(check_invite, token)
    except InviteError as exc:
        return _page(request, "message", lang, 410, error=STRINGS(lang, f"page.invite_{exc.reason}"))
    if not _csrf_ok(request, form):
        return _page(request, "invite", lang, 400, email=email, token=token, error=STRINGS(lang, "page.expired_form"))
    password, again = form.get("password", ""), form.get("password2", "")
    if password != again:
        return _page(request, "invite", lang, 400, email=email, token=token, error=STRINGS(lang, "page.mismatch"))
    try:
        session_token = await run_in_threadpool(accept_invite, token, password)
    except InviteError as exc:
        return _page(request, "message", lang, 410, error=STRINGS(lang, f"page.invite_{exc.reason}"))
    except ValidationError as exc:
        return _page(request, "invite", lang, 400, email=email, token=token, error=str(exc))
    return _signed_in(request, dashboard_url(get_settings()), session_token)


def routes() -> list[Route]:
    """The front route's pages, for the gateway's app (gateway/app.py build_app(extra_routes=...))."""
    return [
        Route("/auth/signin", signin, methods=["GET", "POST"]),
        Route("/auth/signout", signout, methods=["GET", "POST"]),
        Route("/auth/invite", invite, methods=["GET", "POST"]),
    ]


def build_signin_app() -> Starlette:
    """The front route on its own (tests, and `make run` until the gateway serves it)."""
    return Starlette(routes=routes())


def serve_signin(host: str = "127.0.0.1", port: int = 8788) -> None:
    """Serve the front route alone (until the gateway mounts it): `python -m gateway.signin`."""
    uvicorn.run(build_signin_app(), host=host, port=port, log_level="warning", proxy_headers=False)


def main(argv: list[str] | None = None) -> None:
    default = urlsplit(get_settings().auth.url)
    parser = argparse.ArgumentParser(prog="python -m gateway.signin", description="Serve the sign-in front route.")
    parser.add_argument("--host", default=default.hostname or "127.0.0.1")
    parser.add_argument("--port", type=int, default=default.port or 8788)
    args = parser.parse_args(argv)
    serve_signin(args.host, args.port)


if __name__ == "__main__":
    main()
