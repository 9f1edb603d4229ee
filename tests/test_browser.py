"""`streamlit run` in a real process, every page loaded in headless Chromium without an exception box."""

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
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


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
    from models.demo import load_demo

    load_demo()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
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


def page_paths() -> list[str]:
    return [""] + [p.stem.split("_", 1)[-1] for p in sorted((REPO / "pages").glob("*.py"))]


def test_every_page_renders_without_exception(server):
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium missing: `make browser` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for path in page_paths():
            page.goto(f"{server}/{path}")
            # Rendered: the main area has text and the "running" indicator is gone (twice, 0.5 s apart).
            for _ in range(2):
                page.wait_for_function(DONE, timeout=45_000)
                page.wait_for_timeout(500)
            name = path or "home"
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            errors = page.locator('[data-testid="stException"]').all_inner_texts()
            assert not errors, f"page {name!r} shows an exception: {errors}"
            assert page.locator('[data-testid="stMain"]').inner_text().strip(), f"page {name!r} is blank"
        browser.close()
