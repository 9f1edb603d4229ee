"""Plotly figure factories with one consistent look."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

PALETTE = ["#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899", "#84cc16", "#64748b"]
TEMPLATE = "plotly_white"


def _style(fig: go.Figure, money_axis: bool = True, height: int = 320) -> go.Figure:
    fig.update_layout(
        template=TEMPLATE, height=height, margin=dict(l=10, r=10, t=30, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0), colorway=PALETTE,
        hovermode="x unified",
    )
    if money_axis:
        fig.update_yaxes(tickprefix="$", tickformat=",.2f", title=None)
    fig.update_xaxes(title=None)
    return fig


def daily_spend(daily: pd.DataFrame) -> go.Figure:
    fig = px.bar(daily, x="day", y="cost_usd", labels={"cost_usd": "Spend", "day": "Day"},
                 color_discrete_sequence=PALETTE)
    fig.update_traces(hovertemplate="%{x|%b %d}: $%{y:,.2f}<extra></extra>")
    return _style(fig)


def share_bar(frame: pd.DataFrame, label: str) -> go.Figure:
    fig = px.bar(frame.iloc[::-1], x="cost_usd", y=label, orientation="h", color_discrete_sequence=PALETTE)
    fig.update_traces(hovertemplate="%{y}: $%{x:,.2f}<extra></extra>")
    fig = _style(fig, money_axis=False, height=max(200, 40 * len(frame) + 60))
    fig.update_xaxes(tickprefix="$", tickformat=",.0f")
    fig.update_yaxes(title=None)
    fig.update_layout(hovermode="closest")
    return fig
