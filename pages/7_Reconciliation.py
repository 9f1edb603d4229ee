"""Reconciliation: estimated vs provider-billed cost per UTC day and project, with the drift."""

from datetime import UTC, datetime, timedelta

import streamlit as st

from ui.collect_charts import estimated_vs_billed
from ui.collect_queries import cause_label, explained_days, flagged, reconciliation, reconciliation_causes
from ui.format import floats, in_currency, money_column, signed_percent, table
from ui.i18n import t
from ui.page import page_header

ctx = page_header("recon", needs_org=True)

today = datetime.now(UTC).date()
pick = st.columns([1, 1, 1, 2])
start = pick[0].date_input(t("recon.start"), value=today - timedelta(days=30), key="rc_start")
end = pick[1].date_input(t("recon.end"), value=today + timedelta(days=1), key="rc_end")
threshold = pick[2].number_input(t("recon.threshold"), min_value=0.0, value=10.0, step=1.0, key="rc_threshold")
if end <= start:
    st.error(t("recon.bad_range"))
    st.stop()

ctx = ctx.at(min(end - timedelta(days=1), today))  # the period's money at its last day's rate, as the explorer
ctx.rate_note()
rows, daily, totals = reconciliation(ctx.org_id, start, end)
if rows.empty:
    st.info(t("recon.empty"))
    st.stop()

m = st.columns(3)
m[0].metric(t("recon.estimated"), ctx.money(totals["estimated_usd"]))
m[1].metric(t("recon.billed"), ctx.money(totals["billed_usd"]))
drift = totals["drift_pct"]
m[2].metric(t("recon.drift"), signed_percent(None if drift is None else drift / 100))
n = flagged(rows, threshold)
if n:
    st.warning(t("recon.flagged", n=n, pct=f"{threshold:g}"))

causes, days = reconciliation_causes(ctx.org_id, start, end)
st.subheader(t("recon.why_title"))
sentences = explained_days(daily, days, threshold)
SHOWN = 5
for sentence in sentences[:SHOWN]:
    st.markdown(f"- {sentence}")
if len(sentences) > SHOWN:
    with st.expander(t("recon.why_more", n=len(sentences))):
        st.markdown("\n".join(f"- {s}" for s in sentences[SHOWN:]))
if not sentences:
    st.caption(t("recon.why_none", pct=f"{threshold:g}"))

chart_tab, causes_tab, table_tab = st.tabs([t("common.chart"), t("recon.causes_tab"), t("common.table")])
shown_daily = in_currency(daily, ["estimated_usd", "billed_usd"], ctx.rate)
chart_tab.plotly_chart(
    estimated_vs_billed(shown_daily, t("recon.estimated"), t("recon.billed"), ctx.symbol), width="stretch"
)
table(
    where=chart_tab,
    data=shown_daily,
    hide_index=True,
    width="stretch",
    column_config={
        "day": t("recon.col.day"),
        "estimated_usd": money_column(t("recon.col.estimated"), ctx.currency),
        "billed_usd": money_column(t("recon.col.billed"), ctx.currency),
    },
)
table(
    where=causes_tab,
    data=floats(in_currency(causes, ["amount_usd"], ctx.rate)).assign(
        cause=causes["cause"].map(cause_label), project=causes["project"].replace("", t("recon.default_project"))
    ),
    hide_index=True,
    width="stretch",
    column_config={
        "day": t("recon.col.day"),
        "provider": t("recon.col.provider"),
        "project": t("recon.col.project"),
        "cause": t("recon.col.cause"),
        "model": t("recon.col.model"),
        "amount_usd": money_column(t("recon.col.amount"), ctx.currency),
        "share_pct": st.column_config.NumberColumn(t("recon.col.share"), format="%.0f%%"),
    },
)
shown = floats(in_currency(rows, ["estimated_usd", "billed_usd"], ctx.rate)).assign(
    project=rows["project"].replace("", t("recon.default_project"))
)
table(
    where=table_tab,
    data=shown,
    hide_index=True,
    width="stretch",
    column_config={
        "day": t("recon.col.day"),
        "provider": t("recon.col.provider"),
        "project": t("recon.col.project"),
        "estimated_usd": money_column(t("recon.col.estimated"), ctx.currency),
        "billed_usd": money_column(t("recon.col.billed"), ctx.currency),
        "drift_pct": st.column_config.NumberColumn(t("recon.col.drift"), format="%+.2f%%"),
    },
)
