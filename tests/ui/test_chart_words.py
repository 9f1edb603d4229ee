"""Every chart factory, drawn for a Chinese reader, shows no English: axis titles, legend entries,
annotations and hover words come from the i18n strings, and date ticks are written the Chinese way.

A new factory fails here until it has a sample below (so it is checked too)."""

from __future__ import annotations

import inspect
import re
from datetime import date

import pandas as pd
import pytest

from ui import budget_charts, charts, collect_charts, gateway_charts
from ui.i18n import language

MODULES = (charts, budget_charts, collect_charts, gateway_charts)
DAYS = pd.to_datetime(["2026-11-12", "2026-11-13", "2026-11-14"])
# Data in Chinese names, so any Latin word left in a chart's text came from the chart, not the data.
SAMPLES = {
    "daily_spend": lambda: charts.daily_spend(pd.DataFrame({"day": DAYS, "cost_usd": [1.0, 2.0, 3.0]}), "¥"),
    "share_bar": lambda: charts.share_bar(pd.DataFrame({"项目": ["甲", "乙"], "cost_usd": [3.0, 1.0]}), "项目", "¥"),
    "stacked_spend": lambda: charts.stacked_spend(
        pd.DataFrame({"日": DAYS.repeat(3), "组": ["甲", "乙", "丙"] * 3, "cost_usd": [1.0, 2.0, 3.0] * 3}),
        "日",
        "cost_usd",
        "组",
        "¥",
        top=2,
    ),
    "cost_bars": lambda: charts.cost_bars(
        pd.DataFrame({"模型": ["甲", "乙"], "cost_usd": [3.0, 1.0], "当前": [True, False]}),
        "模型",
        "cost_usd",
        "当前",
        "¥",
    ),
    "frontier": lambda: charts.frontier(
        pd.DataFrame(
            {"c": [1.0, 2.0, 3.0], "s": [0.5, 0.9, 0.6], "模型": ["甲", "乙", "丙"], "d": [False, False, True]}
        ),
        "c",
        "s",
        "模型",
        "d",
        "¥",
    ),
    "fan_chart": lambda: budget_charts.fan_chart(
        pd.DataFrame(
            {
                "day": DAYS,
                "actual": [1.0, 2.0, None],
                "p10": [None, 2.0, 2.5],
                "p50": [None, 2.0, 3.0],
                "p90": [None, 2.0, 3.5],
            }
        ),
        {"actual": "实际", "band": "区间", "p50": "中位", "soft": "软限额", "hard": "硬限额", "crossed": "越过"},
        soft=2.5,
        hard=3.2,
        soft_cross=date(2026, 11, 14),
        hard_cross=date(2026, 11, 14),
        symbol="¥",
    ),
    "track_chart": lambda: budget_charts.track_chart(
        pd.DataFrame(
            {"month": ["2026-09", "2026-10"], "p50": [5.0, 4.0], "run_rate": [9.0, 8.0], "held": [3, 2], "runs": [4, 4]}
        ),
        {"p50": "中位", "run_rate": "按当前速度", "held": "命中"},
    ),
    "estimated_vs_billed": lambda: collect_charts.estimated_vs_billed(
        pd.DataFrame({"day": DAYS, "estimated_usd": [1.0, 2.0, 3.0], "billed_usd": [1.1, 2.0, 2.9]}),
        "估算",
        "账单",
        "¥",
    ),
    "per_minute": lambda: gateway_charts.per_minute(
        pd.DataFrame(
            {
                "minute": pd.to_datetime(["2026-11-30 12:00", "2026-11-30 12:01"] * 2),
                "series": ["requests", "requests", "hard_limit", "hard_limit"],
                "count": [5, 6, 1, 0],
            }
        ),
        {"requests": "已应答", "hard_limit": "超出硬限额"},
    ),
}


DATE_TICKS = {
    "daily_spend": "%m月%d日",
    "fan_chart": "%m月%d日",
    "estimated_vs_billed": "%m月%d日",
    "per_minute": "%H:%M",
}


def _factories() -> set[str]:
    return {
        name
        for module in MODULES
        for name, fn in inspect.getmembers(module, inspect.isfunction)
        if fn.__module__ == module.__name__
        and not name.startswith("_")
        and "Figure" in str(fn.__annotations__.get("return"))
    }


def test_every_factory_has_a_sample():
    assert _factories() == set(SAMPLES)


def _words(fig) -> list[str]:
    """Everything a reader can read on the chart besides the data: titles, legend, annotations, hovers."""
    layout = fig.to_plotly_json()["layout"]
    found = [str((layout.get("legend") or {}).get("title", {}).get("text") or "")]
    for key, axis in layout.items():
        if key.startswith(("xaxis", "yaxis")):
            found.append(str((axis.get("title") or {}).get("text") or ""))
    found += [str(a.get("text") or "") for a in layout.get("annotations", ())]
    for trace in fig.data:
        found.append(str(trace.name or "") if trace.showlegend is not False else "")
        hover = str(getattr(trace, "hovertemplate", "") or "")
        found.append(re.sub(r"%\{[^}]*\}|<extra>.*?</extra>|<br>", " ", hover))
    return found


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_chinese_reader_sees_no_english_words(name):
    with language("zh"):
        fig = SAMPLES[name]()
    english = [w for w in _words(fig) if re.search(r"[A-Za-z]{3,}", w)]
    assert english == [], f"{name}: English left on the chart"
    if name in DATE_TICKS:  # a date axis: no plotly default ticks (English month names)
        assert fig.layout.xaxis.tickformat == DATE_TICKS[name]


def test_day_periods_on_a_category_axis_are_written_as_the_language_writes_a_day():
    frame = pd.DataFrame({"period": ["2026-11-12", "2026-11-13"], "group": ["甲", "甲"], "cost_usd": [1.0, 2.0]})
    with language("zh"):
        fig = charts.stacked_spend(frame, "period", "cost_usd", "group")
    assert list(fig.data[0].x) == ["11月12日", "11月13日"]
    assert list(charts.stacked_spend(frame, "period", "cost_usd", None).data[0].x) == ["Nov 12", "Nov 13"]
