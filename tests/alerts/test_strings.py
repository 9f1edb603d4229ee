"""The email and sign-in page texts: every English text has a Chinese one with the same placeholders,
money reads in the reader's currency, and Accept-Language picks our languages."""

from __future__ import annotations

import string
from decimal import Decimal

import pytest

from alerts.strings import ALERTS, money
from gateway.signin import STRINGS
from models.locales import pick_lang


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("strings", [ALERTS, STRINGS], ids=["alerts", "gateway"])
def test_every_text_is_translated_with_the_same_placeholders(strings):
    tables = strings.tables()
    assert set(tables["en"]) == set(tables["zh"])
    for key, text in tables["en"].items():
        assert _fields(text) == _fields(tables["zh"][key]), key


def test_money_in_a_display_currency():
    assert money(Decimal("1234.5")) == "$1,234.50"
    assert money(Decimal("60"), "CNY", Decimal("7.10")) == "¥426.00"
    assert money(Decimal("-2"), "USD", Decimal("7.10")) == "-$2.00"  # the rate only applies to CNY


@pytest.mark.parametrize(
    ("header", "lang"),
    [("zh-CN,zh;q=0.9,en;q=0.8", "zh"), ("zh-Hans", "zh"), ("en-US,en", "en"), ("fr-FR", "en"), (None, "en")],
)
def test_accept_language(header, lang):
    assert pick_lang(header) == lang
