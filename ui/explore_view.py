"""The Spend explorer's chart, tables and downloads for one result (models.spend.explore.Explore):
money at the rate `ctx` carries (the period's last day's, see PageContext.at), cost cells that say
what had no price, counts with separators, and CSV/XLSX exports with the page's column names."""

from __future__ import annotations

from datetime import UTC, date, datetime

import streamlit as st

from models.spend.explore import DIMENSIONS, GRAINS, Explore, display_frame, to_csv, to_excel
from ui import charts
from ui.format import explained, floats, in_currency, money_column, rate_words, table, unpriced_costs
from ui.i18n import t
from ui.queries import series_colors
from ui.sidebar import PageContext


def chart(result: Explore, ctx: PageContext, orgs: list[str], grain: str, group_by: list[str]) -> None:
    """Spend per day/week/month, stacked by the first grouping (each value in its org-wide colour),
    with its data in a second tab."""
    st.markdown(f"#### {t('explore.chart', grain=t('common.' + grain).lower())}")
    series = in_currency(result.series, ("cost_usd",), ctx.rate).rename(
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
            colors=series_colors(tuple(orgs), group_by[0]) if group_by else None,
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


def labels(currency: str) -> dict[str, str]:
    """The table's and the exports' column names."""
    return (
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
            "cost_usd": t("explore.col.cost", currency=currency),
            "prev_cost_usd": t("explore.col.prev", currency=currency),
            "delta_usd": t("explore.col.delta", currency=currency),
            "delta_pct": t("explore.col.delta_pct"),
            "billed_usd": t("explore.col.billed", currency=currency),
        }
    )


def tables_and_downloads(
    result: Explore,
    ctx: PageContext,
    orgs: list[str],
    period: tuple[date, date, date],
    group_by: list[str],
    filters: dict[str, list[str]],
    split: bool,
) -> None:
    """The grouped table, its totals row, and the CSV and Excel downloads (with an About sheet)."""
    start, end, last = period
    names = labels(ctx.currency)
    money_cols = {names[c]: money_column(names[c], ctx.currency) for c in ("prev_cost_usd", "delta_usd", "billed_usd")}
    config = explained(
        money_cols | {names["delta_pct"]: st.column_config.NumberColumn(names["delta_pct"], format="percent")},
        {names["cached_input_tokens"]: "cached_input", names["cache_write_tokens"]: "cache_writes"},
    )
    shown = display_frame(result, ctx.rate, names, empty=t("common.none"))
    exported = display_frame(result, ctx.rate, names, empty=t("common.none"), total=t("common.total"), cents=True)
    percents = [names["delta_pct"]]  # ratios: 12.5% in the CSV, 0.0% in Excel

    st.markdown(f"#### {t('explore.table')}")
    # The cost cell says what had no price ("unpriced (N tokens)"), not $0.00.
    cost, unpriced = names["cost_usd"], names["unpriced_tokens"]
    table(unpriced_costs(floats(shown), cost, unpriced, ctx.currency), column_config=config)
    st.caption(t("explore.totals"))
    totals = floats(exported.tail(1))
    table(unpriced_costs(totals, cost, unpriced, ctx.currency), column_config=config)
    if result.billed_note:
        st.caption(t("explore.billed_note", dim=t(f"common.{result.billed_note}")))
    if split:
        st.caption(t("explore.split_note"))

    about = [
        (t("explore.about.orgs"), ", ".join(orgs)),
        (t("explore.about.period"), f"{start} – {end}"),
        (t("explore.about.group_by"), ", ".join(names[d] for d in group_by)),
        (t("explore.about.filters"), "; ".join(f"{names[d]}={','.join(v)}" for d, v in filters.items() if v)),
        (t("explore.about.currency"), f"{ctx.currency} ({rate_words(ctx.fx)})"),
        (t("explore.about.generated"), datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
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
