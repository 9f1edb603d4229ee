"""The home page's and the explorer's queries: the same numbers as one spend() query per figure,
read with fewer scans of the rollups."""

from datetime import date, timedelta
from decimal import Decimal

from models.spend.explore import dimension_values, explore
from models.spend.overview import overview
from models.spend.queries import SpendQuery, spend
from tests.factories import add_usage, make_org, usage

TODAY = date(2026, 11, 24)


def _usage_over_three_months(org: str) -> None:
    """Usage from September to today: several models (one without a price), projects, keys and users."""
    rows = []
    for back in range(0, 85, 3):
        day = TODAY - timedelta(days=back)
        for i, (model, project) in enumerate(
            (("gpt-4o", "web"), ("gpt-4o-mini", "api"), ("claude-sonnet-4-5", "web"), ("in-house-llm", "lab"))
        ):
            rows.append(
                usage(
                    org,
                    f"{day}T{(back * 7 + i) % 24:02d}:30:00Z",
                    model=model,
                    project_id=project,
                    provider={"claude": "anthropic", "gpt": "openai"}.get(model.split("-")[0], ""),
                    api_key_id=f"key-{i % 2}",
                    user_id=f"user-{back % 5}",
                    input_tokens=10_000 * (i + 1) + back,
                    output_tokens=1_000 + back,
                    batch=back % 9 == 0,
                )
            )
    add_usage(*rows)


def _total(org: str, start: date, end: date, **by) -> list:
    return spend(SpendQuery.make(org, start, end, **by))


def test_home_figures_equal_a_query_per_figure():
    make_org("org-h", timezone="America/New_York")
    _usage_over_three_months("org-h")
    view = overview("org-h", TODAY)
    month, end = date(2026, 11, 1), TODAY + timedelta(days=1)
    [mtd] = _total("org-h", month, end)
    [prev] = _total("org-h", date(2026, 10, 1), month)
    assert (view.mtd_cost, view.mtd_requests) == (mtd.cost, mtd.counters["requests"])
    assert view.prev_month_cost == prev.cost > 0
    daily = _total("org-h", TODAY - timedelta(days=60), end, by=("day",))
    assert [d.isoformat() for d in view.daily["day"]] == [r.keys["day"] for r in daily]
    assert list(view.daily["cost_usd"]) == [float(r.cost) for r in daily]
    models = sorted(_total("org-h", month, end, by=("model", "provider")), key=lambda r: -r.cost)[:8]
    assert list(view.top_models["model"]) == [r.keys["model"] for r in models]
    assert list(view.top_models["cost_usd"]) == [float(r.cost) for r in models]
    projects = sorted(_total("org-h", month, end, by=("project",)), key=lambda r: -r.cost)
    assert list(view.top_projects["project"]) == [r.keys["project"] for r in projects]
    assert view.top_projects["share"].sum() == float(sum((r.cost for r in projects), Decimal(0)) / mtd.cost)
    unpriced = [r for r in _total("org-h", month, end, by=("provider", "model")) if r.unpriced_requests]
    assert [u["model"] for u in view.unpriced] == ["in-house-llm"] == [r.keys["model"] for r in unpriced]
    assert view.unpriced[0]["requests"] == unpriced[0].counters["requests"] > 0


def test_the_previous_month_counts_whole_when_it_starts_before_the_chart():
    make_org("org-long")  # 31-day October, today the 30th of November: the chart's 60 days start Oct 1
    add_usage(
        usage("org-long", "2026-09-30T12:00:00Z", model="gpt-4o", input_tokens=1_000_000),
        usage("org-long", "2026-10-01T00:10:00Z", model="gpt-4o", input_tokens=1_000_000),
        usage("org-long", "2026-10-31T23:50:00Z", model="gpt-4o", input_tokens=2_000_000),
    )
    view = overview("org-long", date(2026, 11, 30))
    assert view.prev_month_cost == Decimal("7.5")  # 3M x $2.50: October only
    assert view.daily["day"].min() == date(2026, 10, 1)
    view = overview("org-long", date(2026, 11, 30), history_days=30)  # chart from Oct 31; October still whole
    assert view.prev_month_cost == Decimal("7.5") and view.daily["day"].min() == date(2026, 10, 31)


def test_filter_choices_from_both_rollups():
    make_org("org-d")
    _usage_over_three_months("org-d")
    add_usage(usage("org-d", "2026-11-20T10:00:00Z", model="gpt-4o", project_id="", user_id=""))
    values = dimension_values(["org-d"], date(2026, 11, 1), date(2026, 12, 1))
    assert values == {
        "project": ["", "api", "lab", "web"],
        "model": ["claude-sonnet-4-5", "gpt-4o", "gpt-4o-mini", "in-house-llm"],
        "provider": ["", "anthropic", "openai"],
        "api_key": ["", "key-0", "key-1"],
        "user": ["", "user-0", "user-1", "user-2", "user-3", "user-4"],
    }
    assert dimension_values(["org-d"], date(2025, 1, 1), date(2025, 2, 1)) == dict.fromkeys(values, [])


def test_explorer_table_and_series_equal_queries_of_their_own():
    make_org("org-e", timezone="Europe/Berlin")
    _usage_over_three_months("org-e")
    start, end = date(2026, 9, 1), date(2026, 11, 25)
    for group_by, grain, split in (
        ((), "day", False),
        (("project",), "week", False),
        (("model",), "month", True),
        (("project", "user"), "week", False),
    ):
        result = explore(["org-e"], start, end, group_by, grain, split=split, compare=False)
        keys = ((grain,) if split else ()) + group_by
        expected = spend(SpendQuery.make("org-e", start, end, by=keys))
        got = {
            tuple(rec[k] for k in keys): (rec["cost_usd"], rec["requests"], rec["unpriced_requests"])
            for rec in result.table.to_dict("records")
        }
        assert got == {
            tuple(r.keys[k] for k in keys): (r.cost, r.counters["requests"], r.unpriced_requests) for r in expected
        }, (group_by, grain, split)
        series = spend(SpendQuery.make("org-e", start, end, by=(grain, *group_by[:1])))
        assert result.series["cost_usd"].tolist() == [r.cost for r in series]
        assert result.total_cost == sum((r.cost for r in expected), Decimal(0)) > 0
