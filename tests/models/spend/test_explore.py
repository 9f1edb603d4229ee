"""Spend explorer: periods, filters, grouping, previous-period deltas, billed columns, exports."""

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from models.db import get_engine
from models.spend.explore import (
    ExploreError,
    dimension_values,
    display_frame,
    explore,
    first_seen,
    neutralize,
    period,
    previous_period,
    to_csv,
    to_excel,
)
from models.spend.queries import SpendQuery, spend
from models.tables import BilledCost
from tests.factories import add_usage, make_org, usage


def _gpt4o(org, at, project, input_tokens=1_000_000, output_tokens=0, **extra):
    return usage(
        org, at, model="gpt-4o", project_id=project, input_tokens=input_tokens, output_tokens=output_tokens, **extra
    )


@pytest.fixture
def two_projects():
    """org-e: Oct: web $2.50; Nov: web $5.00 (+$1 output), api $2.50, key/user set on the api request."""
    make_org("org-e", "Explore Org")
    add_usage(
        _gpt4o("org-e", "2026-10-05T10:00:00Z", "web"),
        _gpt4o("org-e", "2026-11-03T10:00:00Z", "web"),
        _gpt4o("org-e", "2026-11-20T10:00:00Z", "web", output_tokens=100_000),
        _gpt4o("org-e", "2026-11-21T10:00:00Z", '=HYPERLINK("http://x")', api_key_id="key_a", user_id="ana"),
    )
    return "org-e"


def test_presets_and_previous_periods():
    today = date(2026, 11, 24)
    assert period("this_month", today) == (date(2026, 11, 1), date(2026, 11, 25))
    assert period("last_month", today) == (date(2026, 10, 1), date(2026, 11, 1))
    assert period("last_30", today) == (date(2026, 10, 26), date(2026, 11, 25))
    assert period("last_90", today) == (date(2026, 8, 27), date(2026, 11, 25))
    assert period("custom", today, date(2026, 1, 1), date(2026, 1, 31)) == (date(2026, 1, 1), date(2026, 2, 1))
    assert period("last_month", date(2026, 1, 15)) == (date(2025, 12, 1), date(2026, 1, 1))
    # Whole month -> the month before; month to date -> the same days of last month; else the days before.
    assert previous_period(date(2026, 10, 1), date(2026, 11, 1)) == (date(2026, 9, 1), date(2026, 10, 1))
    assert previous_period(date(2026, 3, 1), date(2026, 3, 31)) == (date(2026, 2, 1), date(2026, 3, 1))
    assert previous_period(date(2026, 11, 1), date(2026, 11, 25)) == (date(2026, 10, 1), date(2026, 10, 25))
    assert previous_period(date(2026, 10, 26), date(2026, 11, 25)) == (date(2026, 9, 26), date(2026, 10, 26))
    with pytest.raises(ExploreError, match="last day 2026-01-01 is before the first day 2026-01-05"):
        period("custom", today, date(2026, 1, 5), date(2026, 1, 1))
    with pytest.raises(ExploreError, match="period 'yesterday'"):
        period("yesterday", today)


def test_group_by_project_with_previous_period_delta(two_projects):
    result = explore([two_projects], date(2026, 11, 1), date(2026, 12, 1), group_by=("project",))
    table = result.table.set_index("project")
    assert table.loc["web", "cost_usd"] == Decimal("6.00")  # 2 x $2.50 input + $1.00 output
    assert table.loc["web", "prev_cost_usd"] == Decimal("2.50")
    assert table.loc["web", "delta_usd"] == Decimal("3.50")
    assert table.loc["web", "delta_pct"] == Decimal("1.4")
    api = table.loc['=HYPERLINK("http://x")']
    assert api["cost_usd"] == Decimal("2.50") and api["prev_cost_usd"] == 0 and api["delta_pct"] is None
    assert list(result.table["project"])[0] == "web"  # largest first
    assert result.total_cost == Decimal("8.50") and result.previous_cost == Decimal("2.50")
    assert result.delta == Decimal("6.00") and result.delta_pct == Decimal("2.4")
    assert result.total_requests == 3 and result.total_tokens == 3_100_000
    assert result.previous == (date(2026, 10, 1), date(2026, 11, 1))


def test_filters_and_grouping_by_key_user_and_time(two_projects):
    result = explore(
        [two_projects],
        date(2026, 11, 1),
        date(2026, 12, 1),
        group_by=("api_key", "user"),
        filters={"api_key": ["key_a"]},
    )
    assert result.table[["api_key", "user", "requests"]].values.tolist() == [["key_a", "ana", 1]]
    assert result.total_cost == Decimal("2.50")
    weekly = explore(
        [two_projects], date(2026, 11, 1), date(2026, 12, 1), group_by=("project",), grain="week", split=True
    )
    assert "prev_cost_usd" not in weekly.table.columns  # deltas are per group, not per week
    assert weekly.table[["week", "project"]].values.tolist()[0] == ["2026-11-02", "web"]
    assert sorted(weekly.table["week"].unique()) == ["2026-11-02", "2026-11-16"]
    series = weekly.series.groupby("period")["cost_usd"].sum()
    assert series["2026-11-16"] == Decimal("6.00")  # $3.50 web + $2.50 api in that week
    with pytest.raises(ExploreError, match="group by 'colour'"):
        explore([two_projects], date(2026, 11, 1), date(2026, 12, 1), group_by=("colour",))
    values = dimension_values([two_projects], date(2026, 11, 1), date(2026, 12, 1))
    assert values["project"] == ['=HYPERLINK("http://x")', "web"] and values["user"] == ["", "ana"]


def test_group_that_stopped_spending_shows_minus_100_percent(two_projects):
    add_usage(_gpt4o(two_projects, "2026-10-07T10:00:00Z", "legacy"))
    result = explore([two_projects], date(2026, 11, 1), date(2026, 12, 1), group_by=("project",))
    legacy = result.table.set_index("project").loc["legacy"]
    assert legacy["cost_usd"] == 0 and legacy["prev_cost_usd"] == Decimal("2.50")
    assert legacy["delta_pct"] == Decimal(-1)


def _billed(org, day, amount_micros, project="", model="gpt-4o"):
    with get_engine().begin() as conn:
        conn.execute(
            BilledCost.__table__.insert(),
            [
                dict(
                    org_id=org,
                    source="openai-costs",
                    provider="openai",
                    project_id=project,
                    model=model,
                    line_item=f"{model}, input",
                    bucket_start=datetime.fromisoformat(day).replace(tzinfo=UTC),
                    bucket_width=86400,
                    amount_micros=amount_micros,
                    currency="USD",
                    ingested_at=datetime.now(UTC),
                )
            ],
        )


def test_estimated_vs_billed_columns(two_projects):
    _billed(two_projects, "2026-11-03", 2_400_000, project="web")
    _billed(two_projects, "2026-11-20", 3_600_000, project="web")
    _billed(two_projects, "2026-10-31", 9_000_000, project="web")  # another month
    _billed(two_projects, "2026-11-22", 1_000_000, project="batch-only")  # billed, no usage recorded
    result = explore([two_projects], date(2026, 11, 1), date(2026, 12, 1), group_by=("project",))
    table = result.table.set_index("project")
    assert table.loc["web", "billed_usd"] == Decimal("6.00")
    assert table.loc["batch-only", "billed_usd"] == Decimal("1.00") and table.loc["batch-only", "cost_usd"] == 0
    assert table.loc['=HYPERLINK("http://x")', "billed_usd"] == 0
    assert result.billed_total == Decimal("7.00") and result.billed_note == ""
    by_user = explore([two_projects], date(2026, 11, 1), date(2026, 12, 1), group_by=("user",))
    assert "billed_usd" not in by_user.table.columns and by_user.billed_note == "user"
    filtered = explore([two_projects], date(2026, 11, 1), date(2026, 12, 1), filters={"project": ["web"]})
    assert filtered.billed_total == Decimal("6.00")


def test_time_zone_decides_the_local_day_of_usage_and_bills():
    make_org("org-ny", "NY", timezone="America/New_York")
    # 2026-11-01 03:00 UTC is still October 31st in New York.
    add_usage(_gpt4o("org-ny", "2026-11-01T03:00:00Z", "web"))
    _billed("org-ny", "2026-11-01", 1_000_000, project="web")  # 00:00 UTC = Oct 31 in New York
    november = explore(["org-ny"], date(2026, 11, 1), date(2026, 12, 1), compare=False)
    october = explore(["org-ny"], date(2026, 10, 1), date(2026, 11, 1), compare=False)
    assert november.total_cost == 0 and october.total_cost == Decimal("2.50")
    assert october.billed_total == Decimal("1.00") and november.billed_total is None


def test_exports_are_exactly_the_table_with_formulas_neutralised(two_projects):
    result = explore([two_projects], date(2026, 11, 1), date(2026, 12, 1), group_by=("project",))
    labels = {"project": "Project", "cost_usd": "Cost (CNY)"}
    frame = display_frame(result, Decimal("7.1"), labels, total="Total", cents=True)
    assert list(frame.columns)[:2] == ["Project", "requests"]
    rows = list(csv.reader(io.StringIO(to_csv(frame, ["delta_pct"]).decode("utf-8-sig"))))
    assert rows[0] == [str(c) for c in frame.columns]
    header = rows[0]
    web = rows[1]
    assert web[0] == "web" and web[header.index("Cost (CNY)")] == "42.60"  # $6.00 x 7.1, to the cent
    injected = rows[2]
    assert injected[0] == '\'=HYPERLINK("http://x")'
    assert injected[header.index("delta_pct")] == ""
    total = rows[-1]
    assert total[0] == "Total" and total[header.index("Cost (CNY)")] == "60.35"  # $8.50 x 7.1
    assert total[header.index("requests")] == "3" and total[header.index("delta_pct")] == "240.0%"
    assert len(rows) == 4

    book = load_workbook(io.BytesIO(to_excel(frame, "Spend", [("period", "2026-11"), ("by", "-x")], ["delta_pct"])))
    sheet = book["Spend"]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0] == list(frame.columns)
    assert values[2][0] == '\'=HYPERLINK("http://x")' and sheet.cell(3, 1).data_type == "s"
    assert values[1][list(frame.columns).index("Cost (CNY)")] == pytest.approx(42.6)
    assert values[-1][0] == "Total" and len(values) == 4
    cost, pct, requests = (list(frame.columns).index(c) + 1 for c in ("Cost (CNY)", "delta_pct", "requests"))
    assert sheet.cell(4, cost).value == 60.35 and sheet.cell(4, cost).number_format == "#,##0.00"
    assert sheet.cell(4, pct).value == 2.4 and sheet.cell(4, pct).number_format == "0.0%"
    assert sheet.cell(4, requests).value == 3 and isinstance(sheet.cell(4, requests).value, int)
    assert sheet.cell(4, requests).number_format == "#,##0"
    assert [c.value for c in book["About"][2]] == ["by", "'-x"]


def test_neutralize_quotes_every_formula_start():
    for text in ("=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert neutralize(text) == "'" + text
    assert neutralize("web") == "web" and neutralize(-5) == -5 and neutralize(None) is None


def test_a_day_by_day_series_over_two_orgs_adds_their_rows_exactly():
    """The series reads rollup rows without GROUP BY when it groups by their whole key; rows of two
    orgs with the same day, project and price then meet in Python and must add up."""
    for org in ("org-s1", "org-s2"):
        make_org(org)
        add_usage(
            _gpt4o(org, "2026-11-03T10:00:00Z", "web", input_tokens=400_000, output_tokens=10_000),
            _gpt4o(org, "2026-11-03T11:00:00Z", "web", input_tokens=100_000),
            _gpt4o(org, "2026-11-04T10:00:00Z", "api", input_tokens=200_000),
        )
    start, end = date(2026, 11, 1), date(2026, 12, 1)
    both = spend(SpendQuery.make(("org-s1", "org-s2"), start, end, by=("day", "project")))
    assert [
        (r.keys["day"], r.keys["project"], r.counters["input_tokens"], r.counters["requests"], r.cost) for r in both
    ] == [
        ("2026-11-03", "web", 1_000_000, 4, Decimal("2.70")),  # gpt-4o: $2.50 in, $10 out per million
        ("2026-11-04", "api", 400_000, 2, Decimal("1.00")),
    ]
    one = spend(SpendQuery.make(("org-s1",), start, end, by=("day", "project")))
    assert [r.cost * 2 for r in one] == [r.cost for r in both]


def test_first_seen_lists_every_name_the_org_ever_used_in_the_order_it_arrived():
    """The chart colours' order: not the viewed period's names, so no period moves a slot."""
    make_org("org-f")
    make_org("org-g")
    add_usage(
        _gpt4o("org-f", "2026-10-20T10:00:00Z", "zeta"),
        _gpt4o("org-f", "2026-11-03T10:00:00Z", "beta"),
        _gpt4o("org-f", "2026-11-03T11:00:00Z", "alpha"),
        _gpt4o("org-f", "2026-11-20T10:00:00Z", "zeta"),
        usage("org-f", "2026-11-05T10:00:00Z", model="gpt-4o-mini", project_id="beta", input_tokens=1000),
        _gpt4o("org-g", "2026-09-01T10:00:00Z", "elsewhere"),
    )
    assert first_seen(["org-f"], "project") == ["zeta", "alpha", "beta"]  # then by name on one day
    assert first_seen(["org-f"], "model") == ["gpt-4o", "gpt-4o-mini"]
    assert first_seen(["org-f", "org-g"], "project") == ["elsewhere", "zeta", "alpha", "beta"]
    assert first_seen(["org-f"], "api_key") == [] and first_seen([], "project") == []
