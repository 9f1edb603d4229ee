"""Statement page: last month's numbers for the selected org, Chinese, printable download."""

from datetime import UTC, datetime

from models.units import add_months
from tests.factories import add_usage, make_org, usage
from tests.pageutil import run_page, texts

PAGE = "pages/6_Statement.py"


def _last_month_usage():
    first = add_months(datetime.now(UTC).date().replace(day=1), -1)
    at = datetime(first.year, first.month, 5, 12, tzinfo=UTC)
    make_org("org-s", "Statement Org", environment="staging", readers=("finance@example.com",))
    add_usage(
        usage("org-s", at, model="gpt-4o", project_id="web", input_tokens=1_000_000, output_tokens=100_000),
        usage("org-s", at, model="gpt-4o-mini", project_id="api", input_tokens=1_000_000),
    )
    return first


def test_statement_of_last_month():
    first = _last_month_usage()
    at = run_page(PAGE, user="finance@example.com")
    assert not at.exception
    assert at.metric[0].value == "$3.65"
    assert at.metric[2].value == "$3.65"  # nothing credited: all billable
    assert f"Statement Org · {first:%Y-%m}" in texts(at) and "staging" in texts(at)
    projects = next(d.value for d in at.dataframe if "project" in d.value.columns)
    assert projects[["project", "cost_usd"]].values.tolist() == [["web", 3.5], ["api", 0.15]]


def test_statement_in_chinese_yuan_and_empty_month():
    _last_month_usage()
    at = run_page(PAGE, user="finance@example.com", session={"lang": "zh", "currency": "CNY"})
    assert not at.exception
    assert at.title[0].value == "月度账单" and at.metric[0].value == "¥25.92"  # 3.65 x 7.10 = 25.915
    this_month = datetime.now(UTC).date()
    at = run_page(PAGE, user="finance@example.com", session={"st_month": (this_month.year, this_month.month)})
    assert not at.exception
    assert "No usage in" in texts(at)
