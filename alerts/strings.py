"""The words of what Spendsight sends outside the dashboard (alert, statement and invitation emails),
in English and Chinese, from alerts/locales/*.toml through the shared loader (models.locales).

Money is shown in the reader's display currency (USD is the stored truth).
"""

from __future__ import annotations

from decimal import Decimal
from importlib import resources

from models.locales import Strings

SYMBOLS = {"USD": "$", "CNY": "¥"}


def money(amount_usd: object, currency: str = "USD", rate: Decimal = Decimal(1)) -> str:
    """$1,234.56 or ¥8,765.43: a USD amount shown in a display currency at `rate` units per USD."""
    value = Decimal(str(amount_usd)) * (rate if currency != "USD" else Decimal(1))
    sign = "-" if value < 0 else ""
    return f"{sign}{SYMBOLS.get(currency, currency + ' ')}{abs(value):,.2f}"


ALERTS = Strings(resources.files("alerts").joinpath("locales"), "alerts/locales")
