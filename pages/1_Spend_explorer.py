"""Spend explorer: period, organizations, filters and grouping; chart, table with totals, exports."""

from datetime import timedelta

import streamlit as st

from models.spend.explore import DIMENSIONS, GRAINS, PRESETS, period
from ui import explore_view
from ui.format import number, today_in, tokens
from ui.i18n import t
from ui.layout import change_delta
from ui.page import page_header
from ui.queries import dimension_choices, explore_data

ctx = page_header("explore", needs_org=True)

today = today_in(ctx.timezone)
top = st.columns([1.1, 2.2, 2.4, 1.0])
preset = top[0].selectbox(t("explore.period"), PRESETS, format_func=lambda p: t(f"explore.preset.{p}"), key="ex_preset")
org_ids = [o["id"] for o in ctx.orgs]
orgs = top[1].multiselect(t("explore.orgs"), org_ids, default=[ctx.org_id], format_func=ctx.org_label, key="ex_orgs")
group_by = top[2].multiselect(
    t("explore.group_by"), DIMENSIONS, default=["project"], format_func=lambda d: t(f"common.{d}"), key="ex_by"
)
custom = (None, None)
if preset == "custom":
    picked = st.columns([2, 5])[0].date_input(
        t("explore.custom"), value=(today - timedelta(days=29), today), max_value=today, key="ex_custom"
    )
    if not isinstance(picked, tuple) or len(picked) != 2:
        st.info(t("explore.custom_pick"))
        st.stop()
    custom = picked
start, end = period(preset, today, *custom)
grain = top[3].selectbox(
    t("explore.grain"),
    GRAINS,
    index=0 if (end - start).days <= 62 else 1,
    format_func=lambda g: t(f"common.{g}"),
    key="ex_grain",
)
if not orgs:
    st.info(t("explore.orgs_empty"))
    st.stop()

choices = dimension_choices(tuple(orgs), start, end)
active = sum(1 for d in choices if st.session_state.get(f"ex_f_{d}"))
with st.expander(t("explore.filters_active", n=active) if active else t("explore.filters")):
    columns = st.columns(len(choices))
    filters = {}
    for column, (dim, options) in zip(columns, choices.items()):
        key = f"ex_f_{dim}"
        if key in st.session_state:  # a value from another period may no longer exist
            st.session_state[key] = [v for v in st.session_state[key] if v in options]
        filters[dim] = column.multiselect(
            t(f"common.{dim}"), options, key=key, format_func=lambda v: v or t("common.none")
        )
split = st.toggle(t("explore.split", grain=t(f"common.{grain}").lower()), key="ex_split")

result = explore_data(
    tuple(orgs), start, end, tuple(group_by), grain, tuple((d, tuple(v)) for d, v in filters.items() if v), split
)
last = end - timedelta(days=1)
# Dated display rates: the period's figures use the rate in force on its last day (today's for a
# period still running), as a month's statement does, and say which.
ctx = ctx.at(min(last, today))
money = ctx.money
ctx.rate_note()
if result.previous:
    st.caption(
        t(
            "explore.range",
            start=start,
            last=last,
            pstart=result.previous[0],
            plast=result.previous[1] - timedelta(days=1),
        )
    )

metrics = st.columns(4)
metrics[0].metric(
    t("explore.total"),
    money(result.total_cost),
    border=True,
    **change_delta(result.total_cost, result.previous_cost, money, t("explore.no_previous")),
    help=t("explore.previous"),
)
metrics[1].metric(t("explore.requests"), number(result.total_requests), border=True)
metrics[2].metric(t("explore.tokens"), tokens(result.total_tokens), border=True)
if result.billed_total is not None:
    metrics[3].metric(t("explore.billed"), money(result.billed_total), border=True)
if result.unpriced_requests:
    st.warning(t("explore.unpriced", n=number(result.unpriced_requests)))

if result.table.empty:
    st.info(t("explore.empty"))
    st.stop()

explore_view.chart(result, ctx, orgs, grain, group_by)
explore_view.tables_and_downloads(result, ctx, orgs, (start, end, last), group_by, filters, split)
