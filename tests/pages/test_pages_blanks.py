"""Tables a non-engineer reads (issue 16): a cell without a value reads "–", never "None" or "nan";
counts (tokens, requests) carry thousands separators; a column of times names its zone."""

from __future__ import annotations

import json
import math

import pandas as pd

from tests.conftest import REPO
from tests.pageutil import run_page

PAGES = ["app.py"] + [f"pages/{p.name}" for p in sorted((REPO / "pages").glob("*.py"))]
WORDS = ("None", "nan", "NaN", "NaT")


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value) in WORDS


def test_every_table_and_card_shows_a_dash_for_no_value_on_demo_data(demo_data):
    demo_data()
    blanks = counts = times = 0
    for path in PAGES:
        at = run_page(path, user="owner@example.com", session={"org_id": "org-prod"})
        assert not at.exception, f"{path}: {at.exception}"
        for frame in at.dataframe:
            # The grid draws a missing cell as its placeholder; Streamlit's own default is "None".
            assert frame.proto.placeholder == "–", path
            cells = [v for column in frame.value.columns for v in frame.value[column].tolist()]
            blanks += sum(_blank(v) for v in cells)
            assert not [v for v in cells if isinstance(v, str) and v.strip() in WORDS], path
            config = json.loads(frame.proto.columns or "{}")
            styled = bool(frame.proto.arrow_data.styler.display_values)  # separators in the styler's text
            for name in frame.value.columns:
                entry = config.get(name) or {}
                if (entry.get("type_config") or {}).get("type") == "datetime":
                    times += 1  # "Last run (Asia/Shanghai)": the zone the times are shown in
                    assert str(entry.get("label", "")).endswith(")"), f"{path}: {name} has no zone"
                if pd.api.types.is_integer_dtype(frame.value[name]) and not styled:
                    counts += 1
                    assert config[name]["type_config"]["format"] == "localized", f"{path}: {name}"
        for metric in at.metric:
            assert not any(word in f"{metric.value} {metric.delta or ''}".split() for word in WORDS), path
    # The demo has blank cells (prices without a start date, limits without a quota): the check is not vacuous.
    assert blanks and counts and times
