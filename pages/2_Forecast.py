"""Forecast: this month's spend so far, the p10-p90 fan to month end, limit lines and crossing dates."""

import streamlit as st

from ui.budget_charts import fan_chart
from ui.budget_queries import forecast_scopes, forecast_view
from ui.format import in_currency, money_column, today_in
from ui.i18n import t
from ui.page import page_header

ctx = page_header("forecast", needs_org=True)

today = today_in(ctx.timezone)
scopes = [""] + forecast_scopes(ctx.org_id, today)
if st.session_state.get("fc_scope") not in scopes:  # another org's project
    st.session_state["fc_scope"] = ""
project = st.columns([2, 3])[0].selectbox(
    t("forecast.scope"), scopes, key="fc_scope", format_func=lambda p: p or t("forecast.whole_org")
)
view = forecast_view(ctx.org_id, project or None, today)

if view["history_days"] == 0 and view["spent"] == 0:
    st.info(t("forecast.empty"))
    st.stop()


def limit_metric(column, label: str, limit, crossed) -> None:
    if limit is None:
        column.metric(label, t("forecast.not_set"), border=True)
        return
    note = t("forecast.crosses", day=f"{crossed:%b %d}") if crossed else t("forecast.no_cross")
    column.metric(
        label, ctx.money(limit), note, delta_color="inverse" if crossed else "off", delta_arrow="off", border=True
    )


cols = st.columns(4)
cols[0].metric(t("forecast.spent"), ctx.money(view["spent"]), border=True)
cols[1].metric(
    t("forecast.p50"),
    ctx.money(view["p50"]),
    border=True,
    delta_arrow="off",
    delta_color="off",
    delta=t("forecast.range", p10=ctx.money(view["p10"]), p90=ctx.money(view["p90"])),
)
limit_metric(cols[2], t("forecast.soft"), view["soft"], view["soft_cross"])
limit_metric(cols[3], t("forecast.hard"), view["hard"], view["hard_cross"])
if view["history_days"] < 7:
    st.warning(t("forecast.short", n=view["history_days"]))
if view["soft"] is None and view["hard"] is None:
    st.caption(t("forecast.set_limits"))

days = in_currency(view["days"], ("actual", "p10", "p50", "p90"), ctx.rate)
st.markdown(f"#### {t('forecast.chart', month=view['month'])}")
chart_tab, table_tab = st.tabs([t("common.chart"), t("common.table")])
labels = {
    "actual": t("forecast.actual"),
    "band": t("forecast.band"),
    "p50": "p50",
    "soft": t("forecast.soft"),
    "hard": t("forecast.hard"),
    "crossed": t("forecast.crossed"),
}


def convert(v):
    return None if v is None else ctx.convert(v)


chart_tab.plotly_chart(
    fan_chart(
        days, labels, convert(view["soft"]), convert(view["hard"]), view["soft_cross"], view["hard_cross"], ctx.symbol
    ),
    width="stretch",
    key="fc_chart",
)
table_tab.dataframe(
    days,
    hide_index=True,
    width="stretch",
    column_config={"day": st.column_config.DateColumn(t("forecast.col.day"))}
    | {
        c: money_column(t(f"forecast.col.{c}", currency=ctx.currency), ctx.currency)
        for c in ("actual", "p10", "p50", "p90")
    },
)
st.caption(t("forecast.method"))
