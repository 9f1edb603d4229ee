"""The monthly statement of one organization, and the per-organization summary the Organizations page shows.

Spend figures come from models.spend (exact Decimal); credits applied, billable amount and limits
from models.budgets.credits.month_billing. The printable statement is a self-contained HTML page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Protocol, TypedDict, cast

import pandas as pd
from jinja2 import Environment, select_autoescape
from sqlmodel import select

from models.access.orgs import get_org, members
from models.budgets.credits import MonthBilling, credit_status, month_billing
from models.db import session_scope
from models.spend.explore import explore
from models.tables import Source
from models.units import MICRO, add_months

ZERO = Decimal(0)
# The statement's tables and their columns: the page, the downloads, the email and the stored
# (closed) versions all read them from here. `unpriced_tokens` is usage the catalog could not price,
# so a cost cell can say "unpriced (N tokens)" rather than claim $0.00.
FRAMES = {
    "by_project": (
        "project",
        "requests",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "prev_cost_usd",
        "delta_pct",
        "unpriced_tokens",
    ),
    "by_model": (
        "model",
        "provider",
        "requests",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "share",
        "unpriced_tokens",
    ),
    "by_project_model": ("project", "model", "requests", "cost_usd", "unpriced_tokens"),
}


def credit_balance(org_id: str, today: date | None = None) -> Decimal:
    """What is left of the organization's active credit grants."""
    return sum((g.remaining_usd for g in credit_status(org_id, today) if g.state == "active"), ZERO)


# --- the statement ---------------------------------------------------------------------------


@dataclass
class Statement:
    org_id: str
    org_name: str
    environment: str
    timezone: str
    year: int
    month: int
    start: date
    end: date  # exclusive
    total: Decimal
    previous_total: Decimal
    requests: int
    tokens: int
    unpriced_requests: int
    billed: Decimal | None
    billing: MonthBilling
    by_project: pd.DataFrame  # FRAMES["by_project"] ...
    by_model: pd.DataFrame
    by_project_model: pd.DataFrame
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    closed_at: datetime | None = None  # a closed month: when its statement was frozen
    version: int = 0  # 0 as closed (or live), n for its n-th restatement

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def unpriced_tokens(self) -> int:
        return int(self.by_project["unpriced_tokens"].fillna(0).sum()) if len(self.by_project) else 0


def statement(org_id: str, year: int, month: int) -> Statement:
    """Everything a monthly statement shows, for one calendar month in the org's time zone."""
    with session_scope() as session:
        org = get_org(session, org_id)
        name, environment, timezone = org.name, org.environment, org.timezone
    start = date(year, month, 1)
    end = add_months(start, 1)
    projects = explore([org_id], start, end, ("project",))
    models = explore([org_id], start, end, ("model", "provider"), compare=False)
    pairs = explore([org_id], start, end, ("project", "model"), compare=False)
    total = projects.total_cost
    by_project = projects.table[list(FRAMES["by_project"])].copy()
    by_model = models.table.copy()
    # (pandas-stubs list no Decimal among a column's scalars; an object column holds it exactly)
    by_model["share"] = [(c / total).quantize(Decimal("0.0001")) if total else ZERO for c in by_model["cost_usd"]]  # type: ignore[assignment]
    by_model = by_model[list(FRAMES["by_model"])]
    by_project_model = pairs.table[list(FRAMES["by_project_model"])].copy()
    billing = month_billing(org_id, year, month)
    return Statement(
        org_id,
        name,
        environment,
        timezone,
        year,
        month,
        start,
        end,
        total.quantize(MICRO),
        (projects.previous_cost or ZERO).quantize(MICRO),
        projects.total_requests,
        projects.total_tokens,
        projects.unpriced_requests,
        projects.billed_total,
        billing,
        by_project,
        by_model,
        by_project_model,
    )


def months_with_usage(org_id: str, today: date, limit: int = 24) -> list[tuple[int, int]]:
    """The last `limit` months up to this one, newest first (a statement of a quiet month is still valid)."""
    first = today.replace(day=1)
    return [(d.year, d.month) for d in (add_months(first, -i) for i in range(limit))]


# --- printable HTML --------------------------------------------------------------------------

_TEMPLATE = """<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8">
<title>{{ s.org_name }} · {{ s.label }}</title>
<style>
 body { font-family: -apple-system, 'Segoe UI', 'PingFang SC', 'Microsoft YaHei', sans-serif; color: #0f172a;
        margin: 32px auto; max-width: 900px; }
 h1 { font-size: 22px; margin: 0; } h2 { font-size: 15px; margin: 28px 0 8px; border-bottom: 1px solid #cbd5e1; }
 .meta { color: #475569; font-size: 13px; margin: 4px 0 18px; }
 .env { display: inline-block; padding: 1px 8px; border-radius: 9px; font-size: 12px;
        background: {{ '#fef3c7' if s.environment == 'staging' else '#dcfce7' }}; }
 table { border-collapse: collapse; width: 100%; font-size: 13px; }
 th, td { padding: 5px 8px; border-bottom: 1px solid #e2e8f0; text-align: left; }
 td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
 tr.total td { font-weight: 600; border-top: 2px solid #0f172a; }
 .summary td:first-child { width: 60%; }
 @media print { body { margin: 0; } }
</style></head><body>
<h1>{{ t.title }} · {{ s.org_name }}</h1>
<div class="meta">{{ s.org_id }} · <span class="env">{{ t.env }}</span> · {{ t.period }}: {{ s.start }} – {{ last }}
 ({{ s.timezone }}) · {{ t.generated }} {{ s.generated_at.strftime('%Y-%m-%d %H:%M') }} UTC</div>
<h2>{{ t.summary }}</h2>
<table class="summary">
{% for label, value in summary %}<tr><td>{{ label }}</td><td class="n">{{ value }}</td></tr>{% endfor %}
</table>
<h2>{{ t.by_project }}</h2>
<table><tr><th>{{ t.project }}</th><th class="n">{{ t.requests }}</th><th class="n">{{ t.tokens }}</th>
<th class="n">{{ t.cost }}</th><th class="n">{{ t.previous }}</th><th class="n">{{ t.change }}</th></tr>
{% for r in projects %}<tr><td>{{ r.name }}</td><td class="n">{{ r.requests }}</td><td class="n">{{ r.tokens }}</td>
<td class="n">{{ r.cost }}</td><td class="n">{{ r.previous }}</td><td class="n">{{ r.change }}</td></tr>{% endfor %}
<tr class="total"><td>{{ t.total }}</td><td class="n">{{ total.requests }}</td><td class="n">{{ total.tokens }}</td>
<td class="n">{{ total.cost }}</td><td class="n">{{ total.previous }}</td><td class="n">{{ total.change }}</td></tr>
</table>
<h2>{{ t.by_model }}</h2>
<table><tr><th>{{ t.model }}</th><th>{{ t.provider }}</th><th class="n">{{ t.requests }}</th>
<th class="n">{{ t.tokens }}</th><th class="n">{{ t.cost }}</th><th class="n">{{ t.share }}</th></tr>
{% for r in models %}<tr><td>{{ r.name }}</td><td>{{ r.provider }}</td><td class="n">{{ r.requests }}</td>
<td class="n">{{ r.tokens }}</td><td class="n">{{ r.cost }}</td><td class="n">{{ r.share }}</td></tr>{% endfor %}
</table>
{% if notes %}<h2>{{ t.notes }}</h2><ul>{% for n in notes %}<li>{{ n }}</li>{% endfor %}</ul>{% endif %}
</body></html>
"""


def cost_text(shown: str, amount: object, tokens: int, unpriced: Callable[[int], str]) -> str:
    """A cost cell that says what had no price: "$1.20 + unpriced (3,000 tokens)", or only the words
    where nothing was priced; $0.00 alone would claim that usage was free."""
    if not tokens:
        return shown
    words = unpriced(tokens)
    return words if not amount else f"{shown} + {words}"


class _ProjectRow(Protocol):  # a row of Statement.by_project, as itertuples() gives it
    project: str
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    prev_cost_usd: Decimal
    delta_pct: Decimal | None
    unpriced_tokens: int


class _ModelRow(Protocol):  # a row of Statement.by_model
    model: str
    provider: str
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    share: Decimal
    unpriced_tokens: int


_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))


def render_html(
    s: Statement,
    labels: dict[str, str],
    money: Callable[[Decimal], str],
    number: Callable[[int], str],
    percent: Callable[[Decimal], str],
    summary: list[tuple[str, str]],
    notes: Sequence[str] = (),
    lang: str = "en",
    empty: str = "(none)",
    unpriced: Callable[[int], str] = lambda n: f"unpriced ({n:,} tokens)",
) -> str:
    """The statement as one printable HTML page; `labels` are the UI's words, `money`/`number`/`percent`
    format values the way the page does (so the download says exactly what the page says), and
    `unpriced` words a cost cell's tokens with no price, as the page's tables do."""

    def cost(amount: Decimal, tokens: int) -> str:
        return cost_text(money(amount), amount, int(tokens or 0), unpriced)

    projects = [
        {
            "name": r.project or empty,
            "requests": number(r.requests),
            "tokens": number(r.input_tokens + r.output_tokens),
            "cost": cost(r.cost_usd, r.unpriced_tokens),
            "previous": money(r.prev_cost_usd),
            "change": percent(r.delta_pct) if r.delta_pct is not None else "–",
        }
        for r in cast(Iterator[_ProjectRow], s.by_project.itertuples())
    ]
    models = [
        {
            "name": r.model or empty,
            "provider": r.provider or empty,
            "requests": number(r.requests),
            "tokens": number(r.input_tokens + r.output_tokens),
            "cost": cost(r.cost_usd, r.unpriced_tokens),
            "share": percent(r.share),
        }
        for r in cast(Iterator[_ModelRow], s.by_model.itertuples())
    ]
    change = (s.total - s.previous_total) / s.previous_total if s.previous_total else None
    total = {
        "requests": number(s.requests),
        "tokens": number(s.tokens),
        "cost": cost(s.total, s.unpriced_tokens),
        "previous": money(s.previous_total),
        "change": percent(change) if change is not None else "–",
    }
    last = date.fromordinal(s.end.toordinal() - 1)
    return _env.from_string(_TEMPLATE).render(
        s=s,
        t=labels,
        projects=projects,
        models=models,
        total=total,
        summary=summary,
        notes=list(notes),
        last=last,
        lang=lang,
    )


# --- per-organization summary (Organizations page) -------------------------------------------


class OrgSummary(TypedDict):
    billing: MonthBilling
    credit_balance: Decimal
    members: list[dict[str, str]]  # email, role
    sources: list[dict[str, object]]


def org_summary(org_id: str, today: date) -> OrgSummary:
    """This month's spend, credits, limits and the organization's members and sources."""
    billing = month_billing(org_id, today.year, today.month)
    with session_scope() as session:
        people = [{"email": m.email, "role": m.role} for m in members(session, org_id)]
        sources: list[dict[str, object]] = [
            {
                "name": s.name,
                "provider": s.provider,
                "key_env": s.key_env,
                "enabled": s.enabled,
                "last_success_at": s.last_success_at,
                "last_error": s.last_error,
                "rows_written": s.rows_written,
            }
            for s in session.exec(select(Source).where(Source.org_id == org_id).order_by(Source.name))
        ]
    return {"billing": billing, "credit_balance": credit_balance(org_id, today), "members": people, "sources": sources}
