"""Numbers a non-engineer reads: what the hard limit does, limits on never-used projects, no
"↑ the whole amount" against an empty previous period, help on cache columns, times in the org's zone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import alerts
from models.access.orgs import update_org_as
from models.access.roles import Actor
from models.budgets.limits import set_limit
from models.budgets.snapshots import close_month
from models.db import session_scope
from models.sources import add_source
from models.units import add_months
from tests.factories import add_usage, make_org, usage
from tests.pageutil import run_page, texts

FORECAST, BUDGETS = "pages/2_Forecast.py", "pages/3_Budgets_and_alerts.py"
EXPLORER = "pages/1_Spend_explorer.py"
OWNER = "owner@example.com"


def org_with_spend(days=40):
    make_org("org-p", name="Page Org", owners=(OWNER,))
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    add_usage(
        *[
            usage("org-p", now - timedelta(days=d, hours=1), model="gpt-4o", project_id="chat", input_tokens=4_000_000)
            for d in range(days)
        ]
    )


def test_hard_limit_says_what_reaching_it_does_on_budgets_and_forecast():
    org_with_spend()
    set_limit(Actor(OWNER), "org-p", soft="100", hard="500")
    budgets = run_page(BUDGETS, user=OWNER)
    assert not budgets.exception
    hard = next(w for w in budgets.text_input if w.label.startswith("Hard limit"))
    assert "requests sent through the Spendsight gateway are rejected" in hard.help
    assert "Traffic sent straight to a provider is not stopped" in hard.help
    forecast = run_page(FORECAST, user=OWNER)
    assert not forecast.exception
    assert "Reaching the hard limit: requests through the Spendsight gateway are rejected" in texts(forecast)
    p50 = next(m for m in forecast.metric if m.label == "Month end (p50)")
    assert "half the time the month ends below it" in p50.proto.help


def test_owner_is_warned_about_a_limit_on_a_project_that_never_had_usage():
    org_with_spend(3)
    set_limit(Actor(OWNER), "org-p", "chta", soft="50")  # a typo of "chat"
    at = run_page(BUDGETS, user=OWNER)
    assert "These limits name projects that have never had usage, so they watch nothing: chta." in texts(at)
    at.text_input(key="bl_project").input("Chat").run()  # ids are case-sensitive
    assert 'No usage has ever been recorded for project "Chat"' in texts(at)
    at.text_input(key="bl_project").input("chat").run()
    assert 'project "chat"' not in texts(at)


def test_explorer_says_there_is_no_earlier_spend_instead_of_the_whole_amount_up():
    org_with_spend(3)  # nothing before this month-ish window's previous period
    at = run_page(EXPLORER, user=OWNER, session={"ex_preset": "last_7"})
    assert not at.exception
    total = at.metric[0]
    assert total.delta == "No spend in the previous period to compare with"


def test_cached_input_and_cache_writes_explain_themselves_wherever_they_are_columns(demo_data):
    demo_data()
    pages = {
        EXPLORER: ("Cached input", "Cache writes"),
        "pages/10_Prices.py": ("cache_read_mtok", "cache_write_mtok"),
        "pages/5_Model_comparison.py": ("Cached input (reads)", "Cache writes"),
    }
    for path, (cached, writes) in pages.items():
        for lang, words in (
            ("en", ("fraction of the normal input price", "billed once")),
            ("zh", ("一小部分", "只计费一次")),
        ):
            at = run_page(path, user=OWNER, session={"org_id": "org-prod", "lang": lang})
            assert not at.exception, path
            configs = [json.loads(d.proto.columns or "{}") for d in at.dataframe]
            if lang == "zh":  # Chinese column labels: some column carries each help text
                helps = [c.get("help", "") for config in configs for c in config.values()]
                assert any(words[0] in h for h in helps) and any(words[1] in h for h in helps), path
                continue
            config = next(c for c in configs if cached in c)
            assert words[0] in config[cached]["help"] and words[1] in config[writes]["help"], path


def test_times_on_org_pages_name_the_org_zone(demo_data):
    demo_data()
    zone = "Asia/Shanghai"  # not UTC, so the label cannot be a default
    update_org_as(Actor.cli(), "org-prod", timezone=zone)
    with session_scope() as session:
        add_source(session, Actor.cli(), "org-prod", "openai", "OPENAI_ADMIN_KEY", name="prod-openai")
    alerts.send_test(Actor.cli(), "org-prod")  # one message in the alert history
    for path, (label, converted) in {
        "pages/8_Sources.py": ("Last run", True),
        "pages/4_Alert_history.py": ("Fired", False),
    }.items():
        at = run_page(path, user=OWNER, session={"org_id": "org-prod"})
        assert not at.exception, path
        config = next(json.loads(d.proto.columns) for d in at.dataframe)
        column = next(c for c in config.values() if str(c.get("label", "")).startswith(label))
        assert column["label"] == f"{label} ({zone})", path
        assert column["type_config"].get("timezone") == (zone if converted else None), path
    # The page opens on the org's last month in its own zone: from 16:00 UTC on a month's last day
    # that is already the month before Shanghai's new one.
    first = add_months(datetime.now(ZoneInfo(zone)).date().replace(day=1), -1)
    close_month(Actor.cli(), "org-prod", first.year, first.month)
    at = run_page("pages/6_Statement.py", user=OWNER, session={"org_id": "org-prod"})
    assert not at.exception
    closed = next(e.value for e in at.info if "Closed on" in e.value)
    assert f"({zone})" in closed
