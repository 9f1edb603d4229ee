"""Monthly statement of one organization: totals, per project and model, credits applied, limits; printable.

A closed month shows its frozen statement and any dated restatements; figures in another currency use
the month's own rate and say which.
"""

from datetime import timedelta

import streamlit as st

from models.budgets.billing import month_bounds
from models.budgets.statement import months_with_usage
from models.budgets.subscriptions import subscribe
from models.settings import get_settings
from models.units import add_months
from ui import actions, statement_view
from ui.format import day_in, number, percent, today_in
from ui.i18n import t
from ui.layout import card_grid, change_delta
from ui.page import page_header
from ui.queries import closed_statement, my_subscription, org_summaries, refresh
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
# Every figure below, downloads included, at the month's own rate (its last day's; today's while it runs).
ctx = ctx.at(min(s.end - timedelta(days=1), today))
money = ctx.money

badge = ":orange-badge[🧪 " + t("env.staging") + "]" if ctx.is_staging else ":green-badge[" + t("env.prod") + "]"
st.markdown(f"### {md(s.org_name)} · {s.label} {badge}")
st.caption(f"{t('statement.period')}: {s.start} – {s.end - timedelta(days=1)} ({s.timezone})")
ctx.rate_note()
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

statement_view.breakdowns(s, ctx)
balance = org_summaries((ctx.org_id,), today)[ctx.org_id]["credit_balance"]
statement_view.downloads(s, ctx, statement_view.summary(s, ctx, balance))
if history:
    statement_view.history(history, ctx)
st.caption(t("statement.print_tip"))
