"""`streamlit run` in a real process, every page loaded in headless Chromium without an exception box.

Every page is visited in English and in Chinese (screenshots in tests/artifacts/, not committed), and
the finance journey runs end to end: last month's spend by project, downloaded as CSV.
"""

import csv
import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO

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


@pytest.fixture
def server(env):
    from demo import load_demo

    load_demo()
    port = free_port()
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
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.kill()
        output = proc.stdout.read().decode()[-2000:]
        proc.stdout.close()
        pytest.fail("streamlit did not start: " + output)
    yield url
    proc.terminate()
    proc.wait(timeout=20)
    proc.stdout.close()


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
}


def page_paths() -> list[str]:
    return [""] + [p.stem.split("_", 1)[-1] for p in sorted((REPO / "pages").glob("*.py"))]


def sign_in(page, lang: str = "en") -> None:
    """Each page load is a new browser session: sign in through the form as the demo owner."""
    from models.access.auth import DEMO_PASSWORDS
    from ui.i18n import keys

    words = keys(lang)
    page.get_by_label(words["auth.email"]).fill("owner@example.com")
    page.get_by_label(words["auth.password"], exact=True).fill(DEMO_PASSWORDS["owner"])
    page.get_by_role("button", name=words["auth.submit"]).click()
    page.get_by_text(words["auth.signed_in_as"].split("{")[0].strip()).wait_for(timeout=45_000)


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
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
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
    from datetime import UTC, datetime
    from decimal import Decimal
    from zoneinfo import ZoneInfo

    from models.spend.explore import explore
    from models.units import add_months

    server, page = browser_page
    page.goto(f"{server}/Spend_explorer")
    sign_in(page)
    settle(page)
    page.get_by_label("Period").click()  # the period preset selectbox
    page.get_by_role("option", name="Last month").click()
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
    today = datetime.now(UTC).astimezone(ZoneInfo("America/New_York")).date()
    first = add_months(today.replace(day=1), -1)
    expected = explore(["org-prod"], first, today.replace(day=1), ("project",)).total_cost
    cost = rows[0].index("Estimated cost (USD)")
    total = Decimal(rows[-1][cost])
    assert total == sum(Decimal(r[cost]) for r in rows[1:-1])
    assert abs(total - expected) <= Decimal("0.005") * (len(rows) - 2) and total > 100
