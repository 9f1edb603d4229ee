"""Display helpers: every page's tables go through ui.format.table (a dash for a missing value)."""

from __future__ import annotations

import re

from tests.conftest import REPO


def test_pages_draw_tables_only_through_the_table_helper():
    # st.dataframe's own placeholder for a missing value is "None"; table() sets "–" once for all.
    scripts = [REPO / "app.py", *sorted((REPO / "pages").glob("*.py"))]
    direct = [p.name for p in scripts if re.search(r"\.dataframe\(", p.read_text())]
    assert not direct, f"use ui.format.table instead of st.dataframe in {direct}"
