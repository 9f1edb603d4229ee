"""Reconciliation's causes: on constructed usage and bills, each named cause gets its exact part of the gap."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from demo import UNPRICED_MODEL, load_demo
from models.db import get_engine
from models.spend.reconcile import day_causes, explain, reconcile
from models.tables import BilledCost
from tests.factories import add_usage, make_org, usage

ORG = "org-r"
FT = "gpt-6-pro"  # newer than the bundled catalog: no price


def bill(day, amount, provider="openai", project="p", model="", line_item="", tier=""):
    with get_engine().begin() as conn:
        conn.execute(
            BilledCost.__table__.insert(),
            [
                dict(
                    org_id=ORG,
                    source=f"{provider}-costs",
                    provider=provider,
                    project_id=project,
                    model=model,
                    service_tier=tier,
                    line_item=line_item,
                    bucket_start=datetime.fromisoformat(day).replace(tzinfo=UTC),
                    bucket_width=86400,
                    amount_micros=int(Decimal(amount) * 1_000_000),
                    currency="USD",
                    ingested_at=datetime.now(UTC),
                )
            ],
        )


def use(day, model, provider="openai", project="p", **counts):
    return usage(ORG, f"{day}T10:00:00Z", provider=provider, model=model, project_id=project, **counts)


def causes(start=date(2026, 11, 1), end=date(2026, 12, 1)):
    return [(c["day"], c["cause"], c["model"], c["amount_usd"], c["share_pct"]) for c in explain(ORG, start, end)]


def test_unpriced_model_takes_its_share_of_the_gap():
    make_org(ORG)
    add_usage(
        use("2026-11-12", "gpt-4o", input_tokens=1_000_000),  # $2.50
        use("2026-11-12", FT, input_tokens=400_000, output_tokens=100_000),  # no price
    )
    bill("2026-11-12", "4.50", model="gpt-4o")  # $2 more than the catalog says
    bill("2026-11-12", "23.00", line_item=f"{FT}, input")  # the model named only in the line item
    assert causes() == [
        ("2026-11-12", "unpriced", FT, Decimal("-23"), Decimal("92.00")),
        ("2026-11-12", "other", "gpt-4o", Decimal("-2"), Decimal("8.00")),
    ]
    (top,) = day_causes(explain(ORG, date(2026, 11, 1), date(2026, 12, 1)))
    assert (top["cause"], top["model"], top["share_pct"], top["tokens"]) == ("unpriced", FT, Decimal("92.00"), 500_000)
    assert top["gap_usd"] == Decimal("-25")


def test_unpriced_usage_explains_a_project_bill_without_models():
    make_org(ORG)
    add_usage(use("2026-11-12", "gpt-4o", input_tokens=1_000_000), use("2026-11-12", FT, input_tokens=10))
    bill("2026-11-12", "10.00")  # an invoice line per project, no model
    assert causes() == [("2026-11-12", "unpriced", FT, Decimal("-7.5"), Decimal("100.00"))]


def test_cache_writes_billed_at_the_one_hour_ttl():
    make_org(ORG)
    # claude-sonnet-4-5: $3/M input; cache writes +$0.75/M at 5 minutes, +$3/M at 1 hour
    add_usage(use("2026-11-12", "claude-sonnet-4-5", "anthropic", input_tokens=1_000_000, cache_write_tokens=100_000))
    bill("2026-11-12", "3.30", "anthropic", model="claude-sonnet-4-5")
    (c,) = explain(ORG, date(2026, 11, 1), date(2026, 12, 1))
    assert (c["cause"], c["tier"], c["amount_usd"], c["share_pct"]) == ("cache_ttl", "1h", Decimal("-0.225"), 100)


def test_priority_tier_on_the_bill():
    make_org(ORG)
    add_usage(use("2026-11-12", "gpt-4o", input_tokens=1_000_000))  # $2.50 at standard
    bill("2026-11-12", "4.25", model="gpt-4o-2024-08-06", tier="priority")  # a dated snapshot of the alias
    (c,) = explain(ORG, date(2026, 11, 1), date(2026, 12, 1))
    assert (c["cause"], c["model"], c["tier"], c["amount_usd"]) == ("tier", "gpt-4o", "priority", Decimal("-1.75"))


def test_batch_discount_named_by_the_line_item():
    make_org(ORG)
    add_usage(use("2026-11-12", "gpt-4o-mini", input_tokens=10_000_000))  # $1.50 at the standard price
    bill("2026-11-12", "0.75", line_item="gpt-4o-mini-2024-07-18, batch input")
    assert causes() == [("2026-11-12", "batch", "gpt-4o-mini", Decimal("0.75"), Decimal("100.00"))]


def test_price_change_on_a_date_the_catalog_lacks():
    make_org(ORG)
    days = [f"2026-11-{d:02d}" for d in range(10, 16)]
    add_usage(*(use(d, "o3", input_tokens=1_000_000) for d in days))  # $2.00 a day in the catalog
    for d in days[:3]:
        bill(d, "2.00", model="o3")
    for d in days[3:]:
        bill(d, "1.60", model="o3")  # the provider cut the price by 20% on Nov 13
    found = explain(ORG, date(2026, 11, 1), date(2026, 12, 1))
    assert [(c["day"], c["cause"], c["since"], c["change_pct"], c["amount_usd"]) for c in found] == [
        (d, "price_change", "2026-11-13", Decimal("-20.00"), Decimal("0.40")) for d in days[3:]
    ]


def test_days_the_provider_has_not_billed_yet():
    make_org(ORG)
    add_usage(use("2026-11-12", "gpt-4o", input_tokens=1_000_000), use("2026-11-13", "gpt-4o", input_tokens=2_000_000))
    bill("2026-11-12", "2.50", model="gpt-4o")
    assert causes() == [("2026-11-13", "not_billed", "", Decimal("5"), Decimal("100.00"))]
    rows = reconcile(ORG, date(2026, 11, 1), date(2026, 12, 1))
    assert [(r["day"], r["estimated_usd"], r["billed_usd"]) for r in rows] == [
        ("2026-11-12", Decimal("2.5"), Decimal("2.5")),
        ("2026-11-13", Decimal("5"), Decimal("0")),
    ]


def test_a_gap_without_evidence_is_other_not_a_guess():
    make_org(ORG)
    add_usage(use("2026-11-12", "gpt-4o", input_tokens=1_000_000))
    bill("2026-11-12", "2.00", model="gpt-4o")  # batch or flex would fit, but the bill says neither
    assert causes() == [("2026-11-12", "other", "gpt-4o", Decimal("0.5"), Decimal("100.00"))]


def test_the_demo_bills_drift_for_every_named_cause():

    now = datetime(2026, 11, 30, 15, tzinfo=UTC)
    load_demo(now=now)
    found = explain("org-prod", date(2026, 10, 1), date(2026, 12, 1))
    named = {c["cause"] for c in found}
    assert {"not_billed", "unpriced", "cache_ttl", "tier", "batch", "price_change"} <= named
    assert {c["day"] for c in found if c["cause"] == "not_billed"} == {"2026-11-30"}  # today: not billed yet
    assert {c["model"] for c in found if c["cause"] == "unpriced"} == {UNPRICED_MODEL}
    steps = {(c["model"], c["since"]) for c in found if c["cause"] == "price_change"}
    assert steps == {("o3", (now.date() - timedelta(days=25)).isoformat())}
    assert all(abs(c["change_pct"] + 20) < 1 for c in found if c["cause"] == "price_change")  # 20% cheaper
    # The noise on the rest is the provider's rounding: what is left unexplained is under 1% of the bill.
    billed = sum(r["billed_usd"] for r in reconcile("org-prod", date(2026, 10, 1), date(2026, 12, 1)))
    other = sum(abs(c["amount_usd"]) for c in found if c["cause"] == "other")
    assert other < billed / 100
