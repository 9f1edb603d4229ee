"""Every figure the pages show equals a query over raw usage, whichever rollup answers it.

Fourteen months of usage in two time zones, written through both write paths (increments and
dirty-range rebuilds), read through every rollup (by project, API key, user, all of them, by
month), for every grouping and filter and for ranges inside a month, across month edges, of whole
months and of more than a year, with the default prices and with prices that change mid-month (where
month rows must give way to day rows). The reference below reads `usage` itself: each row's org-local
day (of its UTC hour, as the rollups count it), priced at its UTC date.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, text

from collectors.base import COL, hourly_sums, insert_requests
from models.db import as_utc, get_engine
from models.pricing.catalog import Catalog, get_catalog, parse_prices
from models.spend.explore import dimension_values, explore
from models.spend.overview import overview
from models.spend.queries import BY_COLUMNS, FILTER_COLUMNS, SpendQuery, key_value, spend
from models.spend.report import report_rows
from models.spend.rollups import ROLLUPS, add_increments, choose_rollup
from models.tables import USAGE_COUNTERS, USAGE_DIMENSIONS
from tests.factories import add_usage, changing_prices, make_org, usage

ORGS = {"org-ny": "America/New_York", "org-be": "Europe/Berlin"}
FIRST, LAST = date(2025, 9, 20), date(2026, 11, 24)
MODELS = (
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4.1"),
    ("anthropic", "claude-sonnet-4-5"),
    ("", "in-house-llm"),  # no price: counted as unpriced
)
# Prices that change inside months: an override from 17 March, a discount 10 July to 5 August.
CHANGING = changing_prices()
RANGES = (
    (date(2026, 11, 3), date(2026, 11, 20)),  # inside a month: days
    (date(2026, 10, 15), date(2026, 11, 10)),  # across a month edge, under 60 days: days
    (date(2026, 8, 17), date(2026, 11, 25)),  # 100 days to today: a partial month each side
    (date(2026, 1, 31), date(2026, 6, 2)),  # one day of January, one of June around whole months
    (date(2026, 3, 1), date(2026, 10, 20)),  # ends inside October with usage after the end
    (date(2025, 11, 1), date(2026, 11, 1)),  # twelve whole months
    (date(2025, 9, 1), date(2026, 12, 1)),  # everything
    (date(2026, 10, 1), date(2026, 10, 31)),  # last month to yesterday, on the 31st: month rows less a day
    (date(2026, 3, 5), date(2026, 7, 28)),  # partial months at both edges, each mostly inside: month rows less days
)
GROUPINGS = (
    (),
    *((b,) for b in BY_COLUMNS),
    ("month", "model"),
    ("week", "project"),
    ("org", "month"),
    ("api_key", "user"),
    ("month", "user"),
    ("provider", "api_key"),
)
FILTERS = (
    {"project": ["web"]},
    {"api_key": ["k1"]},
    {"user": ["u2", ""]},
    {"batch": ["true"]},
    {"provider": ["anthropic"]},
    {"service_tier": ["flex"]},
    {"model": ["gpt-4o", "claude-sonnet-4-5"], "project": ["web", "api"]},
    {"api_key": ["k2"], "user": ["u1"]},
)


def _rows(catalog: Catalog) -> list[dict]:
    rng = random.Random(17)
    rows = []
    day = FIRST
    while day <= LAST:
        for org in ORGS:
            for _ in range(rng.randint(0, 3)):
                provider, model = rng.choice(MODELS)
                prompt = rng.choice((rng.randint(1, 5_000), rng.randint(100_000, 400_000)))
                rows.append(
                    usage(
                        org,
                        datetime.combine(day, time(rng.choice((0, 3, 4, 5, 12, 22, 23)), rng.randint(0, 59)), UTC),
                        provider=provider,
                        model=model,
                        project_id=rng.choice(("web", "api", "")),
                        api_key_id=rng.choice(("k1", "k2", "")),
                        user_id=rng.choice(("u1", "u2", "u3", "")),
                        service_tier=rng.choice(("", "", "flex")) if provider == "openai" else "",
                        batch=rng.random() < 0.2,
                        input_tokens=prompt,
                        cached_input_tokens=prompt // rng.randint(2, 9),
                        output_tokens=rng.randint(0, 4_000),
                        context_band=catalog.band(prompt),
                        web_search_calls=rng.choice((0, 0, 0, 2)),
                    )
                )
        day += timedelta(days=1)
    return rows


def _store(rows: list[dict]) -> None:
    """Half the rows as new requests added to the rollups as increments (ingest's path), half as
    provider buckets with dirty marks and a rebuild, interleaved in every month."""
    increments = [r for i, r in enumerate(rows) if i % 2 == 0]
    rebuilt = [dict(r, request_id="") for i, r in enumerate(rows) if i % 2]
    for start in range(0, len(increments), 97):  # batches, as ingest writes them
        batch = increments[start : start + 97]
        with get_engine().begin() as conn:
            assert insert_requests(conn, batch) == len(batch)
            records = [[r[c] for c in COL] for r in batch]
            add_increments(conn, hourly_sums(records))
    add_usage(*rebuilt)


@pytest.fixture(scope="module")
def changing() -> Catalog:
    return parse_prices(CHANGING, "changing.toml")


@pytest.fixture
def stored() -> list[dict]:
    for org, zone in ORGS.items():
        make_org(org, timezone=zone)
    rows = _rows(get_catalog())
    _store(rows)
    return rows


def _usage() -> list[dict]:
    dims, counters = ", ".join(USAGE_DIMENSIONS), ", ".join(USAGE_COUNTERS)
    with get_engine().connect() as conn:
        rows = conn.execute(text(f"SELECT org_id, bucket_start, {dims}, {counters} FROM usage")).mappings().all()
    out = []
    for rec in rows:
        hour = as_utc(rec["bucket_start"]).replace(minute=0, second=0, microsecond=0)
        out.append(dict(rec, hour=hour, day=hour.astimezone(ZoneInfo(ORGS[rec["org_id"]])).date()))
    return out


@pytest.fixture
def raw(stored) -> list[dict]:
    """The stored usage, read once per test, each row with its UTC hour and org-local day."""
    return _usage()


def raw_spend(
    rows: list[dict],
    org_ids: Iterable[str],
    start: date,
    end: date,
    by: tuple[str, ...] = (),
    filters: Mapping[str, list[str]] | None = None,
    catalog: Catalog | None = None,
) -> dict[tuple, tuple]:
    """{group key: (counters, cost, unpriced requests, unpriced tokens)} straight from `usage`."""
    catalog = catalog or get_catalog()
    out: dict[tuple, list] = {}
    for values in rows:
        day, hour = values["day"], values["hour"]
        if values["org_id"] not in org_ids or not start <= day < end:
            continue
        if any(
            (str(bool(values["batch"])).lower() if name == "batch" else str(values[FILTER_COLUMNS[name]])) not in wanted
            for name, wanted in (filters or {}).items()
        ):
            continue
        key = tuple(key_value(b, day, values.get(BY_COLUMNS[b])) for b in by)
        counts = {c: int(values[c]) for c in USAGE_COUNTERS}
        acc = out.setdefault(key, [dict.fromkeys(USAGE_COUNTERS, 0), Decimal(0), 0, 0])
        for c, v in counts.items():
            acc[0][c] += v
        price = catalog.resolve(
            values["provider"],
            values["model"],
            hour.date(),
            values["service_tier"],
            bool(values["batch"]),
            int(values["context_band"]),
        )
        if price is None:
            acc[2] += counts["requests"]
            acc[3] += counts["input_tokens"] + counts["output_tokens"]
        else:
            acc[1] += price.cost(counts)
    return {k: tuple(v) for k, v in out.items()}


def rolled(rows) -> dict[tuple, tuple]:
    return {tuple(r.keys.values()): (r.counters, r.cost, r.unpriced_requests, r.unpriced_tokens) for r in rows}


@pytest.mark.parametrize("prices", ["default", "changing"])
def test_every_grouping_and_range_equals_raw_usage(raw, changing, prices):
    catalog = changing if prices == "changing" else get_catalog()
    used = set()
    for org_ids in (["org-ny"], list(ORGS)):
        for start, end in RANGES:
            for by in GROUPINGS:
                got = rolled(spend(SpendQuery.make(org_ids, start, end, by=by), catalog))
                assert got == raw_spend(raw, org_ids, start, end, by, catalog=catalog), (org_ids, start, end, by)
                used.add(_chosen(start, end, by, {}))
    assert used == {r.table for r in ROLLUPS}  # every rollup answered some of them


@pytest.mark.parametrize("prices", ["default", "changing"])
def test_every_filter_equals_raw_usage(raw, changing, prices):
    catalog = changing if prices == "changing" else get_catalog()
    org_ids = list(ORGS)
    for start, end in RANGES:
        for filters in FILTERS:
            for by in ((), ("month", "model"), ("api_key",), ("user",), ("day",)):
                got = rolled(spend(SpendQuery.make(org_ids, start, end, by=by, filters=filters), catalog))
                expected = raw_spend(raw, org_ids, start, end, by, filters, catalog)
                assert got == expected, (start, end, by, filters)
                assert expected or filters.get("service_tier") or end <= FIRST  # not vacuous


def _chosen(start: date, end: date, by: tuple[str, ...], filters: Mapping[str, list[str]]) -> str:
    columns = [BY_COLUMNS[b] for b in by] + [FILTER_COLUMNS[f] for f in filters]
    return choose_rollup(columns, (end - start).days, by_day=bool({"day", "week"} & set(by))).table


def test_the_filter_choices_are_the_values_in_use_in_the_range(raw):
    """dimension_values (month rows where they prove a value, days elsewhere) against raw usage."""
    extra = ((date(2026, 9, 2), date(2026, 12, 1)), (date(2026, 11, 24), date(2026, 11, 25)), (LAST, LAST))
    for start, end in (*RANGES, *extra):
        end = max(end, start + timedelta(days=1))
        for orgs in (["org-ny"], list(ORGS)):
            got = dimension_values(orgs, start, end)
            inside = [v for v in raw if v["org_id"] in orgs and start <= v["day"] < end]
            for name, values in got.items():
                expected = sorted({str(v[FILTER_COLUMNS[name]]) for v in inside})
                assert values == expected, (name, start, end, orgs)


def test_a_year_by_month_reads_a_row_per_month_and_days_only_where_it_must(stored, changing):
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)
        spans.append(parameters)

    spans: list = []

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    try:
        # Eleven whole months in which genai-prices changes no price of these models: months only.
        start, end = date(2025, 11, 1), date(2026, 10, 1)
        spend(SpendQuery.make(["org-ny"], start, end, by=("month", "model")))
        assert len([s for s in statements if "rollup_" in s]) == 1
        assert "rollup_monthly_project" in statements[-1]
        statements.clear()
        # Prices change on 17 March (gpt-4o) and 10 July and 5 August (claude; its August usage here
        # comes after the 5th): March and July are read by day, only for the price keys whose rows
        # span a change, from the smallest daily rollup that holds the grouping.
        spans.clear()
        spend(SpendQuery.make(["org-ny"], start, end, by=("month", "model")), changing)
        [(days, params)] = [(s, p) for s, p in zip(statements, spans) if "rollup_daily" in s]
        assert "rollup_daily_model" in days and days.count("day >= ") == 2  # March, July
        bound = {str(v) for v in (params.values() if isinstance(params, dict) else params)}
        assert "gpt-4o" in bound and "claude-sonnet-4-5" in bound and "gpt-4o-mini" not in bound
        statements.clear()
        # A partial month at the edge whose usage lies inside the range (November, to today) still
        # reads its month rows; in October genai-prices changes only batch prices (on the 12th and
        # 14th), so at most October's batch rows are read by day.
        spans.clear()
        spend(SpendQuery.make(["org-ny"], date(2026, 8, 1), LAST + timedelta(days=1), by=("model",)))
        for days, params in [(s, p) for s, p in zip(statements, spans) if "rollup_daily" in s]:
            bound = {str(v)[:10] for v in (params.values() if isinstance(params, dict) else params)}
            assert days.count("day >= ") == 1 and {"2026-10-01", "2026-11-01"} <= bound
            keyed = params if isinstance(params, dict) else {}  # PostgreSQL's named parameters
            assert all(v for name, v in keyed.items() if name.startswith("k") and name.endswith("_3"))
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_month_less_a_day_reads_the_month_rows_and_that_day():
    """Last month to yesterday, read on the last day of a month: the month rows less the one day
    outside the range, not every day inside it (exact: test_every_grouping_and_range_equals_raw_usage)."""
    make_org("org-m", timezone="America/New_York")
    add_usage(
        *(
            usage("org-m", f"2026-09-{d:02d}T15:00:00Z", project_id=p, input_tokens=1000 * d, output_tokens=d)
            for d in (3, 15, 29, 30)
            for p in ("web", "api")
        )
    )
    query = SpendQuery.make(["org-m"], date(2026, 9, 1), date(2026, 9, 30), by=("project",))
    before = rolled(spend(query))
    assert {k: v[0]["requests"] for k, v in before.items()} == {("web",): 3, ("api",): 3}
    with get_engine().begin() as conn:  # the days inside the range, gone from every daily rollup
        for rollup in ROLLUPS:
            if rollup.grain == "day":
                conn.execute(text(f"DELETE FROM {rollup.table} WHERE org_id = 'org-m' AND day < '2026-09-30'"))
    assert rolled(spend(query)) == before


def test_the_pages_equal_raw_usage(raw, changing):
    """The home page, the explorer (table, series, previous period) and the report, from raw usage."""
    view = overview("org-ny", LAST)
    month, end = date(2026, 11, 1), LAST + timedelta(days=1)
    [(_, mtd, *_)] = raw_spend(raw, ["org-ny"], month, end).values()
    assert view.mtd_cost == mtd > 0
    assert view.prev_month_cost == sum(v[1] for v in raw_spend(raw, ["org-ny"], date(2026, 10, 1), month).values())
    models = raw_spend(raw, ["org-ny"], month, end, ("model", "provider"))
    assert dict(zip(view.top_models["model"], view.top_models["cost_usd"])) == {
        k[0]: float(v[1]) for k, v in sorted(models.items(), key=lambda kv: -kv[1][1])[:8]
    }
    for start, stop in RANGES:
        for group_by, grain, split in (
            (("project",), "month", True),
            (("model",), "day", False),
            (("user",), "week", False),
        ):
            result = explore(list(ORGS), start, stop, group_by, grain, split=split, catalog=changing)
            keys = ((grain,) if split else ()) + group_by
            expected = raw_spend(raw, list(ORGS), start, stop, keys, catalog=changing)
            table = {tuple(r[k] for k in keys): (r["cost_usd"], r["requests"]) for r in result.table.to_dict("records")}
            assert {k: v for k, v in table.items() if v[1]} == {
                k: (v[1], v[0]["requests"]) for k, v in expected.items()
            }
            series = raw_spend(raw, list(ORGS), start, stop, (grain, group_by[0]), catalog=changing)
            assert sorted(zip(result.series["period"], result.series["group"], result.series["cost_usd"])) == sorted(
                (k[0], str(k[1]), v[1]) for k, v in series.items()
            )
            assert result.previous is not None
            previous = raw_spend(raw, list(ORGS), *result.previous, catalog=changing)
            assert result.previous_cost == sum((v[1] for v in previous.values()), Decimal(0))
    for by in (("month",), ("model", "user"), ()):
        report = report_rows("org-be", date(2025, 10, 1), date(2026, 11, 1), by)
        expected = raw_spend(raw, ["org-be"], date(2025, 10, 1), date(2026, 11, 1), by)
        assert {tuple(r[b] for b in by): (r["cost_usd"], r["requests"]) for r in report} == {
            k: (v[1].quantize(Decimal("0.000001")), v[0]["requests"]) for k, v in expected.items()
        }
