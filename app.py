"""Spendsight home: month-to-date spend, spend per day, top models and projects, unpriced usage."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import streamlit as st

from ui import charts, sidebar
from ui.format import money, tokens
from ui.queries import home_overview

st.set_page_config(page_title="Spendsight", page_icon="💸", layout="wide")
ctx = sidebar.render()
st.title("Spendsight")
st.caption("LLM API usage and cost across your organizations.")

if ctx.org_id is None:
    st.info("No organizations yet. Run `spendsight demo` for sample data, or `spendsight org add` and "
            "`spendsight ingest` / `spendsight source add` to bring in your own.")
    st.stop()

timezone = next(o["timezone"] for o in ctx.orgs if o["id"] == ctx.org_id)
today = datetime.now(UTC).astimezone(ZoneInfo(timezone)).date()
view = home_overview(ctx.org_id, today)

st.subheader(ctx.org_name)
col1, col2, col3 = st.columns(3)
col1.metric("Month to date", money(view.mtd_cost))
col2.metric("Requests this month", tokens(view.mtd_requests))
col3.metric("Last month", money(view.prev_month_cost))

if view.mtd_requests == 0 and view.last_usage_day is not None:
    st.info(f"No usage this month yet; the latest usage is on {view.last_usage_day:%Y-%m-%d}. "
            "The Spend explorer shows any period.")

st.markdown("#### Spend per day")
if view.daily.empty:
    st.info("No usage in the last 60 days.")
else:
    chart_tab, table_tab = st.tabs(["Chart", "Table"])
    chart_tab.plotly_chart(charts.daily_spend(view.daily), width="stretch")
    table_tab.dataframe(view.daily, hide_index=True, width="stretch")

left, right = st.columns(2)
with left:
    st.markdown("#### Top models this month")
    if view.top_models.empty:
        st.caption("No usage this month.")
    else:
        st.plotly_chart(charts.share_bar(view.top_models, "model"), width="stretch")
with right:
    st.markdown("#### Top projects this month")
    if view.top_projects.empty:
        st.caption("No usage this month.")
    else:
        st.plotly_chart(charts.share_bar(view.top_projects, "project"), width="stretch")

if view.unpriced:
    st.warning(
        "Some usage has no price in the catalog and is **not** included in the totals above. "
        "Add an override in `data/prices.toml` (or on the Prices page)."
    )
    st.dataframe(view.unpriced, hide_index=True, width="stretch")
