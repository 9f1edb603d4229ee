"""Number, money and token formatting shared by every page."""

from __future__ import annotations

from decimal import Decimal

SYMBOLS = {"USD": "$", "CNY": "¥"}


def money(amount, currency: str = "USD", rate: Decimal | float = 1) -> str:
    """$1,234.56 (amounts stay USD in storage; other currencies are shown at a set rate)."""
    value = Decimal(str(amount)) * Decimal(str(rate))
    sign = "-" if value < 0 else ""
    return f"{sign}{SYMBOLS.get(currency, currency + ' ')}{abs(value):,.2f}"


def tokens(n: int | float) -> str:
    """1.2M tokens, 850k, 999."""
    n = float(n)
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= limit:
            return f"{n / limit:.1f}{suffix}"
    return f"{n:,.0f}"


def percent(x: float) -> str:
    return f"{x * 100:.1f}%"
