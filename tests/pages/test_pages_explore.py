"""Spend explorer page: what finance sees for a period, grouping, filters, language and currency."""

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from streamlit import dataframe_util

from models.access.roles import Actor
from models.fx import set_rate
from models.spend.explore import first_seen
from tests.factories import add_usage, make_org, usage
from tests.pageutil import run_page, texts
from ui.queries import series_colors

PAGE = "pages/1_Spend_explorer.py"


def _month_usage():
    """This month: web $6.00 (two requests), api $2.50; both on gpt-4o."""
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    day = now.replace(day=1) if now.day == 1 else now - timedelta(days=1)
    make_org("org-p", "Pages Org", readers=("finance@example.com",))
    add_usage(
        usage("org-p", day, model="gpt-4o", project_id="web", input_tokens=1_000_000),
        usage("org-p", day, model="gpt-4o", project_id="web", input_tokens=1_000_000, output_tokens=100_000),
        usage("org-p", day, model="gpt-4o", project_id="api", input_tokens=1_000_000, api_key_id="key_a"),
    )


def _table(at, index=0):
    """The breakdown (index 0) or its totals row (index 1): the frames with a Requests column."""
    frames = [d.value for d in at.dataframe if "Requests" in d.value.columns or "请求数" in d.value.columns]
    return frames[index]


def test_spend_by_project_this_month_with_totals():
    _month_usage()
    at = run_page(PAGE, user="finance@example.com")
    assert not at.exception
    assert at.metric[0].value == "$8.50"
    table = _table(at)
    assert list(table["Project"]) == ["web", "api"]
    assert list(table["Estimated cost (USD)"]) == [6.0, 2.5]
    totals = _table(at, 1)
    assert totals["Project"].iloc[0] == "Total" and totals["Estimated cost (USD)"].iloc[0] == 8.5
    chart_table = at.dataframe[0].value  # the chart's table view: spend per day and project
    assert sorted(chart_table["Project"]) == ["api", "web"] and chart_table["cost_usd"].sum() == 8.5


def test_filter_and_group_by_model_and_key():
    _month_usage()
    at = run_page(PAGE, user="finance@example.com", session={"ex_by": ["api_key"], "ex_f_project": ["api"]})
    assert not at.exception
    assert at.metric[0].value == "$2.50"
    assert list(_table(at)["API key"]) == ["key_a"]
    assert "Filters (1 active)" in [e.label for e in at.expander]


def test_chinese_and_yuan():
    _month_usage()
    at = run_page(PAGE, user="finance@example.com", session={"lang": "zh", "currency": "CNY"})
    assert not at.exception
    assert at.title[0].value == "支出分析"
    assert at.metric[0].value == "¥60.35"  # $8.50 x 7.10
    assert "估算费用（CNY）" in _table(at).columns


def test_empty_period_says_what_to_do():
    make_org("org-empty", "Empty", readers=("finance@example.com",))
    at = run_page(PAGE, user="finance@example.com")
    assert not at.exception
    assert "spendsight ingest" in texts(at)


def test_custom_period_split_by_week():
    _month_usage()
    today = datetime.now(UTC).date()
    at = run_page(
        PAGE,
        user="finance@example.com",
        session={
            "ex_preset": "custom",
            "ex_custom": (today - timedelta(days=40), today),
            "ex_grain": "week",
            "ex_split": True,
            "ex_by": ["model"],
        },
    )
    assert not at.exception
    table = _table(at)
    assert list(table.columns[:2]) == ["Week", "Model"] and set(table["Model"]) == {"gpt-4o"}
    assert "Estimated cost (USD)" in table.columns and "Change %" not in table.columns
    assert "turn off the split" in texts(at)
    assert at.metric[0].value == "$8.50"


def test_yuan_figures_use_the_rate_in_force_and_say_since_when():

    _month_usage()
    today = datetime.now(UTC).date()
    set_rate(Actor.cli(), "CNY", "7.00", date(2020, 1, 1))
    set_rate(Actor.cli(), "CNY", "7.20", today.replace(day=1))  # this month's rate
    set_rate(Actor.cli(), "CNY", "9.99", today + timedelta(days=40))  # not in force yet
    at = run_page(PAGE, user="finance@example.com", session={"currency": "CNY"})
    assert not at.exception
    assert at.metric[0].value == "¥61.20"  # $8.50 x 7.20
    assert f"at 7.20 CNY/USD since {today.replace(day=1)}" in texts(at)
    assert Decimal(str(_table(at, 1)["Estimated cost (CNY)"].iloc[0])) == Decimal("61.2")


def _shown(at, index=0):
    """What the reader sees in a styled table: the cells' display text (the value stays the number)."""
    frames = [d for d in at.dataframe if "Requests" in d.value.columns]
    return dataframe_util.convert_arrow_bytes_to_pandas_df(frames[index].proto.arrow_data.styler.display_values)


def test_unpriced_usage_reads_unpriced_with_its_tokens_not_zero_dollars():
    _month_usage()
    day = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(hours=1)
    add_usage(usage("org-p", day, model="gpt-9-nobody", project_id="web", input_tokens=1_234_000, output_tokens=567))
    at = run_page(PAGE, user="finance@example.com", session={"ex_by": ["model"]})
    assert not at.exception
    table, shown = _table(at), _shown(at)
    rows = dict(zip(table["Model"], shown["Estimated cost (USD)"], strict=True))
    assert rows == {"gpt-4o": "$8.50", "gpt-9-nobody": "unpriced (1,234,567 tokens)"}
    assert table.loc[table["Model"] == "gpt-9-nobody", "Estimated cost (USD)"].iloc[0] == 0  # still sorts as a number
    assert list(shown["Input tokens"]) == ["3,000,000", "1,234,000"]  # counts with thousands separators
    assert _shown(at, 1)["Estimated cost (USD)"].iloc[0] == "$8.50 + unpriced (1,234,567 tokens)"  # the total row
    zh = run_page(PAGE, user="finance@example.com", session={"ex_by": ["model"], "lang": "zh", "currency": "CNY"})
    frames = [d for d in zh.dataframe if "请求数" in d.value.columns]

    shown = dataframe_util.convert_arrow_bytes_to_pandas_df(frames[0].proto.arrow_data.styler.display_values)
    assert "未定价（1,234,567 个令牌）" in list(shown["估算费用（CNY）"])


def _chart_colours(at) -> dict[str, str]:
    """The explorer chart's legend entries -> their bar colour."""
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    return {trace["name"]: trace["marker"]["color"] for trace in spec["data"]}


def test_demo_chart_gives_each_project_and_model_its_own_colour_in_every_period(demo_data):
    demo_data()
    for by in ("project", "model"):
        seen: dict[str, str] = {}
        for preset in ("this_month", "last_month", "last_90"):
            at = run_page(
                PAGE, user="owner@example.com", session={"org_id": "org-prod", "ex_preset": preset, "ex_by": [by]}
            )
            assert not at.exception
            colours = _chart_colours(at)
            named = {k: v for k, v in colours.items() if k != "Other"}
            assert len(set(named.values())) == len(named) >= 3, (by, preset, colours)
            for name, colour in named.items():
                assert seen.setdefault(name, colour) == colour, f"{name} changed colour in {preset}"
    # Every project and model of each demo org, charted or not, has a colour of its own.
    for org in ("org-prod", "org-staging"):
        for by in ("project", "model"):
            names = first_seen([org], by)
            assert len(names) >= 3 and len(set(series_colors((org,), by).values())) == len(names), (org, by)
    # Hashed, these two shared one blue on the demo chart.
    at = run_page(PAGE, user="owner@example.com", session={"org_id": "org-prod", "ex_preset": "last_month"})
    colours = _chart_colours(at)
    assert colours["support-triage"] != colours["batch-summaries"]
