"""Monthly statement of one organization: totals, per project and model, credits applied, limits; printable.

A closed month shows its frozen statement and any dated restatements; figures in another currency use
the month's own rate and say which.
"""

from datetime import timedelta

import streamlit as st

from models.budgets.billing import month_bounds
from models.budgets.statement import months_with_usage, render_html
from models.budgets.statement_export import statement_csv, statement_xlsx
from models.budgets.subscriptions import subscribe
from models.settings import get_settings
from models.units import add_months
from ui import actions, charts
from ui.format import (
    day_in,
    floats,
    in_currency,
    money_column,
    number,
    percent,
    rate_words,
    table,
    today_in,
)
from ui.format import money as format_money
from ui.i18n import t
from ui.layout import card_grid, change_delta
from ui.page import page_header
from ui.queries import closed_statement, display_rate, my_subscription, org_summaries, refresh
from ui.safe import md

ctx = page_header("statement", needs_org=True, flash="st_flash")

today = today_in(ctx.timezone)
months = months_with_usage(ctx.org_id, today)
last_month = add_months(today.replace(day=1), -1)
year, month = st.columns([1, 4])[0].selectbox(
    t("statement.month"),
    months,
    index=months.index((last_month.year, last_month.month)),
    format_func=lambda m: f"{m[0]:04d}-{m[1]:02d}",
    key="st_month",
)
s, history = closed_statement(ctx.org_id, year, month)
rate = display_rate(ctx.currency, year, month, today)  # the month's own rate, not today's


def money(amount) -> str:
    return format_money(amount, ctx.currency, rate.rate)


badge = ":orange-badge[🧪 " + t("env.staging") + "]" if ctx.is_staging else ":green-badge[" + t("env.prod") + "]"
st.markdown(f"### {md(s.org_name)} · {s.label} {badge}")
st.caption(f"{t('statement.period')}: {s.start} – {s.end - timedelta(days=1)} ({s.timezone})")
if ctx.currency != "USD":
    st.caption(t("closing.rate", currency=ctx.currency, rate=rate_words(rate)))
if history:
    st.info(t("closing.closed", day=day_in(history[0].created_at, ctx.timezone)))
    for v in history[1:]:
        st.warning(
            t(
                "closing.restated",
                day=day_in(v.created_at, ctx.timezone),
                diff=money(v.difference_usd),
                reason=md(v.reason),
            )
        )
elif month_bounds(year, month)[1] <= today:
    st.caption(t("closing.open", days=get_settings().statement.close_after_days))
if ctx.role in ("reader", "owner") and ctx.actor is not None and ctx.actor.email:
    mine = my_subscription(ctx.org_id, ctx.actor.email)
    wanted = st.toggle(t("closing.subscribe"), value=mine is not None, help=t("closing.subscribe_help"), key="st_sub")
    if wanted != (mine is not None):
        actor, org_id, lang, currency = ctx.actor, ctx.org_id, ctx.lang, ctx.currency
        actions.attempt(
            lambda: subscribe(actor, org_id, wanted, lang=lang, currency=currency),
            t("closing.subscribed" if wanted else "closing.unsubscribed"),
            "st_flash",
            refresh,
        )

bill = s.billing
soft, hard = bill.get("soft_limit_usd"), bill.get("hard_limit_usd")
change = (s.total - s.previous_total) / s.previous_total if s.previous_total else None
cols = card_grid(5, per_row=3)  # five in a row cut CNY figures off at 1280 px
cols[0].metric(
    t("statement.spend"),
    money(s.total),
    border=True,
    **change_delta(s.total, s.previous_total, money, t("statement.no_previous")),
    help=t("statement.vs_previous"),
)
cols[1].metric(t("statement.credits"), money(bill["credits_applied_usd"]), border=True)
cols[2].metric(t("statement.billable"), money(bill["billable_usd"]), border=True)
cols[3].metric(
    t("statement.soft"),
    money(soft) if soft is not None else t("statement.not_set"),
    border=True,
    delta=t("statement.used", pct=percent(s.total / soft)) if soft else None,
    delta_arrow="off",
    delta_color="off",
)
cols[4].metric(t("statement.hard"), money(hard) if hard is not None else t("statement.not_set"), border=True)
if s.billed is not None:
    st.caption(f"{t('statement.billed')}: {money(s.billed)}")
if s.unpriced_requests:
    st.warning(t("statement.unpriced", n=number(s.unpriced_requests)))
if s.requests == 0:
    st.info(t("statement.empty", month=s.label))
    st.stop()

labels = {
    "project": t("common.project"),
    "model": t("common.model"),
    "provider": t("common.provider"),
    "requests": t("common.requests"),
    "input_tokens": t("common.input_tokens"),
    "output_tokens": t("common.output_tokens"),
    "cost_usd": f"{t('common.cost')} ({ctx.currency})",
    "prev_cost_usd": f"{t('statement.previous')} ({ctx.currency})",
    "delta_pct": t("statement.change"),
    "share": t("statement.share"),
}
config = (
    {c: money_column(labels[c], ctx.currency) for c in ("cost_usd", "prev_cost_usd")}
    | {c: st.column_config.NumberColumn(labels[c], format="percent") for c in ("delta_pct", "share")}
    | {
        c: st.column_config.Column(labels[c])
        for c in ("project", "model", "provider", "requests", "input_tokens", "output_tokens")
    }
)


def section(title: str, frame, label: str) -> None:
    st.markdown(f"#### {title}")
    shown = floats(
        in_currency(
            frame.assign(**{label: frame[label].replace("", t("common.none"))}),
            ("cost_usd", "prev_cost_usd"),
            rate.rate,
        )
    )
    chart_tab, table_tab = st.tabs([t("common.chart"), t("common.table")])
    chart_tab.plotly_chart(charts.share_bar(shown.head(12), label, ctx.symbol), width="stretch")
    table(where=table_tab, data=shown, hide_index=True, width="stretch", column_config=config)


left, right = st.columns(2)
with left:
    section(t("statement.by_project"), s.by_project, "project")
with right:
    section(t("statement.by_model"), s.by_model, "model")
with st.expander(t("statement.detail")):
    detail = floats(in_currency(s.by_project_model, ("cost_usd",), rate.rate))
    table(detail, hide_index=True, width="stretch", column_config=config)

summary = [
    (t("statement.spend"), money(s.total)),
    (t("statement.previous"), money(s.previous_total)),
    (t("statement.credits"), money(bill["credits_applied_usd"])),
    (t("statement.billable"), money(bill["billable_usd"])),
    (t("statement.soft"), money(soft) if soft is not None else t("statement.not_set")),
    (t("statement.hard"), money(hard) if hard is not None else t("statement.not_set")),
]
balance = org_summaries((ctx.org_id,), today)[ctx.org_id]["credit_balance"]
if balance is not None:
    summary.append((t("statement.credit_balance"), money(balance)))
if s.billed is not None:
    summary.append((t("statement.billed"), money(s.billed)))
words = {
    k: t(f"statement.{k}")
    for k in ("title", "period", "generated", "summary", "by_project", "by_model", "previous", "change", "share")
} | {
    "env": t(f"env.{s.environment}"),
    "project": t("common.project"),
    "model": t("common.model"),
    "provider": t("common.provider"),
    "requests": t("common.requests"),
    "tokens": t("common.tokens"),
    "cost": f"{t('common.cost')} ({ctx.currency})",
    "total": t("common.total"),
    "notes": t("statement.notes"),
}
notes = [t("statement.unpriced", n=number(s.unpriced_requests))] if s.unpriced_requests else []
html = render_html(s, words, ctx.money, number, percent, summary, notes, ctx.lang, t("common.none"))
name = f"{t('statement.file')}-{s.org_id}-{s.label}"
sheets = {
    "by_project": t("closing.sheet_project"),
    "by_model": t("closing.sheet_model"),
    "by_project_model": t("closing.sheet_detail"),
}
a, b, c, _ = st.columns([1.3, 1, 1, 2])
a.download_button(
    t("statement.download_html"),
    html,
    f"{name}.html",
    "text/html",
    type="primary",
    key="st_html",
    on_click="ignore",
    width="stretch",
)
b.download_button(
    t("common.download_csv"),
    statement_csv(s, labels, rate.rate, t("common.none"), t("common.total")),
    f"{name}.csv",
    "text/csv",
    key="st_csv",
    on_click="ignore",
    width="stretch",
)
c.download_button(
    t("common.download_excel"),
    statement_xlsx(s, labels, rate.rate, t("common.none"), t("common.total"), sheets, summary),
    f"{name}.xlsx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    key="st_xlsx",
    on_click="ignore",
    width="stretch",
)
if history:
    with st.expander(t("closing.history")):
        table(
            [
                {
                    t("closing.col.when"): f"{v.created_at:%Y-%m-%d %H:%M}",
                    t("closing.col.kind"): t("closing.kind_closed")
                    if v.version == 0
                    else t("closing.kind_restated", n=v.version),
                    t("closing.col.spend", currency=ctx.currency): round(float(v.total_usd * rate.rate), 2),
                    t("closing.col.difference", currency=ctx.currency): round(float(v.difference_usd * rate.rate), 2),
                    t("closing.col.reason"): v.reason,
                }
                for v in history
            ],
            hide_index=True,
            width="stretch",
        )
st.caption(t("statement.print_tip"))
