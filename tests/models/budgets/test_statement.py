"""Monthly statement: totals, per project and model, credits applied, limits; printable HTML."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from models.access.roles import Actor
from models.budgets.credits import add_credit
from models.budgets.limits import set_limit
from models.budgets.statement import org_summary, render_html, statement
from tests.factories import add_usage, make_org, usage


@pytest.fixture
def october():
    make_org("org-s", "Statement <Org>", owners=("owner@example.com",))
    add_usage(
        usage("org-s", "2026-09-10T10:00:00Z", model="gpt-4o", project_id="web", input_tokens=1_000_000),
        usage(
            "org-s",
            "2026-10-05T10:00:00Z",
            model="gpt-4o",
            project_id="web",
            input_tokens=1_000_000,
            output_tokens=100_000,
        ),
        usage("org-s", "2026-10-06T10:00:00Z", model="gpt-4o-mini", project_id="api", input_tokens=1_000_000),
        usage("org-s", "2026-11-01T10:00:00Z", model="gpt-4o", project_id="web", input_tokens=9_000_000),
    )
    return "org-s"


def test_statement_totals_per_project_and_model(october):
    s = statement(october, 2026, 10)
    assert (s.start, s.end, s.label) == (date(2026, 10, 1), date(2026, 11, 1), "2026-10")
    assert s.total == Decimal("3.65") and s.previous_total == Decimal("2.5")  # 2.50 + 1.00 + 0.15
    assert s.requests == 2 and s.tokens == 2_100_000
    projects = s.by_project.set_index("project")
    assert projects.loc["web", "cost_usd"] == Decimal("3.5") and projects.loc["web", "delta_pct"] == Decimal("0.4")
    assert projects.loc["api", "cost_usd"] == Decimal("0.15")
    models = s.by_model.set_index("model")
    assert models.loc["gpt-4o-mini", "share"] == Decimal("0.0411")
    assert s.by_project_model[["project", "model"]].values.tolist() == [["web", "gpt-4o"], ["api", "gpt-4o-mini"]]
    assert s.billing["spent_usd"] == Decimal("3.65")


def test_credits_applied_and_limits_come_from_budgets(october):
    owner = Actor("owner@example.com")
    add_credit(owner, october, "1", date(2026, 12, 1), date(2026, 10, 1), note="trial")
    set_limit(owner, october, soft="10", hard="20", now=datetime(2026, 9, 1, tzinfo=UTC))
    s = statement(october, 2026, 10)
    assert s.billing["credits_applied_usd"] == Decimal("1")
    assert s.billing["billable_usd"] == Decimal("2.65")
    assert s.billing["soft_limit_usd"] == Decimal("10") and s.billing["hard_limit_usd"] == Decimal("20")
    summary = org_summary(october, date(2026, 10, 31))
    assert summary["credit_balance"] == Decimal("0")  # $1 used up by Oct 5th's $3.50
    assert summary["members"] == [{"email": "owner@example.com", "role": "owner"}]


def test_printable_html_escapes_names_and_formats_like_the_page(october):
    s = statement(october, 2026, 10)
    html = render_html(
        s,
        {"title": "Statement", "env": "production", "total": "Total"},
        money=lambda v: f"${v:,.2f}",
        number=lambda n: f"{n:,}",
        percent=lambda p: f"{p * 100:.1f}%",
        summary=[("Spend", "$3.65")],
        notes=["<script>x</script>"],
    )
    assert "Statement &lt;Org&gt;" in html and "<script>x" not in html
    assert '<td class="n">$3.50</td>' in html and "40.0%" in html
    assert "2026-10-01 – 2026-10-31" in html
