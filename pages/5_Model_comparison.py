"""Model comparison: reprice real usage, what-if traffic, token estimate, cost vs quality.

The candidates picked here are what every tab prices; each tab is drawn by ui.compare_view.
"""

import streamlit as st

from ui import compare_view
from ui.format import today_in
from ui.i18n import t
from ui.page import page_header
from ui.queries import model_options

ctx = page_header("compare", needs_org=True)

today = today_in(ctx.timezone)
options, defaults = model_options()
candidates = tuple(
    st.multiselect(
        t("compare.candidates"),
        options,
        default=defaults,
        key="cmp_candidates",
        format_func=lambda c: f"{c[1]} · {c[0]}",
        help=t("compare.candidates_help"),
    )
)

reprice_tab, what_if_tab, tokens_tab, quality_tab = st.tabs(
    [t("compare.tab.reprice"), t("compare.tab.what_if"), t("compare.tab.tokens"), t("compare.tab.quality")]
)
with reprice_tab:
    compare_view.reprice(ctx, candidates, today)
with what_if_tab:
    profile = compare_view.what_if(ctx, candidates, today)
with tokens_tab:
    compare_view.token_estimate(ctx, candidates, today)
with quality_tab:
    compare_view.quality(ctx, profile, today)
