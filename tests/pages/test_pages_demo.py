"""Smoke test of the home, explorer, comparison, statement, organizations and prices pages on the demo
data, in English as an owner and in Chinese as a reader (the text files themselves: tests/ui/test_i18n.py)."""

from tests.conftest import REPO
from tests.pageutil import run_page, texts
from ui.sidebar import MENU

PAGES = {
    "app.py": ("Spendsight", "Spendsight"),
    "pages/1_Spend_explorer.py": ("Spend explorer", "支出分析"),
    "pages/5_Model_comparison.py": ("Model comparison", "模型对比"),
    "pages/6_Statement.py": ("Statement", "月度账单"),
    "pages/9_Organizations.py": ("Organizations", "组织"),
    "pages/10_Prices.py": ("Prices", "价格"),
}


def test_every_page_on_demo_data_in_both_languages(demo_data):
    demo_data()
    for path, (english, chinese) in PAGES.items():
        at = run_page(path, user="owner@example.com", session={"org_id": "org-prod"})
        assert not at.exception, f"{path}: {at.exception}"
        assert at.title[0].value == english, path
        assert at.dataframe or at.metric, f"{path} shows no numbers on demo data"
        at = run_page(
            path, user="finance@example.com", session={"org_id": "org-staging", "lang": "zh", "currency": "CNY"}
        )
        assert not at.exception, f"{path} (zh): {at.exception}"
        assert at.title[0].value == chinese, path
        assert all(not m.value.startswith("$") for m in at.metric), f"{path} shows USD while CNY is chosen"
        assert "Traceback" not in texts(at)
    # The explorer answers "last month by project" for the demo's production org.
    at = run_page(
        "pages/1_Spend_explorer.py",
        user="finance@example.com",
        session={"org_id": "org-prod", "ex_preset": "last_month"},
    )
    table = next(d.value for d in at.dataframe if "Requests" in d.value.columns)
    assert {"chat-assistant", "search-rag", "batch-summaries", "support-triage", "code-review"} <= set(table["Project"])
    assert at.metric[0].value.startswith("$") and at.metric[0].delta  # with the change vs the month before


def test_the_sidebar_menu_links_every_page_in_the_chosen_language():
    scripts = [script for script, _, _ in MENU]
    assert sorted(scripts) == sorted(["app.py"] + [f"pages/{p.name}" for p in (REPO / "pages").glob("*.py")])
    # Streamlit's URL for a page is its file name without the number: the menu order is the files' order.
    urls = [""] + [p.stem.split("_", 1)[1] for p in sorted((REPO / "pages").glob("*.py"), key=_number)]
    for lang, labels in (("en", ("Home", "Spend explorer", "Gateway")), ("zh", ("首页", "支出分析", "网关"))):
        at = run_page("pages/2_Forecast.py", session={"lang": lang})
        links = at.get("page_link")
        assert [link.proto.page for link in links] == urls
        assert tuple(links[i].proto.label for i in (0, 1, -1)) == labels


def _number(path):
    return int(path.stem.split("_", 1)[0])
