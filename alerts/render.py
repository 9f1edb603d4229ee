"""Alert messages: one plain-text and one HTML body from jinja2 templates (HTML autoescaped: org and
project names are user input), a one-line subject, and a short summary for webhooks and history."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

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

FACT_LABELS = (
    ("spent_usd", "Spent this month"),
    ("soft_limit_usd", "Soft limit"),
    ("hard_limit_usd", "Hard limit"),
    ("quota_usd", "Approved quota"),
    ("p50_usd", "Month-end forecast (p50)"),
    ("band", "Forecast range (p10-p90)"),
    ("soft_cross_date", "Soft limit crossed"),
    ("hard_cross_date", "Hard limit crossed"),
    ("day", "Day"),
    ("day_spend_usd", "Spend that day"),
    ("baseline_usd", "Usual for that weekday"),
    ("grant_usd", "Credit grant"),
    ("remaining_usd", "Credit left"),
    ("expires_on", "Expires"),
    ("days_left", "Days left at current rate"),
    ("api_key_id", "Anthropic API key"),
    ("key_status", "Key status now"),
    ("error", "What went wrong"),
)


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


def _fact_rows(facts: Mapping[str, object]) -> list[tuple[str, str]]:
    rows = []
    values = dict(facts)
    if values.get("p10_usd") is not None and values.get("p90_usd") is not None:
        values["band"] = f"{usd(values['p10_usd'])} - {usd(values['p90_usd'])}"
    for key, label in FACT_LABELS:
        value = values.get(key)
        if value is None or value == "":
            continue
        if key.endswith("_usd"):
            value = usd(value)
        elif isinstance(value, date):
            value = value.isoformat()
        rows.append((label, str(value)))
    return rows


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
) -> Message:
    link = f"{public_url.rstrip('/')}/{PAGES.get(rule, DEFAULT_PAGE)}"
    context = {
        "org_id": org_id,
        "org_name": org_name,
        "project": project,
        "headline": headline,
        "facts": _fact_rows(facts),
        "link": link,
        "top_models": [(name or "(none)", usd(cost)) for name, cost in top_models],
        "top_projects": [(name or "(none)", usd(cost)) for name, cost in top_projects],
    }
    scope = f"{org_name} / {project}" if project else org_name
    subject = one_line(f"[Spendsight] {scope}: {headline}", 250)
    return Message(
        subject=subject,
        text=_environments()[1].get_template("alert.txt").render(context),
        html=_environments()[0].get_template("alert.html").render(context),
        summary=one_line(f"{scope}: {headline} {link}", 480),
    )
