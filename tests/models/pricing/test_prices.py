"""Price catalog: genai-prices at the usage time, overrides, batch and tier multipliers, unpriced."""

from bisect import bisect_right
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price

from models.pricing.catalog import PriceFileError, load_catalog, parse_prices
from tests.factories import changing_prices

AT = datetime(2026, 11, 10, 12, tzinfo=UTC)
COUNTS = dict(input_tokens=120_000, cached_input_tokens=30_000, output_tokens=7_000, requests=9)


def genai(model, provider, at=AT, **usage):
    return calc_price(Usage(**usage), model, provider_id=provider, genai_request_timestamp=at).total_price


@pytest.mark.parametrize(
    "provider,model",
    [
        ("openai", "gpt-4o"),
        ("openai", "gpt-4o-mini"),
        ("openai", "o3"),
        ("anthropic", "claude-sonnet-4-5"),
        ("anthropic", "claude-3-5-haiku-latest"),
    ],
)
def test_cost_equals_genai_prices(provider, model):
    price = load_catalog(None).resolve(provider, model, AT)
    expected = genai(model, provider, input_tokens=120_000, cache_read_tokens=30_000, output_tokens=7_000)
    assert price.cost(COUNTS) == expected


def test_anthropic_cache_writes_by_ttl():
    price = load_catalog(None).resolve("anthropic", "claude-sonnet-4-5", AT)
    counts = dict(
        input_tokens=10_000,
        cached_input_tokens=2_000,
        cache_write_tokens=3_000,
        cache_write_1h_tokens=1_000,
        output_tokens=500,
    )
    # uncached 5000 x $3, reads 2000 x $0.30, 5m writes 2000 x $3.75, 1h writes 1000 x $6, out 500 x $15 (per M)
    assert price.cost(counts) == Decimal("0.015") + Decimal("0.0006") + Decimal("0.0075") + Decimal("0.006") + Decimal(
        "0.0075"
    )


def test_batch_uses_genai_variant_or_half_price():
    catalog = load_catalog(None)
    assert catalog.resolve("openai", "gpt-4o", AT, batch=True).cost({"input_tokens": 10**6}) == Decimal("1.25")
    # claude-3-5-haiku has no batch variant in genai-prices: the 50% multiplier applies
    haiku = catalog.resolve("anthropic", "claude-3-5-haiku-latest", AT, batch=True)
    assert haiku.cost({"input_tokens": 10**6, "output_tokens": 10**6}) == Decimal("2.4")
    assert any("batch x0.5" in n for n in haiku.notes)


def test_unknown_model_is_unpriced_not_zero():
    assert load_catalog(None).resolve("self-hosted", "my-llama", AT) is None


def test_dated_override_and_discount():
    catalog = parse_prices("""
[[override]]
provider = "openai"
model = "gpt-4o"
since = 2026-06-01
input_mtok = 5
output_mtok = 15

[[override]]
provider = "openai"
model = "gpt-4o"
since = 2026-10-01
input_mtok = 4
output_mtok = 12

[[discount]]
provider = "openai"
model = "gpt-4o*"
percent = 10
since = 2026-11-01
""")
    million = {"input_tokens": 10**6}
    assert catalog.resolve("openai", "gpt-4o", date(2026, 5, 31)).cost(million) == Decimal("2.5")  # genai-prices
    assert catalog.resolve("openai", "gpt-4o", date(2026, 6, 1)).cost(million) == Decimal("5")
    assert catalog.resolve("openai", "gpt-4o", date(2026, 10, 15)).cost(million) == Decimal("4")
    assert catalog.resolve("openai", "gpt-4o", date(2026, 11, 2)).cost(million) == Decimal("3.6")


def test_a_price_key_is_steady_across_a_change_date_only_when_its_own_prices_stay():
    catalog = parse_prices("""
[[override]]
provider = "openai"
model = "gpt-4o"
since = 2026-06-01
input_mtok = 5
output_mtok = 15

[[override]]
provider = "openai"
model = "gpt-4o"
since = 2026-06-10
input_mtok = 5
output_mtok = 15
""")
    # A change date on 1 June (the prices change) and on 10 June (the same prices again).
    assert not catalog.steady("openai", "gpt-4o", date(2026, 6, 2), date(2026, 6, 20))
    assert catalog.steady_price("openai", "gpt-4o", date(2026, 6, 2), date(2026, 6, 20), "", False, 0)
    assert not catalog.steady_price("openai", "gpt-4o", date(2026, 5, 20), date(2026, 6, 20), "", False, 0)
    assert catalog.steady_price("openai", "gpt-4o", date(2026, 5, 2), date(2026, 5, 31), "", True, 0)


def test_every_price_holds_from_one_change_date_to_the_next():
    """Catalog.change_dates: any usage dated between two of them can be priced at one date of that
    stretch (what spend() sums daily rows of a stretch for), with overrides and discounts too."""
    catalog = parse_prices(changing_prices())
    changes = catalog.change_dates
    assert {date(2026, 3, 17), date(2026, 7, 10), date(2026, 8, 5), date(2026, 10, 12)} <= set(changes)
    models = [("openai", m) for m in ("gpt-4o", "gpt-4o-mini", "o3")] + [("anthropic", "claude-sonnet-4-5"), ("", "x")]
    # Each day around a change date (the last day before it, it, the next), and every sixth day.
    days = {c + timedelta(days=k) for c in changes if c.year >= 2026 for k in (-1, 0, 1)}
    days |= {date(2026, 1, 1) + timedelta(days=k) for k in range(0, 380, 6)}
    for day in sorted(days):
        i = bisect_right(changes, day)
        first = changes[i - 1] if i else changes[0] - timedelta(days=1)  # the stretch's date spend() uses
        for provider, model in models:
            for tier, batch, band in (("", False, 0), ("", True, 0), ("flex", False, 200_000)):
                price, same = (catalog.resolve(provider, model, d, tier, batch, band) for d in (day, first))
                assert (price is None) == (same is None), (model, day)
                assert price is None or same is None or price.coefficients == same.coefficients, (model, day, tier)


def test_fine_tuned_glob_and_self_hosted():
    catalog = parse_prices("""
[[override]]
provider = "openai"
model = "ft:gpt-4o-mini*"
input_mtok = 0.3
output_mtok = 1.2

[[override]]
provider = "self-hosted"
model = "llama-3.1-70b"
input_mtok = 0.2
""")
    ft = catalog.resolve("openai", "ft:gpt-4o-mini-2024-07-18:acme::abc123", AT)
    assert ft.cost({"input_tokens": 10**6, "output_tokens": 10**6}) == Decimal("1.5")
    assert catalog.infer_provider("llama-3.1-70b") == "self-hosted"
    assert catalog.resolve("self-hosted", "llama-3.1-70b", AT).cost({"input_tokens": 10**6}) == Decimal("0.2")


def test_service_tier_multiplier_when_genai_lacks_it():
    catalog = parse_prices("[multipliers.service_tier.openai]\nflex = 0.5\n")
    flex = catalog.resolve("openai", "gpt-4o", AT, service_tier="flex")
    assert flex.cost({"input_tokens": 10**6}) == Decimal("1.25")
    assert catalog.resolve("openai", "gpt-4o", AT, service_tier="default").cost({"input_tokens": 10**6}) == Decimal(
        "2.5"
    )


def test_long_context_band_selects_tier_price():
    catalog = load_catalog(None)
    band = catalog.band(250_000)
    assert band == 200_000
    long = catalog.resolve("anthropic", "claude-sonnet-4-5", AT, band=band)
    assert long.cost({"input_tokens": 250_000}) == genai("claude-sonnet-4-5", "anthropic", input_tokens=250_000)


@pytest.mark.parametrize(
    "text,needle",
    [
        ("[[override]]\nprovider='openai'\nmodel='x'\ninptu_mtok=1\n", "line 1 [[override]] field 'inptu_mtok'"),
        ("\n\n[[override]]\nprovider='openai'\ninput_mtok=1\n", "line 3 [[override]]: field 'model' is required"),
        ("[[override]]\nprovider='openai'\nmodel='x'\ninput_mtok=-1\n", "field 'input_mtok': expected a non-negative"),
        ("[[discount]]\npercent=120\n", "must be at most 100"),
        ("[[override]\n", "invalid TOML"),
    ],
)
def test_price_file_errors_name_line_and_field(text, needle):
    with pytest.raises(PriceFileError, match=None) as info:
        parse_prices(text, "data/prices.toml")
    assert needle in str(info.value)
    assert "data/prices.toml" in str(info.value)
