"""Spend explorer: period, organizations, filters and grouping; chart, table with totals, exports."""

from datetime import UTC, datetime, timedelta

import streamlit as st

from models.spend.explore import (
    DIMENSIONS,
    GRAINS,
    PRESETS,
    display_frame,
    period,
    to_csv,
    to_excel,
)
from ui import charts
from ui.format import (
    explained,
    floats,
    in_currency,
    money_column,
    number,
    rate_words,
    table,
    today_in,
    tokens,
    unpriced_costs,
)
from ui.format import money as format_money
from ui.i18n import t
from ui.layout import change_delta
from ui.page import page_header
from ui.queries import day_rate, dimension_choices, explore_data

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
rate = day_rate(ctx.currency, min(last, today))


def money(amount) -> str:
    return format_money(amount, ctx.currency, rate.rate)


if ctx.currency != "USD":
    st.caption(t("closing.rate", currency=ctx.currency, rate=rate_words(rate)))
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

st.markdown(f"#### {t('explore.chart', grain=t('common.' + grain).lower())}")
series = in_currency(result.series, ("cost_usd",), rate.rate).rename(
    columns={"period": t(f"common.{grain}"), "group": t(f"common.{group_by[0]}") if group_by else "group"}
)
chart_tab, data_tab = st.tabs([t("common.chart"), t("common.table")])
chart_tab.plotly_chart(
    charts.stacked_spend(
        series,
        t(f"common.{grain}"),
        "cost_usd",
        series.columns[1] if group_by else None,
        ctx.symbol,
        other=t("common.other"),
    ),
    width="stretch",
)
cost_label = f"{t('common.cost')} ({ctx.currency})"
table(
    where=data_tab,
    data=series if group_by else series.drop(columns=series.columns[1]),
    hide_index=True,
    width="stretch",
    column_config={"cost_usd": money_column(cost_label, ctx.currency)},
)

labels = (
    {d: t(f"common.{d}") for d in (*DIMENSIONS, *GRAINS)}
    | {
        c: t(f"common.{c}")
        for c in (
            "requests",
            "input_tokens",
            "cached_input_tokens",
            "cache_write_tokens",
            "output_tokens",
            "unpriced_requests",
            "unpriced_tokens",
        )
    }
    | {
        "cost_usd": t("explore.col.cost", currency=ctx.currency),
        "prev_cost_usd": t("explore.col.prev", currency=ctx.currency),
        "delta_usd": t("explore.col.delta", currency=ctx.currency),
        "delta_pct": t("explore.col.delta_pct"),
        "billed_usd": t("explore.col.billed", currency=ctx.currency),
    }
)
money_cols = {labels[c]: money_column(labels[c], ctx.currency) for c in ("prev_cost_usd", "delta_usd", "billed_usd")}
config = explained(
    money_cols | {labels["delta_pct"]: st.column_config.NumberColumn(labels["delta_pct"], format="percent")},
    {labels["cached_input_tokens"]: "cached_input", labels["cache_write_tokens"]: "cache_writes"},
)
shown = display_frame(result, rate.rate, labels, empty=t("common.none"))
exported = display_frame(result, rate.rate, labels, empty=t("common.none"), total=t("common.total"), cents=True)
percents = [labels["delta_pct"]]  # ratios: 12.5% in the CSV, 0.0% in Excel

st.markdown(f"#### {t('explore.table')}")
# The cost cell says what had no price ("unpriced (N tokens)"), not $0.00.
table(unpriced_costs(floats(shown), labels["cost_usd"], labels["unpriced_tokens"], ctx.currency), column_config=config)
st.caption(t("explore.totals"))
totals = floats(exported.tail(1))
table(unpriced_costs(totals, labels["cost_usd"], labels["unpriced_tokens"], ctx.currency), column_config=config)
if result.billed_note:
    st.caption(t("explore.billed_note", dim=t(f"common.{result.billed_note}")))
if split:
    st.caption(t("explore.split_note"))

about = [
    (t("explore.about.orgs"), ", ".join(orgs)),
    (t("explore.about.period"), f"{start} – {end}"),
    (t("explore.about.group_by"), ", ".join(labels[d] for d in group_by)),
    (t("explore.about.filters"), "; ".join(f"{labels[d]}={','.join(v)}" for d, v in filters.items() if v)),
    (t("explore.about.currency"), f"{ctx.currency} ({rate_words(rate)})"),
    (t("explore.about.generated"), datetime.now(UTC).strftime("%Y-%m-%d %H:%M")),
]
if result.previous:
    about.insert(2, (t("explore.about.previous"), f"{result.previous[0]} – {result.previous[1]}"))
name = f"{t('explore.export_name')}-{start}-{last}"
left, right, _ = st.columns([1, 1, 4])
left.download_button(
    t("common.download_csv"),
    to_csv(exported, percents),
    f"{name}.csv",
    "text/csv",
    key="ex_csv",
    width="stretch",
    on_click="ignore",
)
right.download_button(
    t("common.download_excel"),
    to_excel(exported, t("explore.title"), about, percents),
    f"{name}.xlsx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    key="ex_xlsx",
    width="stretch",
    on_click="ignore",
)
