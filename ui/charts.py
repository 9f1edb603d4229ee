"""Plotly figure factories with one consistent look (the `spendsight` template, one palette).

Factories take plain DataFrames whose money columns are already in the display currency and a
currency symbol for the axis, so every chart reads `$1,234.56` or `¥8,765.43` like the tables. Every
word a chart shows (axis titles, legend entries, annotations) comes from the i18n strings, and day
ticks are written as the reader's language writes them; tests/ui/test_chart_words.py renders each
factory in Chinese to hold them to it.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import plotly.io as pio

from ui.format import short_day
from ui.i18n import lang, t

PALETTE = ["#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899", "#84cc16", "#64748b"]
OTHER_COLOR = "#cbd5e1"
# Series colours for projects and models: ours first, then plotly's 26-colour Alphabet (a kept
# qualitative palette) without its two pale tints that read as OTHER_COLOR's grey on a white chart.
SERIES = PALETTE + [c.lower() for c in px.colors.qualitative.Alphabet if c not in ("#E2E2E2", "#F7E1A0")]
TEMPLATE = "spendsight"
FONT = "Inter, -apple-system, 'Segoe UI', 'PingFang SC', 'Microsoft YaHei', sans-serif"

_template = go.layout.Template(pio.templates["plotly_white"])
_template.layout.update(
    font=dict(family=FONT, size=13, color="#0f172a"),
    colorway=PALETTE,
    hoverlabel=dict(font=dict(family=FONT)),
    bargap=0.25,
)
pio.templates[TEMPLATE] = _template


# Day ticks and hovers as each language writes them (plotly's own month names are English only).
DAY_FORMATS = {"en": "%b %d", "zh": "%m月%d日"}
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")


def slot_colors(names: Sequence[str]) -> dict[str, str]:
    """Each of an org's projects (or models...) in a stable order (models.spend.explore.first_seen) ->
    its own colour, the n-th name the n-th of SERIES: distinct within the org up to len(SERIES) names
    and the same in every period, since the order is not the period's. Names past the palette (and
    names the order lacks) get color_for's hash."""
    return {name: SERIES[i] for i, name in enumerate(names[: len(SERIES)])}


def color_for(name: str, colors: Mapping[str, str] | None = None) -> str:
    """The colour of a project or model on every chart and in every period: its slot in `colors`
    (slot_colors) when it has one, else a hash of its name picks from SERIES, which does not move
    when the ranking (or the period) changes but can give two names one colour."""
    if colors and name in colors:
        return colors[name]
    return SERIES[zlib.crc32(name.encode("utf-8")) % len(SERIES)]


def day_format() -> str:
    return DAY_FORMATS.get(lang(), DAY_FORMATS["en"])


def _has_days(fig: go.Figure) -> bool:
    for trace in fig.data:
        xs = getattr(trace, "x", None)
        if xs is not None and len(xs):
            first = xs[0]
            return hasattr(first, "year") or bool(_ISO_DAY.match(str(first)))
    return False


def _style(fig: go.Figure, money_axis: bool = True, height: int = 320, symbol: str = "$") -> go.Figure:
    fig.update_layout(
        template=TEMPLATE,
        height=height,
        margin=dict(l=10, r=10, t=30, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0, title=None),
        colorway=PALETTE,
        hovermode="x unified",
    )
    if money_axis:
        fig.update_yaxes(tickprefix=symbol, tickformat=",.2f", title=None)
    fig.update_xaxes(title=None)
    if _has_days(fig):
        fig.update_xaxes(tickformat=day_format())
    return fig


def daily_spend(daily: pd.DataFrame, symbol: str = "$", label: str | None = None) -> go.Figure:
    label = label or t("common.cost")
    fig = px.bar(daily, x="day", y="cost_usd", labels={"cost_usd": label, "day": ""}, color_discrete_sequence=PALETTE)
    fig.update_traces(hovertemplate=f"%{{x|{day_format()}}}: {symbol}%{{y:,.2f}}<extra></extra>")
    return _style(fig, symbol=symbol)


def share_bar(frame: pd.DataFrame, label: str, symbol: str = "$", value: str = "cost_usd") -> go.Figure:
    """Horizontal bars, largest on top."""
    fig = px.bar(frame.iloc[::-1], x=value, y=label, orientation="h", color_discrete_sequence=PALETTE)
    fig.update_traces(hovertemplate=f"%{{y}}: {symbol}%{{x:,.2f}}<extra></extra>")
    fig = _style(fig, money_axis=False, height=max(200, 40 * len(frame) + 60))
    fig.update_xaxes(tickprefix=symbol, tickformat=",.0f")
    fig.update_yaxes(title=None, type="category")
    fig.update_layout(hovermode="closest")
    return fig


def stacked_spend(
    frame: pd.DataFrame,
    x: str,
    y: str,
    color: str | None,
    symbol: str = "$",
    top: int = 8,
    other: str | None = None,
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """Stacked bars of spend over time, one colour per group (the largest `top`, the rest as `other`),
    each group's from `colors` (slot_colors of the org's names) or else color_for's hash.

    The x axis is a category axis (one bar per period, no gaps), where plotly's date formats do not
    apply: day periods ("2026-11-12") are written out as the reader's language writes a day."""
    other = other or t("common.other")
    frame = frame.copy()
    periods = [str(p) for p in pd.unique(frame[x])]
    if periods and all(_ISO_DAY.fullmatch(p) for p in periods):
        days = {p: short_day(p, lang()) for p in periods}
        frame[x] = frame[x].astype(str).map(days)
    if color:
        frame[color] = frame[color].astype(str)
        totals = frame.groupby(color)[y].sum().sort_values(ascending=False)
        keep = list(totals.index[:top])
        if len(totals) > top:
            frame[color] = frame[color].where(frame[color].isin(keep), other)
            # (a DataFrame with as_index=False, where pandas-stubs say Series)
            frame = frame.groupby([x, color], as_index=False)[y].sum()  # type: ignore[assignment]
            keep.append(other)
        palette = {name: color_for(name, colors) for name in keep}
        palette[other] = OTHER_COLOR
        fig = px.bar(frame, x=x, y=y, color=color, category_orders={color: keep}, color_discrete_map=palette)
    else:
        fig = px.bar(frame, x=x, y=y, color_discrete_sequence=PALETTE)
    fig.update_traces(hovertemplate=f"%{{fullData.name}}: {symbol}%{{y:,.2f}}<extra></extra>")
    fig = _style(fig, symbol=symbol, height=360)
    fig.update_layout(barmode="stack")
    fig.update_xaxes(type="category")
    return fig


def cost_bars(
    frame: pd.DataFrame,
    label: str,
    value: str,
    highlight: str | None = None,
    symbol: str = "$",
    highlight_name: str | None = None,
    other_name: str | None = None,
) -> go.Figure:
    """Horizontal bars of cost per model, cheapest on top; rows where `highlight` is true stand out."""
    highlight_name = highlight_name or t("compare.reprice.current")
    other_name = other_name or t("compare.reprice.candidate")
    frame = frame.sort_values(value, ascending=False)
    if highlight:
        kind = frame[highlight].map({True: highlight_name, False: other_name})
        fig = px.bar(
            frame.assign(kind=kind),
            x=value,
            y=label,
            orientation="h",
            color="kind",
            color_discrete_map={highlight_name: PALETTE[1], other_name: PALETTE[0]},
        )
    else:
        fig = px.bar(frame, x=value, y=label, orientation="h", color_discrete_sequence=PALETTE)
    fig.update_traces(hovertemplate=f"%{{y}}: {symbol}%{{x:,.2f}}<extra></extra>")
    fig = _style(fig, money_axis=False, height=max(220, 28 * len(frame) + 80))
    fig.update_xaxes(tickprefix=symbol, tickformat=",.2f")
    fig.update_yaxes(title=None, type="category")
    fig.update_layout(hovermode="closest")
    return fig


def frontier(
    frame: pd.DataFrame,
    cost: str,
    score: str,
    label: str,
    dominated: str,
    symbol: str = "$",
    frontier_name: str | None = None,
    dominated_name: str | None = None,
    x_title: str | None = None,
    y_title: str | None = None,
) -> go.Figure:
    """Cost (x) against quality (y); the non-dominated models joined by a line; axes titled."""
    frontier_name = frontier_name or t("compare.quality.frontier")
    dominated_name = dominated_name or t("compare.quality.dominated")
    x_title = x_title or t("compare.quality.x", currency=symbol, choices=1)
    y_title = y_title or t("compare.quality.y")
    kind = frame[dominated].map({True: dominated_name, False: frontier_name})
    fig = px.scatter(
        frame.assign(kind=kind),
        x=cost,
        y=score,
        color="kind",
        text=label,
        color_discrete_map={frontier_name: PALETTE[2], dominated_name: "#94a3b8"},
    )
    fig.update_traces(
        textposition="top center",
        marker=dict(size=11),
        hovertemplate=f"%{{text}}<br>{symbol}%{{x:,.4f}} · %{{y}}<extra></extra>",
    )
    line = frame[~frame[dominated]].sort_values(cost)
    fig.add_trace(
        go.Scatter(
            x=line[cost],
            y=line[score],
            mode="lines",
            showlegend=False,
            line=dict(color=PALETTE[2], dash="dot"),
            hoverinfo="skip",
        )
    )
    fig = _style(fig, money_axis=False, height=420)
    fig.update_xaxes(tickprefix=symbol, title=x_title)
    fig.update_yaxes(title=y_title)
    fig.update_layout(hovermode="closest")
    return fig
