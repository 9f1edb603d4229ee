"""At 1280 px, in USD and CNY, the Statement and Forecast headline cards show every figure whole."""

import pytest

from tests.pages.test_browser import ARTIFACTS, browser_page, front_route, server, settle, sign_in  # noqa: F401

pytestmark = pytest.mark.browser

CUT = """() => [...document.querySelectorAll(
  '[data-testid="stMetricValue"] div, [data-testid="stMetricValue"], [data-testid="stMetricDelta"] div')]
  .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)"""


def test_statement_and_forecast_cards_read_in_full_at_1280px(browser_page):  # noqa: F811
    url, page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{url}/?lang=en")
    sign_in(page)
    settle(page)
    for currency in ("USD", "CNY"):
        if currency == "CNY":
            page.get_by_label("Currency").click()
            page.get_by_role("option", name="¥ CNY").click()
            settle(page)
        for path in ("Statement", "Forecast"):
            page.locator(f'[data-testid="stSidebar"] a[href="{path}"]').click()
            page.wait_for_url(f"**/{path}*")
            settle(page)
            page.screenshot(path=str(ARTIFACTS / f"cards-{path}-{currency}-1280.png"))
            values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
            assert len(values) >= 4 and all(v.strip() and "…" not in v for v in values), values
            assert page.evaluate(CUT) == [], (path, currency)
