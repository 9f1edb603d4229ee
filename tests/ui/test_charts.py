"""Chart factories: a project keeps its colour whatever the period, its own within the org, Chinese day ticks."""

import pandas as pd
import streamlit as st

from ui.charts import PALETTE, SERIES, color_for, daily_spend, slot_colors, stacked_spend


def colours(fig) -> dict[str, str]:
    return {trace.name: trace.marker.color for trace in fig.data}


def test_a_project_keeps_its_colour_when_the_ranking_changes():
    october = pd.DataFrame({"day": ["10-01"] * 3, "project": ["web", "api", "rag"], "cost_usd": [30.0, 20.0, 10.0]})
    november = pd.DataFrame({"day": ["11-01"] * 2, "project": ["rag", "web"], "cost_usd": [50.0, 1.0]})
    first = colours(stacked_spend(october, "day", "cost_usd", "project"))
    second = colours(stacked_spend(november, "day", "cost_usd", "project"))
    assert first["web"] == second["web"] == color_for("web") and first["rag"] == second["rag"]
    assert set(first.values()) <= set(SERIES)


def test_slots_give_each_of_the_orgs_names_its_own_colour_in_every_period():
    # A slot each, in the org's first-seen order (hashed over 9 colours these two shared one blue).
    names = ["chat-assistant", "search-rag", "batch-summaries", "support-triage", "code-review"]
    slots = slot_colors(names)
    october = pd.DataFrame(
        {"day": ["10-01"] * 2, "project": ["support-triage", "batch-summaries"], "cost_usd": [3.0, 2.0]}
    )
    november = pd.DataFrame(
        {
            "day": ["11-01"] * 3,
            "project": ["code-review", "batch-summaries", "support-triage"],
            "cost_usd": [9.0, 5.0, 1.0],
        }
    )
    first = colours(stacked_spend(october, "day", "cost_usd", "project", colors=slots))
    second = colours(stacked_spend(november, "day", "cost_usd", "project", colors=slots))
    assert first["support-triage"] == second["support-triage"] == PALETTE[3]
    assert first["batch-summaries"] == second["batch-summaries"] == PALETTE[2]
    assert len(set(second.values())) == 3
    # Past the palette a name falls back to its hash; the palette holds our 9 and plotly's Alphabet.
    many = slot_colors([f"p{i}" for i in range(len(SERIES) + 1)])
    assert len(SERIES) == len(set(SERIES)) == 33 and len(many) == len(SERIES) and "p33" not in many
    assert color_for("p33", many) == color_for("p33")


def test_day_ticks_follow_the_language(monkeypatch):
    daily = pd.DataFrame({"day": pd.to_datetime(["2026-11-12", "2026-11-13"]), "cost_usd": [1.0, 2.0]})
    assert daily_spend(daily).layout.xaxis.tickformat == "%b %d"
    monkeypatch.setattr(st, "session_state", {"lang": "zh"})
    fig = daily_spend(daily)
    assert fig.layout.xaxis.tickformat == "%m月%d日" and "%m月%d日" in fig.data[0].hovertemplate
