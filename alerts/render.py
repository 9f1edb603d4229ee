"""Alert messages: one plain-text and one HTML body from jinja2 templates (HTML autoescaped: org and
project names are user input), a one-line subject, and a short summary for webhooks and history.

A message is written in one language and display currency (alerts/locales; a recipient's member
preference): the English-in-USD one is the event's own, others are rendered for the recipients who chose them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from alerts.strings import ALERTS, money
from models.fx import rate_text

if TYPE_CHECKING:  # for an annotation; jinja2 itself loads when a message is rendered (see below)
    from jinja2 import Environment

TEMPLATES = Path(__file__).resolve().parent / "templates"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@cache
def _environments() -> tuple[Environment, Environment]:
    """(html, text) jinja2 environments, made on first use: every ingest imports this module to check
    alerts, and most of them render nothing."""
    # lazy: as the docstring says (jinja2 costs ~0.15 s of every ingest otherwise).
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    html = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True, default=True),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    text = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True
    )
    return html, text


# Dashboard page each rule links to (Streamlit names pages after their file).
PAGES = {"forecast_soft": "Forecast", "forecast_hard": "Forecast", "spike": "Forecast", "test": "Alert_history"}
DEFAULT_PAGE = "Budgets_and_alerts"

# The facts a message lists, in order (their labels are `fact.<key>` in alerts/locales).
FACTS = (
    "spent_usd",
    "soft_limit_usd",
    "hard_limit_usd",
    "quota_usd",
    "p50_usd",
    "band",
    "soft_cross_date",
    "hard_cross_date",
    "day",
    "day_spend_usd",
    "baseline_usd",
    "grant_usd",
    "remaining_usd",
    "expires_on",
    "days_left",
    "api_key_id",
    "key_status",
    "error",
)


@dataclass(frozen=True)
class Reader:
    """Who a message is written for: language, display currency and its rate (units per USD)."""

    lang: str = "en"
    currency: str = "USD"
    rate: Decimal = Decimal(1)

    def money(self, amount_usd: object) -> str:
        return money(amount_usd, self.currency, self.rate)

    @property
    def is_default(self) -> bool:
        return self.lang == "en" and self.currency == "USD"


ENGLISH_USD = Reader()


def usd(amount: object) -> str:
    value = Decimal(str(amount))
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def one_line(text: str, limit: int = 200) -> str:
    """Safe for a mail header or a chat line: no control characters, bounded length."""
    text = _CONTROL.sub(" ", str(text)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Message:
    subject: str
    text: str
    html: str
    summary: str


def _fact_rows(facts: Mapping[str, object], reader: Reader) -> list[tuple[str, str]]:
    rows = []
    values = dict(facts)
    if values.get("p10_usd") is not None and values.get("p90_usd") is not None:
        values["band"] = f"{reader.money(values['p10_usd'])} - {reader.money(values['p90_usd'])}"
    for key in FACTS:
        value = values.get(key)
        if value is None or value == "":
            continue
        if key.endswith("_usd"):
            value = reader.money(value)
        elif isinstance(value, date):
            value = value.isoformat()
        rows.append((ALERTS(reader.lang, f"fact.{key}"), str(value)))
    return rows


def headline_for(say: tuple[str, Mapping[str, object]], reader: Reader) -> str:
    """A rule's headline from its key and values: *_usd values as money, `limit` as a word."""
    key, raw = say
    values: dict[str, object] = {}
    for name, value in raw.items():
        if name.endswith("_usd"):
            values[name] = reader.money(value)
        elif name == "limit":
            values[name] = ALERTS(reader.lang, f"limit.{value}")
        elif isinstance(value, date):
            values[name] = value.isoformat()
        else:
            values[name] = value
    return ALERTS(reader.lang, f"headline.{key}", **values)


def render(
    *,
    org_id: str,
    org_name: str,
    project: str,
    rule: str,
    headline: str,
    facts: Mapping[str, object],
    top_models: Sequence[tuple[object, Decimal]],
    top_projects: Sequence[tuple[object, Decimal]],
    public_url: str,
    reader: Reader = ENGLISH_USD,
    say: tuple[str, Mapping[str, object]] | None = None,
) -> Message:
    """The message for one reader; `headline` (English, USD) is used as is for English in USD, else
    `say` (the rule's headline key and values) is written in the reader's language and currency."""
    link = f"{public_url.rstrip('/')}/{PAGES.get(rule, DEFAULT_PAGE)}"
    if say is not None and not reader.is_default:
        headline = headline_for(say, reader)
    words = ALERTS.words(reader.lang, "mail")
    context = {
        "lang": reader.lang,
        "org_id": org_id,
        "org_name": org_name,
        "project": project,
        "headline": headline,
        "facts": _fact_rows(facts, reader),
        "link": link,
        "top_models": [(name or words["none"], reader.money(cost)) for name, cost in top_models],
        "top_projects": [(name or words["none"], reader.money(cost)) for name, cost in top_projects],
        "words": words | {"footer_why": ALERTS(reader.lang, "mail.footer_why", org_id=org_id)},
        "rate_note": ALERTS(reader.lang, "mail.rate", rate=rate_text(reader.rate)) if reader.currency != "USD" else "",
    }
    scope = f"{org_name} / {project}" if project else org_name
    subject = one_line(f"[Spendsight] {scope}: {headline}", 250)
    return Message(
        subject=subject,
        text=_environments()[1].get_template("alert.txt").render(context),
        html=_environments()[0].get_template("alert.html").render(context),
        summary=one_line(f"{scope}: {headline} {link}", 480),
    )
