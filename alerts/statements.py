"""The monthly statement by email: when an org's month closes, each subscriber gets it once, in their
language and currency, as an HTML body with the XLSX attached.

Exactly once: closing a month inserts one `statement_delivery` row per (org, month, subscriber),
unique. Rows are claimed the way the alert outbox claims its rows (an UPDATE that one sender wins,
a lease if it dies) and sent with the alert mailer (alerts.mail), so SMTP settings, retries and
give-up work the same. The words are here, not in ui/locales: alerts may not import the UI.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select

from alerts import leases, mail
from alerts.strings import ALERTS
from alerts.strings import money as format_money
from models.budgets.billing import local_today
from models.budgets.snapshots import month_statement
from models.budgets.statement import Statement, render_html
from models.budgets.statement_export import statement_xlsx
from models.budgets.subscriptions import subscription
from models.db import get_engine, table_of
from models.fx import Rate, month_rate, rate_text
from models.settings import get_settings
from models.tables import StatementDelivery

log = logging.getLogger("spendsight.alerts")
DELIVERIES = table_of(StatementDelivery)
XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    xlsx: bytes
    filename: str


def render_statement(s: Statement, lang: str, rate: Rate, restatements: Sequence[tuple[str, str]] = ()) -> Rendered:
    """Subject, plain text, HTML and the XLSX of one statement in one language and currency."""
    w = ALERTS.words(lang, "statement")

    def money(amount: Decimal | None) -> str:
        return w["not_set"] if amount is None else format_money(amount, rate.currency, rate.rate)

    bill = s.billing
    summary = [
        (w["spend"], money(s.total)),
        (w["previous"], money(s.previous_total)),
        (w["credits"], money(bill["credits_applied_usd"])),
        (w["billable"], money(bill["billable_usd"])),
        (w["soft"], money(bill["soft_limit_usd"])),
        (w["hard"], money(bill["hard_limit_usd"])),
    ]
    if rate.currency != "USD":
        since = w["since"].format(day=rate.since) if rate.since else w["default_rate"]
        summary.append((w["rate"], f"{rate_text(rate.rate)} {rate.currency}/USD {since}"))
    notes = [w["restated"].format(day=day, reason=reason) for day, reason in restatements]
    cost = f"{w['cost']} ({rate.currency})"
    labels = {k: w[k] for k in w} | {"env": w[f"env.{s.environment}"], "cost": cost}
    html = render_html(
        s,
        labels,
        money,
        lambda n: f"{n:,}",
        lambda p: f"{float(p) * 100:.1f}%",
        summary,
        notes,
        lang,
        w["none"],
        lambda n: w["unpriced_cost"].format(tokens=f"{n:,}"),
    )
    columns = {
        "project": w["project"],
        "model": w["model"],
        "provider": w["provider"],
        "requests": w["requests"],
        "input_tokens": w["input_tokens"],
        "output_tokens": w["output_tokens"],
        "cost_usd": cost,
        "prev_cost_usd": f"{w['previous']} ({rate.currency})",
        "delta_pct": w["change"],
        "share": w["share"],
        "unpriced_tokens": w["unpriced_tokens"],
    }
    sheets = {"by_project": w["by_project"], "by_model": w["by_model"], "by_project_model": w["detail"]}
    xlsx = statement_xlsx(s, columns, rate.rate, w["none"], w["total"], sheets, summary)
    subject = w["subject"].format(org=s.org_name, month=s.label, total=money(s.total))
    intro = w["intro"].format(org=s.org_name, month=s.label)
    text = "\n".join([intro, "", *(f"{k}: {v}" for k, v in summary), *notes]) + "\n"
    return Rendered(subject, text, html, xlsx, f"statement-{s.org_id}-{s.label}.xlsx")


# --- delivering ------------------------------------------------------------------------------


def _claim(now: datetime) -> tuple[str, list[dict[str, Any]]]:
    """Take up to 100 due statement emails (rows of a dead sender first go back to pending)."""
    leases.release_stale(DELIVERIES, now)
    with get_engine().connect() as conn:
        ids = list(
            conn.execute(
                select(DELIVERIES.c.id)
                .where(DELIVERIES.c.status == "pending", DELIVERIES.c.next_attempt_at <= now)
                .order_by(DELIVERIES.c.id)
                .limit(100)
            ).scalars()
        )
    token = leases.claim(DELIVERIES, ids, now)
    if not ids:
        return token, []
    with get_engine().connect() as conn:
        rows = conn.execute(
            select(DELIVERIES).where(DELIVERIES.c.claimed_by == token, DELIVERIES.c.status == "sending")
        )
        return token, [dict(r._mapping) for r in rows]


def deliver_statements(now: datetime | None = None) -> dict[str, int]:
    """Send the statement emails that are due; delivery trouble stays on the rows, never raises."""
    settings = get_settings()
    now = now or datetime.now(UTC)
    counts = {"sent": 0, "retrying": 0, "failed": 0}
    if not mail.smtp_configured(settings):
        return counts
    token, rows = _claim(now)
    with mail.Mailer(settings) as mailer:
        for row in rows:
            failure: mail.SendFailure | None = None
            try:
                msg = _message(row, now)
                if msg is None:
                    failure = mail.SendFailure("unsubscribed before it was sent", permanent=True)
                else:
                    mailer.send(msg)
            except mail.SendFailure as exc:
                failure = exc
            status = leases.finish(DELIVERIES, row, token, now, failure)
            counts["sent" if status == "sent" else "failed" if status == "failed" else "retrying"] += 1
            if failure is not None:
                log.warning("statement %s %s to %s: %s", row["org_id"], row["month"], row["email"], failure.reason)
    return counts


def _message(row: dict[str, Any], now: datetime) -> EmailMessage | None:
    wanted = subscription(row["org_id"], row["email"])
    if wanted is None:
        return None
    year, month = int(row["month"][:4]), int(row["month"][5:])
    s, versions = month_statement(row["org_id"], year, month)
    rate = month_rate(wanted["currency"], year, month, local_today(s.timezone, now))
    restated = [(f"{v.created_at:%Y-%m-%d}", v.reason) for v in versions if v.version > 0]
    rendered = render_statement(s, wanted["lang"], rate, restated)
    message_id = row["message_id"] or f"<statement-{row['id']}@spendsight>"
    msg = mail.build_message(get_settings(), row["email"], rendered.subject, rendered.text, rendered.html, message_id)
    msg.add_attachment(rendered.xlsx, maintype=XLSX[0], subtype=XLSX[1], filename=rendered.filename)
    return msg
