"""Money and numbers people type: a decimal comma is refused, never read as 15 or 250."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from models.access.roles import Actor
from models.budgets.credits import add_credit, credit_status
from models.budgets.limits import get_limit, set_limit
from models.numbers import parse_decimal, parse_usd
from models.pricing.edit import render_override
from models.validation import ValidationError
from tests.factories import make_org

CLI = Actor.cli()


@pytest.mark.parametrize(
    "text,expected",
    [
        ("120", Decimal(120)),
        ("12.50", Decimal("12.50")),
        ("$12.50", Decimal("12.50")),
        ("1,500.25", Decimal("1500.25")),
        ("12,345,678", Decimal(12345678)),
        (" 0.5 ", Decimal("0.5")),
        (".5", Decimal("0.5")),
        ("1e3", Decimal(1000)),
        (Decimal("7.25"), Decimal("7.25")),
        (18, Decimal(18)),
    ],
)
def test_amounts_read_as_written(text, expected):
    assert parse_usd(text, "amount") == expected


@pytest.mark.parametrize(
    "text",
    ["1,5", "2,50", "1,50", "1,5000", "1,50,000", ",500", "1,,500", "1 500", "1_000", "NaN", "Infinity", "-inf",
     "12.5.1", "", "abc", "0x10", "1e99999"],
)  # fmt: skip
def test_decimal_commas_and_other_non_amounts_are_refused(text):
    with pytest.raises(ValidationError):
        parse_usd(text, "amount")


def test_a_decimal_comma_says_how_to_write_it():
    with pytest.raises(ValidationError, match=r"use a point for decimals \(1\.5\)"):
        parse_decimal("2,50", "soft limit")


def test_every_money_service_refuses_a_decimal_comma():
    make_org("org-m")
    with pytest.raises(ValidationError, match="soft limit '2,50' is not an amount in USD"):
        set_limit(CLI, "org-m", soft="2,50")
    assert get_limit("org-m") is None or get_limit("org-m").soft_usd is None
    with pytest.raises(ValidationError, match="amount '1,5' is not an amount in USD"):
        add_credit(CLI, "org-m", "1,5", date(2030, 1, 1))
    assert credit_status("org-m") == []
    with pytest.raises(ValidationError, match="input_mtok '1,5' is not a number"):
        render_override("openai", "gpt-x", {"input_mtok": "1,5"})
    # thousands separators in their places are fine everywhere
    set_limit(CLI, "org-m", soft="1,500.25")
    assert get_limit("org-m").soft_usd == Decimal("1500.25")
    assert "input_mtok = 1500.0" in render_override("openai", "gpt-x", {"input_mtok": "1,500"})


def test_cli_money_options_refuse_a_decimal_comma(cli):
    make_org("org-m")
    code, _, err = cli("limit", "set", "--org", "org-m", "--soft", "2,50")
    assert code == 2 and "not an amount in USD" in err
    code, _, err = cli("credit", "add", "--org", "org-m", "--amount", "1,5", "--expires", "2030-01-01")
    assert code == 2 and "use a point for decimals" in err
    code, out, err = cli("limit", "set", "--org", "org-m", "--soft", "1,500.25")
    assert code == 0, err
    assert "$1,500.25" in out
