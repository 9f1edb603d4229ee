"""Audit log: who changed which limit, grant, member, source or price, from what to what, when (owners only)."""

import streamlit as st

from models.access.roles import PermissionDenied
from ui.audit import LIMIT, actions, audit_frame, owned_org_ids
from ui.audit_sentences import kind
from ui.format import table, time_column
from ui.i18n import t
from ui.page import page_header
from ui.safe import csv_bytes, md

ctx = page_header("audit")

owned = owned_org_ids(ctx.actor.email) if ctx.actor and ctx.actor.email else []
if not owned:
    st.info(t("audit.owners_only") if ctx.orgs else t("audit.no_orgs"))
    st.stop()

DAYS = (7, 30, 90, 365, 0)
left, middle, right, far = st.columns([3, 1, 2, 2])
org_ids = left.multiselect(
    t("audit.orgs"),
    owned,
    default=[ctx.org_id] if ctx.org_id in owned else owned,
    key="audit_orgs",
    format_func=ctx.org_label,
)
days = middle.selectbox(
    t("audit.days"), DAYS, index=1, key="audit_days", format_func=lambda d: str(d) if d else t("audit.all")
)
kinds = actions(ctx.actor.email, tuple(org_ids or owned))
action = right.selectbox(
    t("audit.action"), [None, *kinds], key="audit_action", format_func=lambda a: kind(a) if a else t("audit.all")
)
who = far.text_input(t("audit.actor"), key="audit_who", max_chars=320)

try:
    frame = audit_frame(ctx.actor.email, tuple(org_ids or owned), days or None, action, who, ctx.lang, ctx.timezone)
except PermissionDenied as exc:
    st.error(md(str(exc)))
    st.stop()

if frame.empty:
    st.info(t("audit.empty"))
    st.stop()

st.caption(t("audit.count", n=len(frame), limit=LIMIT))
labels = {c: t(f"audit.col.{'org' if c == 'org_id' else c}") for c in frame.columns}
table(
    frame.rename(columns=labels),
    hide_index=True,
    width="stretch",
    column_config={labels["at"]: time_column(labels["at"], ctx.timezone)},
)
st.download_button(
    t("audit.export"), csv_bytes(frame), file_name="spendsight-audit.csv", mime="text/csv", key="audit_export"
)
