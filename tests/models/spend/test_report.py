"""The report contract: columns in order, end-exclusive days in the org's time zone, CSV and JSON."""

import csv
import io
import json

from tests.factories import add_usage, make_org, usage


def test_columns_order_and_days_in_org_time_zone(cli):
    make_org("org-ny", timezone="America/New_York")
    add_usage(
        # 03:00 UTC on Nov 10 is still Nov 9 in New York
        usage(
            "org-ny",
            "2026-11-10T03:00:00Z",
            model="gpt-4o",
            input_tokens=1000,
            cached_input_tokens=200,
            output_tokens=100,
            project_id="p1",
        ),
        usage("org-ny", "2026-11-10T15:00:00Z", model="gpt-4o", input_tokens=2000, output_tokens=10, project_id="p2"),
        usage(
            "org-ny",
            "2026-11-11T15:00:00Z",
            model="mystery-model",
            input_tokens=5,
            output_tokens=5,
            project_id="p2",
            provider="",
        ),
    )
    code, out, err = cli(
        "report", "--org", "org-ny", "--start", "2026-11-09", "--end", "2026-11-11", "--by", "day,model"
    )
    assert code == 0, err
    table = list(csv.reader(io.StringIO(out)))
    assert table[0] == [
        "day",
        "model",
        "requests",
        "input_tokens",
        "cached_input_tokens",
        "output_tokens",
        "cost_usd",
        "unpriced_requests",
    ]
    # gpt-4o: (800 x 2.5 + 200 x 1.25 + 100 x 10) / 1e6 = 0.00325 ; (2000 x 2.5 + 10 x 10) / 1e6 = 0.0051
    assert table[1:] == [
        ["2026-11-09", "gpt-4o", "1", "1000", "200", "100", "0.003250", "0"],
        ["2026-11-10", "gpt-4o", "1", "2000", "0", "10", "0.005100", "0"],
    ]
    code, out, _ = cli(
        "report",
        "--org",
        "org-ny",
        "--start",
        "2026-11-09",
        "--end",
        "2026-11-12",
        "--by",
        "project",
        "--format",
        "json",
    )
    data = json.loads(out)
    assert data == [
        {
            "project": "p1",
            "requests": 1,
            "input_tokens": 1000,
            "cached_input_tokens": 200,
            "output_tokens": 100,
            "cost_usd": 0.00325,
            "unpriced_requests": 0,
        },
        {
            "project": "p2",
            "requests": 2,
            "input_tokens": 2005,
            "cached_input_tokens": 0,
            "output_tokens": 15,
            "cost_usd": 0.0051,
            "unpriced_requests": 1,
        },
    ]


def test_total_row_without_by_and_empty_period(cli):
    make_org("org-a")
    code, out, _ = cli("report", "--org", "org-a", "--start", "2026-01-01", "--end", "2026-02-01")
    assert code == 0
    assert out.splitlines() == [
        "requests,input_tokens,cached_input_tokens,output_tokens,cost_usd,unpriced_requests",
        "0,0,0,0,0.000000,0",
    ]


def test_report_usage_errors(cli):
    make_org("org-a")
    assert cli("report", "--org", "nope", "--start", "2026-01-01", "--end", "2026-02-01")[0] == 2
    code, _, err = cli("report", "--org", "org-a", "--start", "2026-02-01", "--end", "2026-01-01")
    assert code == 2 and "must be after" in err
    code, _, err = cli("report", "--org", "org-a", "--start", "2026-01-01", "--end", "2026-02-01", "--by", "color")
    assert code == 2 and "--by 'color'" in err
    code, _, err = cli("report", "--org", "org-a", "--start", "01/01/2026", "--end", "2026-02-01")
    assert code == 2 and "YYYY-MM-DD" in err


def test_changing_the_time_zone_recuts_days(cli):
    make_org("org-tz")
    add_usage(usage("org-tz", "2026-11-10T03:00:00Z", model="gpt-4o", input_tokens=100))
    by_day = ("--org", "org-tz", "--start", "2026-11-09", "--end", "2026-11-11", "--by", "day", "--format", "json")
    assert [r["day"] for r in json.loads(cli("report", *by_day)[1])] == ["2026-11-10"]
    assert cli("org", "update", "--id", "org-tz", "--timezone", "America/Los_Angeles")[0] == 0
    assert [r["day"] for r in json.loads(cli("report", *by_day)[1])] == ["2026-11-09"]
