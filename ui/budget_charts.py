"""Forecast fan chart: month-to-date spend, the p10-p90 band and p50 to month end, limit lines and
the days they are crossed. Amounts come in already converted to the display currency."""

from __future__ import annotations

from datetime import date

import pandas as pd
import plotly.graph_objects as go

from ui.charts import PALETTE, _style
from ui.format import short_day
from ui.i18n import lang

BAND = "rgba(37, 99, 235, 0.16)"
SOFT_COLOR = "#f59e0b"
HARD_COLOR = "#ef4444"


def fan_chart(
    days: pd.DataFrame,
    labels: dict[str, str],
    soft: float | None = None,
    hard: float | None = None,
    soft_cross: date | None = None,
    hard_cross: date | None = None,
    symbol: str = "$",
) -> go.Figure:
    """`days` has day, actual, p10, p50, p90 (cumulative, display units; None where not applicable).

    `labels` names the traces: actual, band, p50, soft, hard, crossed.
    """
    money = f"{symbol}%{{y:,.2f}}"
    fig = go.Figure()
    fan = days.dropna(subset=["p50"])
    if not fan.empty:
        fig.add_trace(
            go.Scatter(
                x=fan["day"],
                y=fan["p90"],
                mode="lines",
                line=dict(width=0),
                showlegend=False,
                hovertemplate=f"p90 {money}<extra></extra>",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=fan["day"],
                y=fan["p10"],
                mode="lines",
                line=dict(width=0),
                fill="tonexty",
                fillcolor=BAND,
                name=labels["band"],
                hovertemplate=f"p10 {money}<extra></extra>",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=fan["day"],
                y=fan["p50"],
                mode="lines",
                name=labels["p50"],
                line=dict(color=PALETTE[0], dash="dash", width=2),
                hovertemplate=f"p50 {money}<extra></extra>",
            )
        )
    actual = days.dropna(subset=["actual"])
    fig.add_trace(
        go.Scatter(
            x=actual["day"],
            y=actual["actual"],
            mode="lines+markers",
            name=labels["actual"],
            line=dict(color="#0f172a", width=2.5),
            marker=dict(size=4),
            hovertemplate=f"{money}<extra></extra>",
        )
    )
    for value, crossed, color, key in ((soft, soft_cross, SOFT_COLOR, "soft"), (hard, hard_cross, HARD_COLOR, "hard")):
        if value is None:
            continue
        fig.add_hline(
            y=value,
            line=dict(color=color, dash="dot", width=1.5),
            annotation_text=f"{labels[key]} {symbol}{value:,.0f}",
            annotation_position="top left",
            annotation_font_color=color,
        )
        if crossed is not None:
            fig.add_vline(
                x=pd.Timestamp(crossed).timestamp() * 1000,
                line=dict(color=color, width=1),
                annotation_text=f"{labels['crossed']} {short_day(crossed, lang())}",
                annotation_position="bottom right",
                annotation_font_color=color,
            )
    fig = _style(fig, symbol=symbol, height=380)
    top = max([v for v in (soft, hard) if v is not None] + [float(days[["p90", "actual"]].max().max() or 0)])
    fig.update_yaxes(range=[0, top * 1.08 if top > 0 else 1], tickformat=",.0f")
    fig.update_xaxes(range=[days["day"].min(), days["day"].max()])
    return fig


def track_chart(months: pd.DataFrame, labels: dict[str, str]) -> go.Figure:
    """Per past month, how far p50 and the run-rate were from the actual total (mean absolute error
    over the as-of days, percent), the band's hits in the hover. `labels`: p50, run_rate, held."""
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=months["month"],
            y=months["p50"],
            name=labels["p50"],
            marker_color=PALETTE[0],
            customdata=months[["held", "runs"]],
            hovertemplate=f"%{{y:.1f}}%<br>{labels['held']} %{{customdata[0]}}/%{{customdata[1]}}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Bar(
            x=months["month"],
            y=months["run_rate"],
            name=labels["run_rate"],
            marker_color="#94a3b8",
            hovertemplate="%{y:.1f}%<extra></extra>",
        )
    )
    fig = _style(fig, money_axis=False, height=280)
    fig.update_layout(barmode="group")
    fig.update_yaxes(ticksuffix="%", rangemode="tozero")
    fig.update_xaxes(type="category")
    return fig
