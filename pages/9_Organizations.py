"""Organizations & members: overview of your orgs, members and roles, sources, limits and credits."""

import streamlit as st

from models.access.policy import may_create_org
from ui import org_sections
from ui.format import today_in
from ui.i18n import t
from ui.page import page_header
from ui.queries import org_summaries
from ui.safe import md

ctx = page_header("orgs", flash="org_flash")


if ctx.org_id is None:
    st.info(t("orgs.none_creator" if ctx.actor and may_create_org(ctx.actor.email) else "orgs.none"))
    org_sections.create_form(ctx)
    st.stop()

today = today_in(ctx.timezone)
summaries = org_summaries(tuple(o["id"] for o in ctx.orgs), today)
org_sections.overview(ctx, summaries)

summary = summaries[ctx.org_id]
badge = (
    ":orange-badge[" + t("orgs.badge.staging") + "]" if ctx.is_staging else ":green-badge[" + t("orgs.badge.prod") + "]"
)
st.markdown(f"### {md(ctx.org_name)} {badge}")
if not ctx.is_owner:
    st.caption(t("orgs.readonly"))
members_tab, sources_tab, budget_tab, settings_tab = st.tabs(
    [t("orgs.tab.members"), t("orgs.tab.sources"), t("orgs.tab.budget"), t("orgs.tab.settings")]
)
with members_tab:
    org_sections.members(ctx, summary)
with sources_tab:
    org_sections.sources(ctx, summary)
with budget_tab:
    org_sections.budget(ctx, summary, today)
with settings_tab:
    org_sections.settings(ctx)

org_sections.create_form(ctx)
