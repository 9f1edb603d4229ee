"""Chart factories for the Reconciliation page (the look of ui/charts.py: its template and palette)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from ui.charts import PALETTE, _style


def estimated_vs_billed(daily: pd.DataFrame, estimated: str, billed: str, symbol: str = "$") -> go.Figure:
    """Bars per day: our estimate beside the provider's bill (money columns already in display units)."""
    fig = go.Figure()
    fig.add_bar(
        x=daily["day"],
        y=daily["estimated_usd"],
        name=estimated,
        marker_color=PALETTE[0],
        hovertemplate=f"{estimated}: {symbol}%{{y:,.2f}}<extra></extra>",
    )
    fig.add_bar(
        x=daily["day"],
        y=daily["billed_usd"],
        name=billed,
        marker_color=PALETTE[1],
        hovertemplate=f"{billed}: {symbol}%{{y:,.2f}}<extra></extra>",
    )
    fig = _style(fig, symbol=symbol)  # the template, and day ticks in the reader's language
    fig.update_layout(barmode="group")
    return fig
