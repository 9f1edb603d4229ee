"""Home page: empty state, and the demo's numbers."""

from datetime import UTC, datetime

from tests.factories import add_usage, make_org, usage
from tests.pageutil import run_page, texts


def test_member_of_no_org_is_told_what_to_do():
    at = run_page()
    assert not at.exception
    assert "spendsight demo" in texts(at)


def test_home_shows_month_to_date_spend():
    now = datetime.now(UTC)
    make_org("org-h", name="Home Org", readers=("owner@example.com",))
    add_usage(usage("org-h", now, model="gpt-4o", input_tokens=1_000_000, output_tokens=100_000))
    at = run_page()
    assert not at.exception
    assert at.metric[0].value == "$3.50"  # 1M x $2.50 + 100k x $10 per million
    assert "Home Org" in texts(at)


def test_home_with_demo_data_flags_unpriced_usage(demo_data):
    demo_data()
    at = run_page(session={"org_id": "org-staging"})
    assert not at.exception
    assert at.metric[0].value.startswith("$")
    assert "no price" in texts(at)
