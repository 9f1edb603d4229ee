"""What the Statement page draws below its cards: the two breakdowns, the detail, the downloads and
the history of a closed month. Money is in the display currency at the month's own rate (`ctx` is
the page's context moved to that rate with `PageContext.at`)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from models.budgets.snapshots import Version
from models.budgets.statement import Statement, render_html
from models.budgets.statement_export import statement_csv, statement_xlsx
from ui import charts
from ui.format import (
    floats,
    in_currency,
    money_column,
    number,
    percent,
    table,
    unpriced_costs,
    unpriced_words,
    zoned,
)
from ui.i18n import t
from ui.sidebar import PageContext

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
COUNTS = ("requests", "input_tokens", "output_tokens", "unpriced_tokens")


def labels(currency: str) -> dict[str, str]:
    """The tables' column names, the same on the page and in the downloads."""
    return {
        "project": t("common.project"),
        "model": t("common.model"),
        "provider": t("common.provider"),
        "requests": t("common.requests"),
        "input_tokens": t("common.input_tokens"),
        "output_tokens": t("common.output_tokens"),
        "unpriced_tokens": t("common.unpriced_tokens"),
        "cost_usd": f"{t('common.cost')} ({currency})",
        "prev_cost_usd": f"{t('statement.previous')} ({currency})",
        "delta_pct": t("statement.change"),
        "share": t("statement.share"),
    }


def _shown(frame: pd.DataFrame, ctx: PageContext, names: dict[str, str]):
    """A statement table for the page: money in display units, a dash for no project, column names
    in the reader's language, and cost cells that say "unpriced (N tokens)" rather than $0.00."""
    first = frame.columns[0]
    frame = frame.assign(**{first: frame[first].replace("", t("common.none"))})
    shown = floats(in_currency(frame, ("cost_usd", "prev_cost_usd"), ctx.rate)).rename(columns=names)
    return unpriced_costs(shown, names["cost_usd"], names["unpriced_tokens"], ctx.currency)


def _config(names: dict[str, str], currency: str) -> dict:
    # The cost column has no format of its own: its styler's text ("unpriced (…)") shows only then.
    return {names["prev_cost_usd"]: money_column(names["prev_cost_usd"], currency)} | {
        names[c]: st.column_config.NumberColumn(names[c], format="percent") for c in ("delta_pct", "share")
    }


def breakdowns(s: Statement, ctx: PageContext) -> None:
    """By project and by model (chart and table side by side), then the project x model detail."""
    names = labels(ctx.currency)
    left, right = st.columns(2)
    for where, title, frame, label in (
        (left, t("statement.by_project"), s.by_project, "project"),
        (right, t("statement.by_model"), s.by_model, "model"),
    ):
        with where:
            st.markdown(f"#### {title}")
            chart_tab, table_tab = st.tabs([t("common.chart"), t("common.table")])
            bars = floats(in_currency(frame, ("cost_usd",), ctx.rate)).head(12)
            bars[label] = bars[label].replace("", t("common.none"))
            chart_tab.plotly_chart(charts.share_bar(bars, label, ctx.symbol), width="stretch")
            table(where=table_tab, data=_shown(frame, ctx, names), column_config=_config(names, ctx.currency))
    with st.expander(t("statement.detail")):
        table(_shown(s.by_project_model, ctx, names), column_config=_config(names, ctx.currency))


def summary(s: Statement, ctx: PageContext, balance) -> list[tuple[str, str]]:
    """The summary lines of the downloads: spend, credits, billable, limits, balance and bill."""
    bill = s.billing

    def limit(value) -> str:
        return ctx.money(value) if value is not None else t("statement.not_set")

    rows = [
        (t("statement.spend"), ctx.money(s.total)),
        (t("statement.previous"), ctx.money(s.previous_total)),
        (t("statement.credits"), ctx.money(bill["credits_applied_usd"])),
        (t("statement.billable"), ctx.money(bill["billable_usd"])),
        (t("statement.soft"), limit(bill.get("soft_limit_usd"))),
        (t("statement.hard"), limit(bill.get("hard_limit_usd"))),
    ]
    if balance is not None:
        rows.append((t("statement.credit_balance"), ctx.money(balance)))
    if s.billed is not None:
        rows.append((t("statement.billed"), ctx.money(s.billed)))
    return rows


def downloads(s: Statement, ctx: PageContext, lines: list[tuple[str, str]]) -> None:
    """The printable HTML, the CSV and the spreadsheet, all at the month's rate."""
    page_words = ("title", "period", "generated", "summary", "by_project", "by_model", "previous", "change", "share")
    words = {k: t(f"statement.{k}") for k in page_words} | {
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
    html = render_html(s, words, ctx.money, number, percent, lines, notes, ctx.lang, t("common.none"), unpriced_words)
    names, none, total = labels(ctx.currency), t("common.none"), t("common.total")
    sheets = {k: t(f"closing.sheet_{v}") for k, v in (("by_project", "project"), ("by_model", "model"))} | {
        "by_project_model": t("closing.sheet_detail")
    }
    name = f"{t('statement.file')}-{s.org_id}-{s.label}"
    a, b, c, _ = st.columns([1.3, 1, 1, 2])
    _download(a, t("statement.download_html"), html, f"{name}.html", "text/html", primary=True)
    _download(b, t("common.download_csv"), statement_csv(s, names, ctx.rate, none, total), f"{name}.csv", "text/csv")
    xlsx = statement_xlsx(s, names, ctx.rate, none, total, sheets, lines)
    _download(c, t("common.download_excel"), xlsx, f"{name}.xlsx", XLSX)


def _download(where, label: str, data: str | bytes, file: str, mime: str, primary: bool = False) -> None:
    key = "st_" + file.rsplit(".", 1)[1]  # st_html, st_csv, st_xlsx
    kind = "primary" if primary else "secondary"
    where.download_button(label, data, file, mime, key=key, type=kind, on_click="ignore", width="stretch")


def history(versions: list[Version], ctx: PageContext) -> None:
    """The close and every restatement of the month, with the difference each made."""
    zone = ZoneInfo(ctx.timezone or "UTC")
    with st.expander(t("closing.history")):
        rows = [
            {
                zoned(t("closing.col.when"), ctx.timezone): f"{v.created_at.astimezone(zone):%Y-%m-%d %H:%M}",
                t("closing.col.kind"): t("closing.kind_closed")
                if v.version == 0
                else t("closing.kind_restated", n=v.version),
                t("closing.col.spend", currency=ctx.currency): round(float(v.total_usd * ctx.rate), 2),
                t("closing.col.difference", currency=ctx.currency): round(float(v.difference_usd * ctx.rate), 2),
                t("closing.col.reason"): v.reason,
            }
            for v in versions
        ]
        table(rows)
