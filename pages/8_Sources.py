"""Sources: each provider admin-API source's last run, last success, rows, error and next run; owners manage them."""

import streamlit as st

from models.sources import PROVIDER_BASE_URLS, add_source, policy_summary, request_run, set_enabled
from ui import actions
from ui.collect_queries import (
    endpoint_status,
    keys_missing,
    refresh,
    source_states,
    status_table,
)
from ui.format import table, time_column
from ui.i18n import t
from ui.page import page_header
from ui.safe import md

ctx = page_header("sources", needs_org=True, flash="src_flash")

rows = status_table(ctx.org_id)
if rows.empty:
    st.info(t("sources.empty_owner", org=ctx.org_id) if ctx.is_owner else t("sources.empty_reader"))
else:
    table(
        rows,
        hide_index=True,
        width="stretch",
        column_config={
            "name": t("sources.col.name"),
            "provider": t("sources.col.provider"),
            "state": t("sources.col.state"),
            "key": t("sources.col.key"),
            "last_run": time_column(t("sources.col.last_run"), ctx.timezone),
            "last_success": time_column(t("sources.col.last_success"), ctx.timezone),
            "last_rows": st.column_config.NumberColumn(t("sources.col.last_rows"), format="%d"),
            "rows_written": st.column_config.NumberColumn(t("sources.col.rows_written"), format="%d"),
            "last_error": st.column_config.TextColumn(t("sources.col.last_error"), width="large"),
            "next_run": t("sources.col.next_run"),
            "base_url": t("sources.col.base_url"),
        },
    )
    if (rows["last_error"] != "").any():
        st.warning(t("sources.errors"))
    if keys_missing(ctx.org_id):
        st.caption(t("sources.key_missing_help"))
    endpoints = endpoint_status(ctx.org_id)
    with st.expander(t("sources.endpoints")):
        table(
            endpoints,
            hide_index=True,
            width="stretch",
            column_config={
                "source": t("sources.col.name"),
                "endpoint": t("sources.col.endpoint"),
                "collected_until": time_column(t("sources.col.until"), ctx.timezone, format="YYYY-MM-DD HH:mm"),
                "last_rows": st.column_config.NumberColumn(t("sources.col.last_rows"), format="%d"),
                "last_error": t("sources.col.last_error"),
                "updated_at": time_column(t("sources.col.updated"), ctx.timezone),
            },
        )

if not ctx.is_owner:
    st.caption(t("sources.readonly", role=t("role." + (ctx.role or "none"))))
    st.stop()


def attempt(change, success: str) -> None:
    """The service checks the role and writes the audit record; the page only reports the outcome."""
    actions.attempt(actions.in_session(change), success, "src_flash", refresh)


if not rows.empty:
    st.markdown(f"#### {t('sources.manage')}")
    cols = st.columns([2, 1, 1])
    states = source_states(ctx.org_id)
    name = cols[0].selectbox(t("sources.pick"), list(states), key="src_pick", label_visibility="collapsed")
    enabled = states[name]
    if cols[1].button(t("sources.run_now"), key="src_run", type="primary", disabled=not enabled, width="stretch"):
        attempt(lambda s: request_run(s, ctx.actor, name), t("sources.requested", name=md(name)))
    if enabled and cols[2].button(t("sources.disable"), key="src_disable", width="stretch"):
        attempt(lambda s: set_enabled(s, ctx.actor, name, False), t("sources.disabled_done", name=md(name)))
    if not enabled and cols[2].button(t("sources.enable"), key="src_enable", width="stretch"):
        attempt(lambda s: set_enabled(s, ctx.actor, name, True), t("sources.enabled_done", name=md(name)))

allowed = policy_summary()
with st.expander(t("sources.add"), expanded=rows.empty):
    st.caption(t("sources.add_help"))
    st.caption(
        t("sources.policy_help", patterns=md(", ".join(allowed["key_envs"])), urls=md(", ".join(allowed["base_urls"])))
    )
    with st.form("src_add"):
        a = st.columns([1, 2])
        provider = a[0].selectbox(t("sources.provider"), list(PROVIDER_BASE_URLS), key="src_provider")
        key_env = a[1].text_input(t("sources.key_env"), placeholder="OPENAI_ADMIN_KEY", key="src_key_env")
        b = st.columns([2, 1])
        base_url = b[0].text_input(t("sources.base_url"), placeholder=PROVIDER_BASE_URLS["openai"], key="src_base_url")
        source_name = b[1].text_input(t("sources.name"), placeholder=f"{ctx.org_id}-openai", key="src_name")
        if st.form_submit_button(t("sources.add_button"), type="primary", key="src_add_submit"):
            label = source_name.strip() or f"{ctx.org_id}-{provider}"
            attempt(
                lambda s: add_source(
                    s, ctx.actor, ctx.org_id, provider, key_env, base_url.strip() or None, source_name.strip() or None
                ),
                t("sources.added", name=md(label)),
            )
