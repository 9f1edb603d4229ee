"""`streamlit run` in a real process, every page loaded in headless Chromium without an exception box.

Every page is visited in English and in Chinese (screenshots in tests/artifacts/, not committed), and
the finance journey runs end to end: last month's spend by project, downloaded as CSV. Sign-in goes
through the front route (gateway/signin.py, its own process) that sets the session cookie; the
session journey checks it survives a reload, a second tab and a deep link, and that sign-out ends it.
"""

import csv
import io
import os
import re
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import sync_playwright
from sqlmodel import select

from demo import DEMO_PASSWORDS
from gateway.signin import STRINGS
from models.access import auth
from models.db import session_scope, utcnow
from models.settings import reset_settings
from models.spend.explore import explore
from models.tables import Source, UserSession
from models.units import add_months
from tests.conftest import REPO
from ui.i18n import keys

pytestmark = pytest.mark.browser
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


DONE = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  return main && main.innerText.trim().length > 0 && !document.querySelector('[data-testid="stStatusWidget"]');
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, what: str) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    output = proc.stdout.read().decode()[-2000:]
    proc.stdout.close()
    pytest.fail(f"{what} did not start: " + output)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:  # a loaded machine; the test's verdict is already in
        proc.kill()
        proc.wait(timeout=20)
    proc.stdout.close()


@pytest.fixture
def front_route(env, monkeypatch):
    """The sign-in front route on its own port of the same host (cookies do not separate ports)."""
    port, dashboard_port = free_port(), free_port()
    monkeypatch.setenv("SPENDSIGHT_AUTH_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("SPENDSIGHT_PUBLIC_URL", f"http://127.0.0.1:{dashboard_port}")

    reset_settings()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.signin", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    wait_healthy(f"http://127.0.0.1:{port}/auth/signin", proc, "the sign-in front route")
    yield dashboard_port
    stop(proc)


@pytest.fixture
def server(env, front_route, demo_data):
    demo_data()
    port = front_route
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(REPO / "app.py"),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=REPO,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(f"{url}/_stcore/health", proc, "streamlit")
    yield url
    stop(proc)


# The browser tab's title of each page (by URL path), in English whatever the chosen language.
TAB_TITLES = {
    "": "Spendsight",
    "Spend_explorer": "Spend explorer · Spendsight",
    "Forecast": "Forecast · Spendsight",
    "Budgets_and_alerts": "Budgets & alerts · Spendsight",
    "Alert_history": "Alert history · Spendsight",
    "Model_comparison": "Model comparison · Spendsight",
    "Statement": "Statement · Spendsight",
    "Reconciliation": "Reconciliation · Spendsight",
    "Sources": "Sources · Spendsight",
    "Organizations": "Organizations · Spendsight",
    "Prices": "Prices · Spendsight",
    "Audit_log": "Audit log · Spendsight",
    "Gateway": "Gateway · Spendsight",
}


def page_paths() -> list[str]:
    return [""] + [p.stem.split("_", 1)[-1] for p in sorted((REPO / "pages").glob("*.py"))]


def signed_in_text(lang: str) -> str:

    return keys(lang)["auth.signed_in_as"].split("{")[0].strip()


def sign_in(page, lang: str = "en", email: str = "owner@example.com", then: str | None = None) -> None:
    """Sign in as a demo member, unless the browser's cookie already does: the dashboard's gate (in
    `lang`) links to the front route's form, which sets the cookie and comes back to the page (in
    `then`, the member's saved language, when it differs)."""

    gate = page.get_by_role("link", name=keys(lang)["auth.submit"], exact=True)
    signed = page.get_by_text(signed_in_text(then or lang))
    gate.or_(signed).first.wait_for(timeout=120_000)  # a loaded 2-core machine can take a minute
    if signed.count():
        return
    gate.click()
    words = STRINGS.words(lang, "page")
    page.get_by_label(words["email"]).fill(email)
    page.get_by_label(words["password"], exact=True).fill(DEMO_PASSWORDS["owner" if "owner" in email else "reader"])
    page.get_by_role("button", name=words["submit"]).click()
    signed.wait_for(timeout=120_000)


def settle(page) -> None:
    """Rendered: the main area has text and the "running" indicator is gone (twice, 0.5 s apart)."""
    for _ in range(2):
        page.wait_for_function(DONE, timeout=45_000)
        page.wait_for_timeout(500)


def check(page, name: str) -> str:
    """Screenshot the page, fail on an exception box or a blank page; returns the main area's text."""
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    errors = page.locator('[data-testid="stException"]').all_inner_texts()
    assert not errors, f"page {name!r} shows an exception: {errors}"
    text = page.locator('[data-testid="stMain"]').inner_text().strip()
    assert text, f"page {name!r} is blank"
    assert "Traceback" not in text, f"page {name!r} shows a traceback"
    return text


@pytest.fixture
def browser_page(server):
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium missing: `make browser` installs Debian's chromium")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        # A context of its own: a second tab (context.new_page()) shares its cookies, as a browser's does.
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page = context.new_page()
        yield server, page
        browser.close()


def test_every_page_renders_without_exception_in_both_languages(browser_page):
    server, page = browser_page
    for lang in ("en", "zh"):
        page.goto(f"{server}/?lang={lang}")  # sign in once per language, then move through the sidebar
        sign_in(page, lang)
        for path in page_paths():
            if path:
                page.locator(f'[data-testid="stSidebar"] a[href="{path}"]').click()  # the sidebar's own menu
                page.wait_for_url(f"**/{path}*")
            settle(page)
            check(page, (path or "home") + ("" if lang == "en" else "-zh"))
            assert page.title() == TAB_TITLES[path], path


def test_last_month_by_project_downloaded_as_csv(browser_page, env):
    """The finance question in the browser: what did the org spend last month, by project? Then download it."""

    today = datetime.now(UTC).astimezone(ZoneInfo("America/New_York")).date()
    first = add_months(today.replace(day=1), -1)
    server, page = browser_page
    page.goto(f"{server}/Spend_explorer")
    sign_in(page)
    settle(page)
    page.get_by_label("Period").click()  # the period preset selectbox
    page.get_by_role("option", name="Last month").click()
    # Until the rerun for the new period has drawn, the page shows this month's figures (greyed out):
    # on a slow machine settle() can look between the click and the rerun, so wait for last month's range.
    last = today.replace(day=1) - timedelta(days=1)
    # (Anchored: this month's caption ends with "compared with" last month's range.)
    shown = re.compile("^" + re.escape(f"{first.isoformat()} – {last.isoformat()}"))
    page.get_by_text(shown).wait_for(timeout=45_000)
    settle(page)
    text = check(page, "journey-last-month-by-project")
    assert "Breakdown" in text
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig"))))
    assert rows[0][0] == "Project" and rows[-1][0] == "Total"
    projects = {r[0] for r in rows[1:-1]}
    assert {"chat-assistant", "search-rag", "batch-summaries"} <= projects
    # The total row adds up the rows (each to the cent), and is the explorer's exact total for
    # last month in the org's time zone within that rounding.
    expected = explore(["org-prod"], first, today.replace(day=1), ("project",)).total_cost
    cost = rows[0].index("Estimated cost (USD)")
    total = Decimal(rows[-1][cost])
    assert total == sum(Decimal(r[cost]) for r in rows[1:-1])
    assert abs(total - expected) <= Decimal("0.005") * (len(rows) - 2) and total > 100


def test_sign_in_survives_reload_second_tab_and_deep_link_with_its_language(browser_page):
    """Issue 16's journey: signed in once, the member stays signed in, in Chinese and CNY, on a reload,
    in a second tab and through a deep link (an alert email's), until they sign out; a revoked or
    expired session is refused; the cookie is HttpOnly and SameSite=Lax and holds only the token."""

    server, page = browser_page
    zh = keys("zh")
    sidebar = page.locator('[data-testid="stSidebar"]')
    page.goto(f"{server}/Alert_history?org=org-prod&lang=zh")  # a deep link, language chosen for the visit
    sign_in(page, "zh")
    assert "/Alert_history" in page.url and "org=org-prod" in page.url  # back where the link pointed
    settle(page)
    assert zh["alerthist.title"] in check(page, "session-signed-in-zh")
    page.get_by_label(zh["sidebar.currency"]).click()
    page.get_by_role("option", name="¥ CNY").click()
    settle(page)

    [cookie] = [c for c in page.context.cookies() if c["name"] == "spendsight_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]  # plain http here
    assert "spendsight_session" not in page.evaluate("document.cookie")  # out of scripts' reach
    with session_scope() as session:
        [row] = session.exec(select(UserSession).where(UserSession.revoked_at.is_(None))).all()
    assert row.email == "owner@example.com" and row.token_sha256 != cookie["value"]

    page.reload()  # F5: still signed in, still Chinese, still CNY
    page.get_by_text(signed_in_text("zh")).wait_for(timeout=45_000)
    settle(page)
    assert zh["alerthist.title"] in check(page, "session-reloaded-zh")
    assert "CNY" in sidebar.inner_text()  # the rate line, shown only when amounts are in CNY

    tab = page.context.new_page()  # a second tab, and a bookmark of another page
    tab.goto(f"{server}/Organizations")
    tab.get_by_text(signed_in_text("zh")).wait_for(timeout=45_000)
    settle(tab)
    assert zh["orgs.title"] in check(tab, "session-second-tab-zh")
    tab.goto(f"{server}/Alert_history?org=org-prod")  # the link a test alert's email carries
    tab.get_by_text(signed_in_text("zh")).wait_for(timeout=45_000)
    settle(tab)
    assert zh["alerthist.title"] in check(tab, "session-deep-link-zh")

    page.get_by_role("link", name=zh["auth.sign_out"]).click()  # sidebar: sign out on the front route
    page.wait_for_url("**/auth/signin?notice=signed_out*")
    assert "您已退出登录" in page.inner_text("body")
    assert not [c for c in page.context.cookies() if c["name"] == "spendsight_session"]
    tab.reload()  # signed out, nobody is known: the gate speaks the browser's language (en-US here)
    en = keys("en")
    tab.get_by_role("link", name=en["auth.submit"], exact=True).wait_for(timeout=45_000)
    assert zh["alerthist.title"] not in tab.locator('[data-testid="stMain"]').inner_text()

    sign_in(tab, "en", then="zh")  # back in, in their Chinese; then the session is revoked on the server
    with session_scope() as session:
        auth.revoke_sessions(session, "owner@example.com")
    tab.reload()
    tab.get_by_text(en["auth.revoked"]).wait_for(timeout=45_000)

    sign_in(tab, "en", then="zh")  # and once more; this time the session runs out
    with session_scope() as session:
        live = session.exec(select(UserSession).where(UserSession.revoked_at.is_(None))).one()
        live.expires_at = utcnow()
        session.add(live)
    tab.reload()
    tab.get_by_text(en["auth.expired"]).wait_for(timeout=45_000)


def test_non_creator_sees_no_org_form_and_a_forged_secret_source_is_refused(browser_page):
    """Issue 11 in the browser: the demo owner is not in SPENDSIGHT_ORG_CREATORS (empty), so the
    Organizations page has no creation form; naming SMTP_PASSWORD as a source's key is refused."""

    server, page = browser_page
    page.goto(f"{server}/Organizations")
    sign_in(page)
    settle(page)
    text = check(page, "policy-organizations")
    assert "Create an organization" not in text
    page.goto(f"{server}/Sources")
    sign_in(page)
    settle(page)
    field = page.get_by_label("Key variable name")
    if not field.is_visible():  # the form's expander starts open only while the org has no source
        page.get_by_text("Add a source").click()
    field.fill("SMTP_PASSWORD")
    page.get_by_role("button", name="Add source").click()
    settle(page)
    text = check(page, "policy-sources-refused")
    assert "not one the operator allows" in text
    with session_scope() as session:
        assert session.exec(select(Source).where(Source.key_env == "SMTP_PASSWORD")).all() == []
