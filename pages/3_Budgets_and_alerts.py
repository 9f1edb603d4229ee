"""Budgets & alerts: limits with this month's spend, credit grants, alert recipients and the webhook.
Everyone who can see the org reads them; owners change them (checked again in models/ and alerts/)."""

import streamlit as st

from ui import budget_sections
from ui.budget_queries import budget_view
from ui.format import today_in
from ui.i18n import t
from ui.page import page_header

ctx = page_header("budgets", needs_org=True, flash="budget_flash")

today = today_in(ctx.timezone)
view = budget_view(ctx.org_id, today)
if not ctx.is_owner:
    st.caption(t("budgets.readonly"))


budget_sections.limits(ctx, view)
budget_sections.credits(ctx, view, today)
budget_sections.recipients(ctx, view)
