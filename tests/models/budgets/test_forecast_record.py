"""The forecast never reads a day after its as-of day, and its track record (CLI JSON and the Forecast
page) is exactly what `spendsight backtest` says about the same months."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from bench import forecast_series as fs
from models.budgets import backtest as bt
from models.budgets import billing
from models.budgets.forecast import _history_stamp, _priced_days, forecast_month, forecast_scope
from models.budgets.forecast_track import track_record
from tests.factories import add_usage, make_org, usage
from tests.pageutil import run_page, texts

TOKENS_PER_USD = 400_000  # gpt-4o input: $2.50 per million tokens
POISON = (Decimal("1e12"), Decimal("NaN"))


def _decimal(series: dict) -> dict[date, Decimal]:
    return {d: Decimal(str(v)) for d, v in series.items()}


def _numbers(result) -> tuple:
    return (result.p10, result.p50, result.p90, result.cum_p10, result.cum_p50, result.cum_p90, result.weights)


@pytest.mark.parametrize("kind", ["step-down", "sparse", "month-start", "wiki"])
@pytest.mark.parametrize("poison", POISON, ids=["huge", "nan"])
def test_a_forecast_reads_no_day_after_its_as_of_day(kind, poison):
    daily = _decimal(fs.make(kind, fs.HELD_OUT[0]))
    for as_of in (date(2024, 9, 7), date(2024, 11, 14), date(2025, 2, 21)):
        clean = forecast_month(daily, as_of)
        poisoned = {d: (poison if d > as_of else v) for d, v in daily.items()}
        assert _numbers(forecast_month(poisoned, as_of)) == _numbers(clean), as_of
        # Live: today is partly over; the days after it are poisoned, today itself is what it is.
        live = forecast_month(daily, as_of, today_fraction=0.4)
        assert _numbers(forecast_month(poisoned, as_of, today_fraction=0.4)) == _numbers(live), as_of


def test_every_backtest_run_is_the_forecast_of_a_history_cut_at_its_as_of_day():
    daily = _decimal(fs.make("step-up", fs.HELD_OUT[1]))
    runs = bt.backtest(daily)["runs"]
    for run in runs[::7]:
        year, month = map(int, run["month"].split("-"))
        as_of = date(year, month, run["as_of_day"])
        poisoned = {d: (Decimal("1e12") if d > as_of else v) for d, v in daily.items()}
        result = forecast_month(poisoned, as_of)
        assert [float(x.quantize(Decimal("0.01"))) for x in (result.p10, result.p50, result.p90)] == [
            run["p10"],
            run["p50"],
            run["p90"],
        ]


def test_the_track_record_of_a_month_does_not_change_when_later_days_do():
    daily = _decimal(fs.make("spiky", fs.HELD_OUT[2]))
    clean = track_record(daily, date(2025, 4, 2))
    for month, day in (("2024-06", 10), ("2024-11", 21)):
        cut = date(int(month[:4]), int(month[5:]), day)
        # Huge rather than NaN: NaN would spread through later months' actuals into sums that are
        # multiplied by zero weights, which says nothing about what was read.
        poisoned = {d: (Decimal("1e12") if d > cut else v) for d, v in daily.items()}
        record = track_record(poisoned, date(2025, 4, 2))
        before, after = (
            next(x for m in r["months"] if m["month"] == month for x in m["runs"] if x["as_of_day"] == day)
            for r in (clean, record)
        )
        assert {k: before[k] for k in ("p10_usd", "p50_usd", "p90_usd", "run_rate_usd")} == {
            k: after[k] for k in ("p10_usd", "p50_usd", "p90_usd", "run_rate_usd")
        }


# --- the track record in the CLI and on the page ---------------------------------------------

START, AS_OF = date(2025, 10, 1), date(2026, 3, 10)


def _spend(day: date) -> Decimal:
    """Weekday rhythm, a launch on Dec 15 (2.5x) and a runaway day on Jan 20, in whole cents."""
    base = 40 * (1.0 if day.weekday() < 5 else 0.4) * (2.5 if day >= date(2025, 12, 15) else 1.0)
    base *= 1 + 0.15 * math.sin(day.toordinal() * 1.7)  # deterministic day-to-day noise
    if day == date(2026, 1, 20):
        base *= 8
    return Decimal(str(round(base, 2)))


@pytest.fixture
def history_org():
    make_org("org-t", name="Track Org", owners=("owner@example.com",))
    days = [START + timedelta(days=i) for i in range((AS_OF - START).days + 1)]
    add_usage(
        *[
            usage(
                "org-t",
                datetime(d.year, d.month, d.day, 12, tzinfo=UTC),
                model="gpt-4o",
                input_tokens=int(_spend(d) * TOKENS_PER_USD),
            )
            for d in days
        ]
    )
    return {d: _spend(d) for d in days}


def test_forecast_json_track_record_is_the_backtest_of_the_same_months(cli, history_org, tmp_path):
    code, out, err = cli("forecast", "--org", "org-t", "--as-of", AS_OF.isoformat(), "--format", "json")
    assert code == 0, err
    record = json.loads(out)["track_record"]
    assert list(record) == ["as_of_days", "months", "summary"] and record["as_of_days"] == [7, 10, 14, 21]
    assert [m["month"] for m in record["months"]] == ["2025-10", "2025-11", "2025-12", "2026-01", "2026-02"]
    for m in record["months"]:
        year, month = map(int, m["month"].split("-"))
        assert m["actual_usd"] == float(sum(v for d, v in history_org.items() if (d.year, d.month) == (year, month)))
        assert [r["as_of_day"] for r in m["runs"]] == [7, 10, 14, 21]
        assert list(m["runs"][0]) == [
            "as_of_day",
            "p10_usd",
            "p50_usd",
            "p90_usd",
            "error_pct",
            "in_band",
            "run_rate_usd",
            "run_rate_error_pct",
        ]
        for r in m["runs"]:
            assert abs(r["error_pct"] - 100 * (r["p50_usd"] - m["actual_usd"]) / m["actual_usd"]) < 0.06
            assert r["in_band"] == (r["p10_usd"] <= m["actual_usd"] <= r["p90_usd"])
            naive = float(bt.naive_run_rate(history_org, date(year, month, r["as_of_day"])))
            assert abs(r["run_rate_usd"] - naive) < 0.01

    path = tmp_path / "daily.csv"
    path.write_text(
        "date,cost_usd\n" + "".join(f"{d},{v}\n" for d, v in sorted(history_org.items()) if d < date(2026, 3, 1))
    )
    backtest = json.loads(cli("backtest", "--daily-csv", path)[1])
    assert {(r["month"], r["as_of_day"]): (r["p10"], r["p50"], r["p90"]) for r in backtest["runs"]} == {
        (m["month"], r["as_of_day"]): (r["p10_usd"], r["p50_usd"], r["p90_usd"])
        for m in record["months"]
        for r in m["runs"]
    }

    summary = record["summary"]
    runs = [r for m in record["months"] for r in m["runs"]]
    assert summary["months"] == 5 and summary["runs"] == 20
    assert abs(summary["mape_pct"] - sum(abs(r["error_pct"]) for r in runs) / 20) < 0.01  # shown errors are rounded
    assert summary["band_hit_rate"] == round(sum(r["in_band"] for r in runs) / 20, 3)
    assert summary["beats_run_rate"] == (summary["mape_pct"] < summary["run_rate_mape_pct"])
    assert summary["beats_run_rate"]  # the launch and the runaway day fool the run-rate more
    code, out, _ = cli("forecast", "--org", "org-t", "--as-of", AS_OF.isoformat())
    assert (
        code == 0
        and (
            f"track record, 5 past months as of days 7/10/14/21: p50 off by {summary['mape_pct']}% on "
            f"average, run-rate {summary['run_rate_mape_pct']}%"
        )
        in out
    )


def test_forecast_json_track_record_of_a_new_org_is_empty(cli):
    make_org("org-new")
    add_usage(usage("org-new", datetime(2026, 3, 2, 12, tzinfo=UTC), model="gpt-4o", input_tokens=TOKENS_PER_USD))
    record = json.loads(cli("forecast", "--org", "org-new", "--as-of", "2026-03-05", "--format", "json")[1])[
        "track_record"
    ]
    assert record["months"] == [] and record["summary"]["runs"] == 0 and record["summary"]["mape_pct"] is None


def test_forecast_page_shows_the_track_record():
    make_org("org-t", name="Track Org", owners=("owner@example.com",))
    today = datetime.now(UTC).date()
    start = today.replace(day=1)
    for _ in range(5):
        start = (start - timedelta(days=1)).replace(day=1)  # five complete months before this one
    days = [start + timedelta(days=i) for i in range((today - start).days)]
    add_usage(
        *[
            usage(
                "org-t",
                datetime(d.year, d.month, d.day, 12, tzinfo=UTC),
                model="gpt-4o",
                input_tokens=int(_spend(d) * TOKENS_PER_USD),
            )
            for d in days
        ]
    )
    at = run_page("pages/2_Forecast.py", session={"org_id": "org-t"})
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    summary = track_record({d: _spend(d) for d in days}, today, today_fraction=0.5)["summary"]
    assert summary["months"] == 5
    assert metrics["Forecast error (p50)"] == f"{summary['mape_pct']:.1f}%"
    assert metrics["Run-rate error"] == f"{summary['run_rate_mape_pct']:.1f}%"
    assert (
        metrics["p10–p90 held the actual"]
        == f"{round(summary['band_hit_rate'] * summary['runs'])} of {summary['runs']}"
    )
    verdict = (
        "the forecast has been the better guide"
        if summary["ratio"] < 0.95
        else "about as close as each other"
        if summary["ratio"] <= 1.05
        else "read the forecast with care"
    )
    assert "Over 5 past months" in texts(at) and verdict in texts(at)
    table = at.dataframe[1].value
    assert len(table) == summary["runs"] == 20 and set(table["as_of_day"]) == {7, 10, 14, 21}
    assert len(at.get("plotly_chart")) == 2
    at = run_page("pages/2_Forecast.py", session={"org_id": "org-t", "lang": "zh"})
    assert not at.exception and "历史表现" in texts(at)


# --- the history the forecast reads ----------------------------------------------------------


def test_the_forecasts_own_history_read_prices_like_models_spend():

    make_org("org-h")
    rows = []
    for i in range(60):
        at = datetime(2026, 1, 1, 9, tzinfo=UTC) + timedelta(days=i)
        rows.append(
            usage(
                "org-h",
                at,
                model="gpt-4o",
                project_id="chat",
                input_tokens=1000 * (i + 1),
                output_tokens=300 * i,
                cached_input_tokens=200 * i,
            )
        )
        rows.append(usage("org-h", at, model="gpt-4o-mini", project_id="rag", input_tokens=50_000 + i, output_tokens=7))
        if i % 7 == 0:
            rows.append(usage("org-h", at, model="no-such-model-anywhere", project_id="rag", input_tokens=10**6))
    add_usage(*rows)
    for project in (None, "chat", "rag"):
        exact = billing.daily_spend("org-h", date(2026, 1, 1), date(2026, 3, 1), project)
        fast, stamp = _priced_days("org-h", project, date(2026, 1, 1), date(2026, 3, 1))
        assert stamp == _history_stamp("org-h", project, date(2026, 1, 1), date(2026, 3, 1))
        assert set(fast) == set(exact) and len(exact) == 59
        assert all(abs(fast[d] - float(exact[d])) < 1e-9 for d in exact), project


def test_a_backfill_of_earlier_days_reaches_the_next_forecast(history_org):

    before = forecast_scope("org-t", now=datetime(2026, 3, 10, 12, tzinfo=UTC))
    again = forecast_scope("org-t", now=datetime(2026, 3, 10, 12, tzinfo=UTC))
    assert (again.p10, again.p50, again.p90) == (before.p10, before.p50, before.p90)  # cached, same answer
    # A provider corrects February: every day of it was three times what was first collected.
    add_usage(
        *[
            usage(
                "org-t",
                datetime(2026, 2, d, 15, tzinfo=UTC),
                model="gpt-4o",
                input_tokens=int(2 * _spend(date(2026, 2, d)) * TOKENS_PER_USD),
            )
            for d in range(1, 29)
        ]
    )
    after = forecast_scope("org-t", now=datetime(2026, 3, 10, 12, tzinfo=UTC))
    assert after.spent == before.spent and after.p50 != before.p50
    fresh = forecast_month(billing.daily_spend("org-t", date(2024, 1, 1), date(2026, 3, 11)), date(2026, 3, 10), 0.5)
    assert (after.p10, after.p50, after.p90) == (fresh.p10, fresh.p50, fresh.p90)
