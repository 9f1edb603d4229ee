"""Number, money and token formatting shared by every page."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from models.budgets.statement import cost_text
from models.fx import rate_text
from ui.i18n import t

SYMBOLS = {"USD": "$", "CNY": "¥"}
CURRENCIES = ("USD", "CNY")
CENT = Decimal("0.01")


def convert(amount, rate: Decimal | float | str = 1) -> Decimal:
    """A USD amount in display units (exact: Decimal in, Decimal out)."""
    return Decimal(str(amount)) * Decimal(str(rate))


def money(amount, currency: str = "USD", rate: Decimal | float = 1) -> str:
    """$1,234.56 (amounts stay USD in storage; other currencies are shown at a set rate)."""
    value = convert(amount, rate).quantize(CENT, ROUND_HALF_EVEN)
    sign = "-" if value < 0 else ""
    return f"{sign}{symbol(currency)}{abs(value):,.2f}"


def symbol(currency: str) -> str:
    return SYMBOLS.get(currency, currency + " ")


def tokens(n: int | float) -> str:
    """1.2M tokens, 850.0k, 999."""
    n = float(n)
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= limit:
            return f"{n / limit:.1f}{suffix}"
    return f"{n:,.0f}"


def number(n: int | float | Decimal) -> str:
    """1,234,567."""
    return f"{float(n):,.0f}"


def percent(x: float | Decimal | None) -> str:
    if x is None:
        return "–"
    return f"{float(x) * 100:.1f}%"


def signed_percent(x: float | Decimal | None) -> str:
    """+12.5% / -3.0% / – (no base to compare with)."""
    if x is None:
        return "–"
    return f"{float(x) * 100:+.1f}%"


def in_currency(frame, columns, rate: Decimal | float | Sequence[Decimal] = 1):
    """A copy of `frame` with USD `columns` (Decimal or float) as floats in display units, for showing only.

    `rate` is one rate for every row, or one per row (each month's figures at that month's rate)."""
    out = frame.copy()
    factors = [Decimal(str(r)) for r in rate] if isinstance(rate, Sequence) else [Decimal(str(rate))] * len(out.index)
    for column in columns:
        if column in out.columns:
            out[column] = [
                None if v is None or v != v else float(Decimal(str(v)) * f)
                for v, f in zip(out[column], factors, strict=True)
            ]
    return out


def money_column(label: str, currency: str = "USD"):
    """A sortable number column: $1,234.56 in USD, 1,234.56 in other currencies (the label names them).

    No `step`: Streamlit truncates (not rounds) values to a step's decimals, and its "yen" format
    shows whole units, so CNY uses the two-decimal accounting format instead."""
    return st.column_config.NumberColumn(label, format="dollar" if currency == "USD" else "accounting")


def floats(frame):
    """A copy with Decimal cells as floats, so st.dataframe sorts and formats them as numbers."""
    out = frame.copy()
    for column in out.columns:
        if out[column].map(lambda v: isinstance(v, Decimal)).any():
            out[column] = [float(v) if isinstance(v, Decimal) else v for v in out[column]]
    return out


def short_day(day: str | date, lang_code: str = "en") -> str:
    """A day as a reader says it: "Nov 12" in English, "11月12日" in Chinese."""
    value = day if isinstance(day, date) else date.fromisoformat(str(day)[:10])
    if lang_code == "zh":
        return f"{value.month}月{value.day}日"
    return f"{value:%b} {value.day}"


def today_in(timezone: str):
    """Today's date in an organization's time zone."""
    return datetime.now(UTC).astimezone(ZoneInfo(timezone or "UTC")).date()


def rate_words(rate) -> str:
    """'at 7.10 CNY/USD since 2026-10-01' in the page's language (a models.fx.Rate)."""
    text = rate_text(rate.rate)
    if rate.since is None:
        return t("fx.default", rate=text, currency=rate.currency)
    return t("fx.since", rate=text, currency=rate.currency, day=rate.since)


DASH = "–"


def table(data, where=None, **options):
    """st.dataframe with the house defaults: no index, full width, and a dash where a cell has no value.

    Every table goes through here so a missing value reads "–" everywhere (Streamlit's own default
    is the word "None", which a finance reader takes for a name or an error)."""
    options.setdefault("hide_index", True)
    options.setdefault("width", "stretch")
    if isinstance(data, list) and data and all(isinstance(row, dict) for row in data):
        data = pd.DataFrame(data)  # as st.dataframe would read it, so its counts are found below
    if isinstance(data, pd.DataFrame):
        options["column_config"] = _counts(data, options.get("column_config") or {})
    return (where or st).dataframe(data, placeholder=DASH, **options)


def _counts(frame, config: dict) -> dict:
    """`config` with every whole-number column shown as a count with thousands separators (1,234 in
    both languages: the browser's own grouping), keeping its label; a column formatted on purpose
    stays as it is. Styled tables carry their separators in the Styler (unpriced_costs)."""
    config = dict(config)
    for name in frame.columns:
        column = frame[name]
        if not pd.api.types.is_integer_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        entry = config.get(name)
        if entry is None or isinstance(entry, str):
            config[name] = st.column_config.NumberColumn(entry, format="localized")
        elif "type_config" not in entry:
            config[name] = {**entry, "type_config": {"type": "number", "format": "localized"}}
        elif entry["type_config"].get("type") == "number" and entry["type_config"].get("format") in (None, "%d"):
            config[name] = {**entry, "type_config": {**entry["type_config"], "format": "localized"}}
    return config


def unpriced_costs(frame, cost: str, unpriced: str, currency: str = "USD"):
    """A Styler of `frame` (money already in display units) whose `cost` cells read as money, with
    "unpriced (N tokens)" where the row has usage the catalog could not price: $0.00 alone would
    claim that usage was free. The cell's value stays the number, so the column still sorts.

    Give the cost column no `format` in column_config: Streamlit shows a styler's text for a number
    column only when the column has no format of its own."""

    def text(row) -> str:
        n = int(row[unpriced] or 0) if unpriced in row else 0
        value = row[cost]
        if value is None or value != value:
            return DASH if not n else unpriced_words(n)
        return cost_text(money(value, currency), value, n, unpriced_words)

    styler = frame.style.format(na_rep=DASH, thousands=",", precision=0)  # counts: 1,234 in both languages
    for index, row in frame.iterrows():  # a table of groups: a few hundred rows at most
        styler = styler.format(_always(text(row)), subset=([index], [cost]))
    return styler


def unpriced_words(tokens: int) -> str:
    """ "unpriced (1,234 tokens)" in the page's language."""
    return t("common.unpriced_cost", tokens=number(tokens))


def _always(shown: str):
    return lambda _value: shown


def explained(config: dict, columns: dict[str, str]) -> dict:
    """`config` with a plain-language tooltip on the columns a non-engineer cannot guess: `columns`
    maps a table's column name to the help's kind ("cached_input" or "cache_writes")."""
    config = dict(config)
    for name, kind in columns.items():
        entry, words = config.get(name), t(f"help.{kind}")
        if entry is None or isinstance(entry, str):
            config[name] = st.column_config.Column(entry, help=words)
        else:
            config[name] = {**entry, "help": words}
    return config


def zoned(label: str, timezone: str | None) -> str:
    """A time column's label naming the zone its times are in: "Last run (Asia/Shanghai)"."""
    return t("common.in_zone", label=label, zone=timezone or "UTC")


def time_column(label: str, timezone: str | None, convert: bool = True, format: str = "YYYY-MM-DD HH:mm:ss"):
    """A date-time column labelled with the org's zone; with `convert`, UTC-aware values are shown in
    that zone (without, the values are already the zone's wall-clock times)."""
    return st.column_config.DatetimeColumn(
        zoned(label, timezone), format=format, timezone=(timezone or "UTC") if convert else None
    )


def day_in(moment: datetime, timezone: str | None) -> str:
    """A moment's date in the org's zone, naming it: "2026-11-03 (Asia/Shanghai)"."""
    return f"{moment.astimezone(ZoneInfo(timezone or 'UTC')):%Y-%m-%d} ({timezone or 'UTC'})"
