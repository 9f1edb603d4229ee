"""Alert history: every alert that fired and each message's fate (sent, pending, failed, with reason)."""

import streamlit as st

import alerts
from alerts.outbox import retry_failed
from models.access.roles import PermissionDenied
from ui.budget_queries import alert_history, pick_history
from ui.format import table, time_column
from ui.i18n import t
from ui.page import page_header
from ui.queries import refresh
from ui.safe import md

ctx = page_header("alerthist", needs_org=True, flash="alerthist_flash")

history = alert_history(ctx.org_id)
if history.empty:
    st.info(t("alerthist.empty"))
    st.stop()

counts = history["status"].value_counts()
cols = st.columns(3)
for column, status in zip(cols, ("sent", "pending", "failed")):
    column.metric(t(f"alerthist.{status}"), int(counts.get(status, 0)), border=True)

if ctx.is_owner:
    a, b, _ = st.columns([1, 1, 2])
    try:
        if a.button(t("alerthist.send_now"), key="ah_send", disabled=not counts.get("pending", 0)):
            report = alerts.deliver_now(ctx.actor, ctx.org_id)
            refresh()
            st.session_state["alerthist_flash"] = t("alerthist.delivered", report=md(str(report)))
            st.rerun()
        if b.button(t("alerthist.requeue"), key="ah_requeue", disabled=not counts.get("failed", 0)):
            n = retry_failed(ctx.actor, ctx.org_id)
            refresh()
            st.session_state["alerthist_flash"] = t("alerthist.requeued", n=n)
            st.rerun()
    except PermissionDenied as exc:
        st.error(md(str(exc)))

left, right = st.columns(2)
statuses = sorted(history["status"].unique())
rules = sorted(history["rule"].unique())
chosen_status = left.multiselect(
    t("alerthist.status"), statuses, key="ah_status", format_func=lambda s: t(f"status.{s}")
)
chosen_rule = right.multiselect(t("alerthist.rule"), rules, key="ah_rule", format_func=lambda r: t(f"rule.{r}"))
shown = pick_history(history, chosen_status, chosen_rule, ctx.timezone)
if shown.empty:
    st.info(t("alerthist.none_match"))
    st.stop()

rows = shown.assign(
    rule=shown["rule"].map(lambda r: t(f"rule.{r}")), status=shown["status"].map(lambda s: t(f"status.{s}"))
)
columns = [
    "created_at",
    "rule",
    "project_id",
    "threshold",
    "period",
    "status",
    "channel",
    "recipient",
    "attempts",
    "next_attempt_at",
    "sent_at",
    "last_error",
    "summary",
]
timestamp = "YYYY-MM-DD HH:mm:ss"
table(
    rows[columns],
    hide_index=True,
    width="stretch",
    column_config={c: st.column_config.Column(t(f"alerthist.col.{c}")) for c in columns}
    | {
        c: time_column(t(f"alerthist.col.{c}"), ctx.timezone, convert=False, format=timestamp)  # already in the zone
        for c in ("created_at", "next_attempt_at", "sent_at")
    },
)
