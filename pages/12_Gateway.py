"""Gateway: its keys (owners create and revoke them; a key is shown once), requests and rejections per
minute with reasons, and snippets for the official SDKs."""

import streamlit as st

from models.gateway import create_key, revoke_key
from models.settings import get_settings
from ui import actions
from ui.format import table, time_column
from ui.gateway_charts import per_minute
from ui.gateway_queries import activity, keys, refresh
from ui.i18n import t
from ui.page import page_header
from ui.safe import md

ctx = page_header("gateway", needs_org=True, flash="gw_flash")

st.markdown(f"#### {t('gateway.activity')}")
frame = activity(ctx.org_id)
if frame.empty:
    st.info(t("gateway.no_activity"))
else:
    labels = {
        "requests": t("gateway.series.requests"),
        "hard_limit_reached": t("gateway.series.hard_limit_reached"),
        "quota_reached": t("gateway.series.quota_reached"),
        "credit_exhausted": t("gateway.series.credit_exhausted"),
    }
    st.plotly_chart(per_minute(frame, labels), width="stretch")

st.markdown(f"#### {t('gateway.keys')}")
rows = keys(ctx.org_id)
if rows.empty:
    st.caption(t("gateway.no_keys"))
else:
    table(
        rows,
        hide_index=True,
        width="stretch",
        column_config={
            "id": t("gateway.col.id"),
            "name": t("gateway.col.name"),
            "project": t("gateway.col.project"),
            "prefix": t("gateway.col.prefix"),
            "created_at": time_column(t("gateway.col.created"), ctx.timezone, format="YYYY-MM-DD HH:mm"),
            "created_by": t("gateway.col.created_by"),
            "revoked_at": time_column(t("gateway.col.revoked"), ctx.timezone, format="YYYY-MM-DD HH:mm"),
        },
    )

if ctx.is_owner:
    with st.form("gw_create"):
        cols = st.columns(2)
        name = cols[0].text_input(t("gateway.name"), key="gw_name")
        project = cols[1].text_input(t("gateway.project"), key="gw_project")
        if st.form_submit_button(t("gateway.create"), type="primary", key="gw_create_submit"):
            actions.attempt(
                lambda: create_key(ctx.actor, ctx.org_id, project or None, name or None),
                lambda made: t("gateway.created", id=made[1].id, token=made[0]),
                "gw_flash",
                refresh,
            )
    active = [] if rows.empty else rows.loc[rows["revoked_at"].isna(), "id"].tolist()
    if active:
        cols = st.columns([3, 1])
        pick = cols[0].selectbox(t("gateway.pick"), active, key="gw_pick", label_visibility="collapsed")
        if cols[1].button(t("gateway.revoke"), key="gw_revoke", width="stretch"):
            actions.attempt(lambda: revoke_key(ctx.actor, pick), t("gateway.revoked", id=md(pick)), "gw_flash", refresh)
else:
    st.caption(t("gateway.readonly"))

st.markdown(f"#### {t('gateway.snippets')}")
config = get_settings().gateway
base = f"http://{config.host}:{config.port}"
st.code(
    "from openai import OpenAI\n"
    f'client = OpenAI(base_url="{base}/openai/v1", api_key="ssk-...")\n'
    'client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])',
    language="python",
)
st.code(
    "from anthropic import Anthropic\n"
    f'client = Anthropic(base_url="{base}/anthropic", api_key="ssk-...")\n'
    'client.messages.create(model="claude-3-5-haiku-20241022", max_tokens=256,\n'
    '                       messages=[{"role": "user", "content": "Hi"}])',
    language="python",
)
st.caption(t("gateway.snippet_help"))
