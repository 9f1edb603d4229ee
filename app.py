"""Spendsight home: month-to-date spend, spend per day, top models and projects, unpriced usage."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import streamlit as st

from ui import charts
from ui.format import in_currency, money_column, number, table
from ui.i18n import t
from ui.page import page_header
from ui.queries import home_overview
from ui.safe import md

ctx = page_header("home", needs_org=True, no_orgs="home.no_orgs")
assert ctx.org_id is not None  # (needs_org: the page stopped otherwise)

today = datetime.now(UTC).astimezone(ZoneInfo(ctx.timezone)).date()
view = home_overview(ctx.org_id, today)

st.subheader(md(ctx.org_label(ctx.org_id)))  # user-typed name: escaped
col1, col2, col3 = st.columns(3)
col1.metric(t("home.mtd"), ctx.money(view.mtd_cost))
col2.metric(t("home.requests_month"), number(view.mtd_requests))
col3.metric(t("home.last_month"), ctx.money(view.prev_month_cost))

if view.mtd_requests == 0 and view.last_usage_day is not None:
    st.info(t("home.no_usage_month", day=f"{view.last_usage_day:%Y-%m-%d}"))

st.markdown(f"#### {t('home.per_day')}")
if view.daily.empty:
    st.info(t("home.no_usage_60"))
else:
    daily = in_currency(view.daily, ("cost_usd",), ctx.rate)
    chart_tab, table_tab = st.tabs([t("common.chart"), t("common.table")])
    chart_tab.plotly_chart(charts.daily_spend(daily, ctx.symbol, t("common.cost")), width="stretch")
    table(
        where=table_tab,
        data=daily,
        hide_index=True,
        width="stretch",
        column_config={
            "day": st.column_config.DateColumn(t("common.day")),
            "cost_usd": money_column(f"{t('common.cost')} ({ctx.currency})", ctx.currency),
            "requests": st.column_config.NumberColumn(t("common.requests"), format="localized"),
        },
    )

left, right = st.columns(2)
for column, title, frame, label in (
    (left, t("home.top_models"), view.top_models, "model"),
    (right, t("home.top_projects"), view.top_projects, "project"),
):
    with column:
        st.markdown(f"#### {title}")
        if frame.empty:
            st.caption(t("home.no_usage"))
            continue
        shown = in_currency(frame, ("cost_usd",), ctx.rate)
        chart_tab, table_tab = st.tabs([t("common.chart"), t("common.table")])
        chart_tab.plotly_chart(charts.share_bar(shown, label, ctx.symbol), width="stretch")
        table(
            where=table_tab,
            data=shown,
            hide_index=True,
            width="stretch",
            column_config={
                "cost_usd": money_column(f"{t('common.cost')} ({ctx.currency})", ctx.currency),
                "share": st.column_config.NumberColumn(t("home.share"), format="percent"),
            },
        )

if view.unpriced:
    st.warning(t("home.unpriced"))
    table(view.unpriced, hide_index=True, width="stretch")

st.caption(t("home.next"))
