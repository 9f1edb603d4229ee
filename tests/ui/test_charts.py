"""Chart factories: a project keeps its colour whatever the period, Chinese day ticks."""

import pandas as pd
import streamlit as st

from ui.charts import PALETTE, color_for, daily_spend, stacked_spend


def colours(fig) -> dict[str, str]:
    return {trace.name: trace.marker.color for trace in fig.data}


def test_a_project_keeps_its_colour_when_the_ranking_changes():
    october = pd.DataFrame({"day": ["10-01"] * 3, "project": ["web", "api", "rag"], "cost_usd": [30.0, 20.0, 10.0]})
    november = pd.DataFrame({"day": ["11-01"] * 2, "project": ["rag", "web"], "cost_usd": [50.0, 1.0]})
    first = colours(stacked_spend(october, "day", "cost_usd", "project"))
    second = colours(stacked_spend(november, "day", "cost_usd", "project"))
    assert first["web"] == second["web"] == color_for("web") and first["rag"] == second["rag"]
    assert set(first.values()) <= set(PALETTE)


def test_day_ticks_follow_the_language(monkeypatch):
    daily = pd.DataFrame({"day": pd.to_datetime(["2026-11-12", "2026-11-13"]), "cost_usd": [1.0, 2.0]})
    assert daily_spend(daily).layout.xaxis.tickformat == "%b %d"
    monkeypatch.setattr(st, "session_state", {"lang": "zh"})
    fig = daily_spend(daily)
    assert fig.layout.xaxis.tickformat == "%m月%d日" and "%m月%d日" in fig.data[0].hovertemplate
