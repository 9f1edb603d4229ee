"""Monthly statement of one organization: totals, per project and model, credits applied, limits; printable."""

from datetime import timedelta

import streamlit as st

from models.budgets.statement import months_with_usage, render_html
from models.spend.explore import to_csv
from models.units import add_months
from ui import charts
from ui.format import (
    floats,
    in_currency,
    money_column,
    number,
    percent,
    today_in,
)
from ui.i18n import t
from ui.layout import card_grid, change_delta
from ui.page import page_header
from ui.queries import org_summaries, statement_data
from ui.safe import md

ctx = page_header("statement", needs_org=True)

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
s = statement_data(ctx.org_id, year, month)
badge = ":orange-badge[🧪 " + t("env.staging") + "]" if ctx.is_staging else ":green-badge[" + t("env.prod") + "]"
st.markdown(f"### {md(s.org_name)} · {s.label} {badge}")
st.caption(f"{t('statement.period')}: {s.start} – {s.end - timedelta(days=1)} ({s.timezone})")

bill = s.billing
soft, hard = bill.get("soft_limit_usd"), bill.get("hard_limit_usd")
change = (s.total - s.previous_total) / s.previous_total if s.previous_total else None
cols = card_grid(5, per_row=3)  # five in a row cut CNY figures off at 1280 px
cols[0].metric(
    t("statement.spend"),
    ctx.money(s.total),
    border=True,
    **change_delta(s.total, s.previous_total, ctx.money, t("statement.no_previous")),
    help=t("statement.vs_previous"),
)
cols[1].metric(t("statement.credits"), ctx.money(bill["credits_applied_usd"]), border=True)
cols[2].metric(t("statement.billable"), ctx.money(bill["billable_usd"]), border=True)
cols[3].metric(
    t("statement.soft"),
    ctx.money(soft) if soft is not None else t("statement.not_set"),
    border=True,
    delta=t("statement.used", pct=percent(s.total / soft)) if soft else None,
    delta_arrow="off",
    delta_color="off",
)
cols[4].metric(t("statement.hard"), ctx.money(hard) if hard is not None else t("statement.not_set"), border=True)
if s.billed is not None:
    st.caption(f"{t('statement.billed')}: {ctx.money(s.billed)}")
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
            frame.assign(**{label: frame[label].replace("", t("common.none"))}), ("cost_usd", "prev_cost_usd"), ctx.rate
        )
    )
    chart_tab, table_tab = st.tabs([t("common.chart"), t("common.table")])
    chart_tab.plotly_chart(charts.share_bar(shown.head(12), label, ctx.symbol), width="stretch")
    table_tab.dataframe(shown, hide_index=True, width="stretch", column_config=config)


left, right = st.columns(2)
with left:
    section(t("statement.by_project"), s.by_project, "project")
with right:
    section(t("statement.by_model"), s.by_model, "model")
with st.expander(t("statement.detail")):
    detail = floats(in_currency(s.by_project_model, ("cost_usd",), ctx.rate))
    st.dataframe(detail, hide_index=True, width="stretch", column_config=config)

summary = [
    (t("statement.spend"), ctx.money(s.total)),
    (t("statement.previous"), ctx.money(s.previous_total)),
    (t("statement.credits"), ctx.money(bill["credits_applied_usd"])),
    (t("statement.billable"), ctx.money(bill["billable_usd"])),
    (t("statement.soft"), ctx.money(soft) if soft is not None else t("statement.not_set")),
    (t("statement.hard"), ctx.money(hard) if hard is not None else t("statement.not_set")),
]
balance = org_summaries((ctx.org_id,), today)[ctx.org_id]["credit_balance"]
if balance is not None:
    summary.append((t("statement.credit_balance"), ctx.money(balance)))
if s.billed is not None:
    summary.append((t("statement.billed"), ctx.money(s.billed)))
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
a, b, _ = st.columns([1.3, 1, 3])
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
    to_csv(detail.rename(columns=labels)),
    f"{name}.csv",
    "text/csv",
    key="st_csv",
    on_click="ignore",
    width="stretch",
)
st.caption(t("statement.print_tip"))
