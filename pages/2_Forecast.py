"""Forecast: this month's spend so far, the p10-p90 fan to month end, limit lines and crossing dates."""

import streamlit as st

from ui.budget_charts import fan_chart, track_chart
from ui.budget_queries import forecast_scopes, forecast_view
from ui.format import in_currency, money_column, short_day, table, today_in
from ui.i18n import t
from ui.layout import card_grid
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


def limit_metric(column, label: str, limit, crossed, help_text: str | None = None) -> None:
    if limit is None:
        column.metric(label, t("forecast.not_set"), border=True, help=help_text)
        return
    note = t("forecast.crosses", day=short_day(crossed, ctx.lang)) if crossed else t("forecast.no_cross")
    column.metric(
        label,
        ctx.money(limit),
        note,
        delta_color="inverse" if crossed else "off",
        delta_arrow="off",
        border=True,
        help=help_text,
    )


cols = card_grid(4, per_row=2)  # the p10-p90 line needs half the width in CNY at 1280 px
cols[0].metric(t("forecast.spent"), ctx.money(view["spent"]), border=True)
cols[1].metric(
    t("forecast.p50"),
    ctx.money(view["p50"]),
    help=t("forecast.p50_help"),
    border=True,
    delta_arrow="off",
    delta_color="off",
    delta=t("forecast.range", p10=ctx.money(view["p10"]), p90=ctx.money(view["p90"])),
)
limit_metric(cols[2], t("forecast.soft"), view["soft"], view["soft_cross"])
limit_metric(cols[3], t("forecast.hard"), view["hard"], view["hard_cross"], t("budgets.hard_help"))
if view["hard"] is not None:
    st.caption(t("forecast.hard_means"))
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
table(
    where=table_tab,
    data=days,
    hide_index=True,
    width="stretch",
    column_config={"day": st.column_config.DateColumn(t("forecast.col.day"))}
    | {
        c: money_column(t(f"forecast.col.{c}", currency=ctx.currency), ctx.currency)
        for c in ("actual", "p10", "p50", "p90")
    },
)
top = sorted(view["weights"].items(), key=lambda kv: -kv[1])[:2]
st.caption(
    t("forecast.method") + " " + t("forecast.weights", methods=", ".join(f"{t('method.' + m)} {w:.0%}" for m, w in top))
    if top
    else t("forecast.method")
)

# Track record: how the forecast did on this scope's past months, next to the run-rate.
track = view["track"]
st.markdown(f"#### {t('forecast.track.title')}")
st.caption(t("forecast.track.help"))
summary = track["summary"]
if not summary["runs"]:
    st.info(t("forecast.track.none"))
    st.stop()
cols = st.columns(3)
mape, naive = summary["mape_pct"], summary["run_rate_mape_pct"]
cols[0].metric(t("forecast.track.p50"), "–" if mape is None else f"{mape:.1f}%", border=True)
cols[1].metric(t("forecast.track.run_rate"), "–" if naive is None else f"{naive:.1f}%", border=True)
cols[2].metric(
    t("forecast.track.band"),
    t("forecast.track.band_value", hits=round(summary["band_hit_rate"] * summary["runs"]), runs=summary["runs"]),
    border=True,
)
if summary["ratio"] is not None:  # within 5% of each other: neither is the better guide
    show, verdict = (
        (st.success, "trust")
        if summary["ratio"] < 0.95
        else (st.info, "even")
        if summary["ratio"] <= 1.05
        else (st.warning, "caution")
    )
    show(t(f"forecast.track.{verdict}", months=summary["months"], mape=mape, naive=naive))
chart_tab, table_tab = st.tabs([t("common.chart"), t("common.table")])
chart_tab.plotly_chart(
    track_chart(
        track["months"],
        {"p50": t("forecast.track.p50"), "run_rate": t("forecast.track.run_rate"), "held": t("forecast.track.held")},
    ),
    width="stretch",
    key="fc_track",
)
# Past months' money, each at its own month's rate (as their statements show it).
month_rates = [ctx.month_rate(m, today) for m in track["runs"]["month"]]
runs = in_currency(track["runs"], ("actual", "p50_usd", "run_rate_usd"), month_rates)
if ctx.currency != "USD":
    table_tab.caption(t("forecast.track.own_rates", currency=ctx.currency))
table(
    where=table_tab,
    data=runs[
        ["month", "actual", "as_of_day", "p50_usd", "error_pct", "in_band", "run_rate_usd", "run_rate_error_pct"]
    ],
    hide_index=True,
    width="stretch",
    column_config={
        "month": t("forecast.track.col.month"),
        "as_of_day": t("forecast.track.col.day"),
        "in_band": st.column_config.CheckboxColumn(t("forecast.track.col.in_band")),
        "error_pct": st.column_config.NumberColumn(t("forecast.track.col.error"), format="%+.1f%%"),
        "run_rate_error_pct": st.column_config.NumberColumn(t("forecast.track.col.run_rate_error"), format="%+.1f%%"),
    }
    | {
        c: money_column(t(f"forecast.track.col.{k}", currency=ctx.currency), ctx.currency)
        for c, k in (("actual", "actual"), ("p50_usd", "p50"), ("run_rate_usd", "run_rate"))
    },
)
