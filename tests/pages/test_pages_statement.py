"""Statement page: last month's numbers for the selected org, Chinese, printable download."""

import io
from datetime import UTC, datetime
from decimal import Decimal

from openpyxl import load_workbook
from streamlit import dataframe_util

from models.access.roles import Actor
from models.budgets.limits import set_limit
from models.budgets.snapshots import close_month, restate
from models.budgets.subscriptions import subscription
from models.fx import set_rate
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
    projects = next(d.value for d in at.dataframe if "Project" in d.value.columns)
    assert projects[["Project", "Cost (USD)"]].values.tolist() == [["web", 3.5], ["api", 0.15]]


def test_statement_in_chinese_yuan_and_empty_month():
    _last_month_usage()
    at = run_page(PAGE, user="finance@example.com", session={"lang": "zh", "currency": "CNY"})
    assert not at.exception
    assert at.title[0].value == "月度账单" and at.metric[0].value == "¥25.92"  # 3.65 x 7.10 = 25.915
    this_month = datetime.now(UTC).date()
    at = run_page(PAGE, user="finance@example.com", session={"st_month": (this_month.year, this_month.month)})
    assert not at.exception
    assert "No usage in" in texts(at)


def test_a_past_month_is_unchanged_after_today_s_limit_change_and_shows_its_restatement(downloads):
    """The finance reviewer's October: the limit in force then, frozen at close, a dated restatement."""

    first = _last_month_usage()
    owner = Actor.cli()
    set_limit(owner, "org-s", soft="10", hard="20", now=datetime(first.year, first.month, 1, tzinfo=UTC))
    before = run_page(PAGE, user="finance@example.com")
    assert [m.value for m in before.metric[3:5]] == ["$10.00", "$20.00"]
    set_limit(owner, "org-s", soft="500", hard="900")  # today's change
    after = run_page(PAGE, user="finance@example.com")
    assert not after.exception
    assert [m.value for m in after.metric] == [m.value for m in before.metric]  # last month as it was

    close_month(owner, "org-s", first.year, first.month)
    late = datetime(first.year, first.month, 20, 12, tzinfo=UTC)
    add_usage(usage("org-s", late, model="gpt-4o", project_id="web", input_tokens=400_000))  # a late log: +$1.00
    frozen = run_page(PAGE, user="finance@example.com")
    assert frozen.metric[0].value == "$3.65" and "Closed on" in texts(frozen)  # frozen until restated
    restate(Actor("worker", system=True), "org-s", first.year, first.month)
    set_rate(owner, "CNY", "7.00", first)  # the month's own rate, stated with its date
    downloads.clear()
    at = run_page(PAGE, user="finance@example.com", session={"currency": "CNY"})
    assert not at.exception
    assert at.metric[0].value == "¥32.55"  # $4.65 x 7.00
    assert f"at 7.00 CNY/USD since {first}" in texts(at)
    assert "spend ¥7.00 (spend +1.0000 USD" in texts(at)  # the restatement and its difference
    book = load_workbook(io.BytesIO(next(d for d in downloads if d[:2] == b"PK")))
    sheet = book["By project"]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0] == [
        "Project",
        "Requests",
        "Input tokens",
        "Output tokens",
        "Cost (CNY)",
        "Previous month (CNY)",
        "Change",
        "Unpriced tokens",
    ]
    assert rows[1][0] == "web" and rows[1][4] == 31.5 and rows[-1][:5] == ["Total", 3, 2_400_000, 100_000, 32.55]
    assert sheet.cell(2, 5).number_format == "#,##0.00" and sheet.cell(2, 2).number_format == "#,##0"
    assert isinstance(rows[-1][1], int)
    share = book["By model"]
    assert share.cell(2, 7).number_format == "0.0%" and 0 < share.cell(2, 7).value <= 1
    csv_text = next(d for d in downloads if d.startswith(b"\xef\xbb\xbf")).decode("utf-8-sig")
    assert csv_text.splitlines()[-1] == "Total,,3,32.55,0" and "true" not in csv_text.lower()
    assert Decimal(csv_text.splitlines()[1].split(",")[-2]) == Decimal("31.50")


def test_a_member_subscribes_to_the_monthly_email():
    _last_month_usage()
    at = run_page(PAGE, user="finance@example.com", session={"currency": "CNY"})
    at.toggle(key="st_sub").set_value(True).run()
    assert not at.exception
    assert subscription("org-s", "finance@example.com") == {"lang": "en", "currency": "CNY"}
    assert "You will get the statement by email" in texts(at)
    at.toggle(key="st_sub").set_value(False).run()
    assert subscription("org-s", "finance@example.com") is None


def _shown(at, column: str):
    """The display text of the styled tables that have `column` (the cell's value stays the number)."""
    return [
        dataframe_util.convert_arrow_bytes_to_pandas_df(d.proto.arrow_data.styler.display_values)
        for d in at.dataframe
        if column in d.value.columns
    ]


def test_unpriced_lines_read_unpriced_with_their_tokens_on_the_page_and_in_the_downloads(downloads):
    """As in the explorer: a line whose usage has no price says so, with its tokens, not $0.00."""

    first = _last_month_usage()
    at_day = datetime(first.year, first.month, 7, 12, tzinfo=UTC)
    add_usage(usage("org-s", at_day, model="gpt-9-nobody", project_id="web", input_tokens=1_234_000, output_tokens=567))
    downloads.clear()
    at = run_page(PAGE, user="finance@example.com")
    assert not at.exception
    [by_project] = _shown(at, "Project")[:1]
    assert dict(zip(by_project["Project"], by_project["Cost (USD)"], strict=True)) == {
        "web": "$3.50 + unpriced (1,234,567 tokens)",
        "api": "$0.15",
    }
    by_model = _shown(at, "Model")[0]
    assert "unpriced (1,234,567 tokens)" in list(by_model["Cost (USD)"])
    html = next(d for d in downloads if d.startswith(b"<!doctype")).decode()
    assert "$3.50 + unpriced (1,234,567 tokens)" in html and "$3.65 + unpriced (1,234,567 tokens)" in html
    book = load_workbook(io.BytesIO(next(d for d in downloads if d[:2] == b"PK")))
    rows = [[c.value for c in row] for row in book["By model"].iter_rows()]
    assert rows[0][-1] == "Unpriced tokens"
    assert {r[0]: r[-1] for r in rows[1:]} == {
        "gpt-4o": 0,
        "gpt-4o-mini": 0,
        "gpt-9-nobody": 1_234_567,
        "Total": 1_234_567,
    }
    zh = run_page(PAGE, user="finance@example.com", session={"lang": "zh"})
    assert "未定价（1,234,567 个令牌）" in " ".join(_shown(zh, "模型")[0]["费用 (USD)"])
