"""ui.page.page_header(): every page's title and help line in the chosen language, the stop for someone in
no organization, and the confirmation a previous run left (the browser tab's title: tests/pages/test_browser.py)."""

from tests.pageutil import run_page
from ui.i18n import keys
from ui.sidebar import MENU

# script: (text area, what someone in no organization is told under the help line; None: the page goes on)
PAGES = {
    "app.py": ("home", "home.no_orgs"),
    "pages/1_Spend_explorer.py": ("explore", "common.no_orgs"),
    "pages/2_Forecast.py": ("forecast", "common.no_orgs"),
    "pages/3_Budgets_and_alerts.py": ("budgets", "common.no_orgs"),
    "pages/4_Alert_history.py": ("alerthist", "common.no_orgs"),
    "pages/5_Model_comparison.py": ("compare", "common.no_orgs"),
    "pages/6_Statement.py": ("statement", "common.no_orgs"),
    "pages/7_Reconciliation.py": ("recon", "common.no_orgs"),
    "pages/8_Sources.py": ("sources", "common.no_orgs"),
    "pages/9_Organizations.py": ("orgs", None),  # offers to create one
    "pages/10_Prices.py": ("prices", None),  # the catalog is everyone's
    "pages/11_Audit_log.py": ("audit", None),  # says so in its own words
    "pages/12_Gateway.py": ("gateway", "common.no_orgs"),
}
FLASHES = {
    "pages/3_Budgets_and_alerts.py": "budget_flash",
    "pages/4_Alert_history.py": "alerthist_flash",
    "pages/8_Sources.py": "src_flash",
    "pages/9_Organizations.py": "org_flash",
    "pages/10_Prices.py": "pr_flash",
    "pages/12_Gateway.py": "gw_flash",
}


def test_every_page_starts_with_its_title_and_help_and_stops_without_an_organization():
    assert sorted(PAGES) == sorted(script for script, _, _ in MENU)
    for script, (area, no_orgs) in PAGES.items():
        for lang in ("en", "zh"):
            words = keys(lang)
            at = run_page(script, session={"lang": lang})  # signed in, a member of no organization
            assert not at.exception, f"{script}: {at.exception}"
            top = [(e.type, getattr(e, "value", None)) for e in at.main.children.values()]
            assert top[:2] == [("title", words[f"{area}.title"]), ("caption", words[f"{area}.help"])], script
            if no_orgs:
                assert top[2:] == [("info", words[no_orgs])], script  # and nothing after it
            else:
                assert len(top) > 2 and ("info", words["common.no_orgs"]) not in top, script


def test_the_confirmation_of_a_change_is_shown_under_the_help_line_once(demo_data):
    demo_data()
    for script, key in FLASHES.items():
        at = run_page(script, session={"org_id": "org-prod", key: f"Saved on {script}."})
        assert not at.exception, f"{script}: {at.exception}"
        third = list(at.main.children.values())[2]
        assert (third.type, third.value) == ("success", f"Saved on {script}."), script
        at.run()
        assert f"Saved on {script}." not in [s.value for s in at.success], script
