"""Chart factory for the Gateway page (the look of ui/charts.py: its template and palette)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from ui.charts import PALETTE, TEMPLATE


def per_minute(frame: pd.DataFrame, labels: dict[str, str]) -> go.Figure:
    """Stacked bars per minute: answered requests and each rejection reason (labels: series -> legend)."""
    fig = go.Figure()
    for i, (series, part) in enumerate(frame.groupby("series", sort=True)):
        name = labels.get(str(series), str(series))
        fig.add_bar(
            x=part["minute"],
            y=part["count"],
            name=name,
            marker_color=PALETTE[i % len(PALETTE)],
            hovertemplate=f"{name}: %{{y:,d}}<extra></extra>",
        )
    fig.update_layout(
        template=TEMPLATE,
        barmode="stack",
        height=320,
        margin=dict(l=10, r=10, t=30, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0, title=None),
        hovermode="x unified",
    )
    fig.update_yaxes(title=None, tickformat=",d")
    # Hours and minutes only: plotly's own date ticks add English month names ("Nov 30, 2026").
    fig.update_xaxes(title=None, tickformat="%H:%M")
    return fig
