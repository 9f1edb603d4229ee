"""Dated display-currency rates: each day uses the rate in force that day; USD stays the truth."""

from datetime import date
from decimal import Decimal

import pytest
from sqlmodel import select

from models.access.roles import Actor, PermissionDenied
from models.db import session_scope
from models.fx import month_rate, parse_rate, rate_on, rates, set_rate
from models.tables import AuditLog
from models.validation import ValidationError
from tests.factories import make_org


def test_each_day_and_month_uses_the_rate_in_force_and_says_since_when():
    set_rate(Actor.cli(), "CNY", "7.10", date(2026, 10, 1))
    set_rate(Actor.cli(), "cny", "7.25", date(2026, 11, 12))
    assert rate_on("CNY", date(2026, 9, 30)).since is None  # before any dated rate: the configured default
    assert rate_on("CNY", date(2026, 9, 30)).label() == "7.10 CNY/USD (SPENDSIGHT_CNY_PER_USD)"
    assert rate_on("CNY", date(2026, 10, 1)).rate == Decimal("7.10")
    assert rate_on("CNY", date(2026, 11, 11)).label() == "7.10 CNY/USD since 2026-10-01"
    assert rate_on("CNY", date(2026, 11, 12)).label() == "7.25 CNY/USD since 2026-11-12"
    # a month: the rate in force on its last day, or today for the month in progress
    assert month_rate("CNY", 2026, 10, date(2026, 11, 30)).rate == Decimal("7.10")
    assert month_rate("CNY", 2026, 11, date(2026, 11, 5)).rate == Decimal("7.10")
    assert month_rate("CNY", 2026, 11, date(2026, 11, 30)).rate == Decimal("7.25")
    assert rate_on("USD", date(2026, 11, 30)).rate == Decimal(1)
    assert [r.since for r in rates("CNY")] == [date(2026, 11, 12), date(2026, 10, 1)]


def test_setting_the_same_day_again_replaces_it_and_is_audited_once_per_change():
    set_rate(Actor.cli(), "CNY", "7.1", date(2026, 10, 1))
    set_rate(Actor.cli(), "CNY", "7.10", date(2026, 10, 1))  # the same rate: no new audit row
    set_rate(Actor.cli(), "CNY", "7.2", date(2026, 10, 1))
    assert [r.rate for r in rates("CNY")] == [Decimal("7.2")]
    with session_scope() as session:
        rows = list(session.exec(select(AuditLog).where(AuditLog.action == "fx.set")))
    assert [r.after for r in rows] == [
        '{"rate": "7.10", "since": "2026-10-01"}',
        '{"rate": "7.20", "since": "2026-10-01"}',
    ]


@pytest.mark.parametrize("text", ["7,10", "7.1.0", "-7", "0", "abc", "7.1234567", "1e3", " ", "NaN", "100001"])
def test_rates_are_parsed_strictly(text):
    with pytest.raises(ValidationError):
        parse_rate(text)


def test_only_an_owner_of_every_org_sets_rates():
    make_org("org-a", "A", owners=("ana@example.com",))
    make_org("org-b", "B", owners=("bo@example.com",), readers=("ana@example.com",))
    with pytest.raises(PermissionDenied):
        set_rate(Actor("ana@example.com"), "CNY", "7.1", date(2026, 10, 1))
    with pytest.raises(ValidationError, match="currency"):
        set_rate(Actor.cli(), "EUR", "0.9", date(2026, 10, 1))
    assert rates("CNY") == []
