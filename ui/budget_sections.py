"""The Budgets & alerts page's three sections: limits, credit grants, and who gets alerts. Each shows
the org's current state to everyone who can see it and, to owners, the forms that change it (the
services check the role again). Money is this month's, at today's rate (the sidebar states it)."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import streamlit as st

import alerts
from alerts.config import add_recipient, remove_recipient, set_webhook
from models.budgets.credits import add_credit, remove_credit
from models.budgets.limits import clear_limit, set_limit
from models.tables import ALL_RULES, RULES
from ui import actions
from ui.budget_queries import known_projects
from ui.format import floats, in_currency, money_column, table, time_column
from ui.i18n import t
from ui.queries import refresh
from ui.safe import md
from ui.sidebar import PageContext


def attempt(action, message) -> None:
    actions.attempt(action, message, "budget_flash", refresh)


def blank_is_none(text: str):
    return text.strip() or None


def money_text(value) -> str:
    """120 or 150.5 (never 120.000000); blank when not set."""
    if value is None:
        return ""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def limits(ctx: PageContext, view: dict) -> None:
    """The org's limits with this month's spend, the warning for never-used projects, and the forms."""
    actor, org_id = ctx.member()
    st.markdown(f"#### {t('budgets.limits')}")
    rows = pd.DataFrame(
        view["limits"],
        columns=["project", "spent", "soft", "hard", "quota", "used", "thresholds", "updated_by", "updated_at"],
    )
    if rows.empty:
        st.info(t("budgets.no_limits"))
    else:
        scoped = rows.assign(project=rows["project"].replace("", t("forecast.whole_org")))
        table(
            floats(in_currency(scoped, ("spent", "soft", "hard", "quota"), ctx.rate)),
            column_config={
                "project": t("budgets.col.scope"),
                "used": st.column_config.ProgressColumn(
                    t("budgets.col.used"), format="percent", min_value=0, max_value=1
                ),
                "thresholds": t("budgets.col.thresholds"),
                "updated_by": t("budgets.col.updated_by"),
                "updated_at": time_column(t("budgets.col.updated_at"), ctx.timezone, format="YYYY-MM-DD HH:mm"),
            }
            | {
                c: money_column(t(f"budgets.col.{c}", currency=ctx.currency), ctx.currency)
                for c in ("spent", "soft", "hard", "quota")
            },
        )
    seen = known_projects(org_id)
    unused = [r["project"] for r in view["limits"] if r["project"] and r["project"] not in seen]
    if unused and ctx.is_owner:
        st.warning(t("budgets.unused_projects", projects=md(", ".join(unused))))
    if ctx.is_owner:
        left, right = st.columns([3, 1])
        left.markdown(f"**{t('budgets.set_limit')}**")
        scope = left.text_input(t("budgets.project"), key="bl_project").strip()
        if scope and scope not in seen:
            left.warning(t("budgets.unused_project", project=md(scope)))
        current: dict = next((r for r in view["limits"] if r["project"] == scope), {})
        with left.form("budget_limit"):
            a = st.columns(4)  # keyed by scope: the fields show the chosen scope's current values
            soft = a[0].text_input(t("budgets.soft"), money_text(current.get("soft")), key=f"bl_soft:{scope}")
            hard = a[1].text_input(
                t("budgets.hard"), money_text(current.get("hard")), key=f"bl_hard:{scope}", help=t("budgets.hard_help")
            )
            quota = a[2].text_input(
                t("budgets.quota"),
                money_text(current.get("quota")),
                key=f"bl_quota:{scope}",
                help=t("budgets.quota_help"),
            )
            marks = a[3].text_input(
                t("budgets.thresholds"),
                current.get("thresholds", "50,80,100").replace("%", ""),
                key=f"bl_thresholds:{scope}",
            )
            if st.form_submit_button(t("budgets.save"), type="primary"):
                attempt(
                    lambda: set_limit(
                        actor,
                        org_id,
                        scope,
                        soft=blank_is_none(soft),
                        hard=blank_is_none(hard),
                        quota=blank_is_none(quota),
                        thresholds=marks,
                    ),
                    lambda li: t("budgets.saved", scope=li.project_id or t("forecast.whole_org")),
                )
        if view["limits"]:
            with right.form("budget_limit_remove"):
                st.markdown(f"**{t('budgets.remove_limit')}**")
                gone = st.selectbox(
                    t("budgets.col.scope"),
                    [r["project"] for r in view["limits"]],
                    key="bl_gone",
                    format_func=lambda p: p or t("forecast.whole_org"),
                )
                if st.form_submit_button(t("budgets.remove")):
                    attempt(lambda: clear_limit(actor, org_id, gone), t("budgets.removed"))


def credits(ctx: PageContext, view: dict, today: date) -> None:
    """Credit grants: amount, used, remaining, state; owners add and remove them."""
    actor, org_id = ctx.member()
    st.markdown(f"#### {t('budgets.credits')}")
    grants = pd.DataFrame(
        view["grants"], columns=["id", "amount", "used", "remaining", "granted_on", "expires_on", "state", "note"]
    )
    if grants.empty:
        st.info(t("budgets.no_credits"))
    else:
        named = grants.assign(state=grants["state"].map(lambda s: t(f"budgets.state.{s}")))
        table(
            floats(in_currency(named, ("amount", "used", "remaining"), ctx.rate)),
            column_config={
                "id": "#",
                "granted_on": t("budgets.col.granted"),
                "expires_on": t("budgets.col.expires"),
                "state": t("budgets.col.state"),
                "note": t("budgets.col.note"),
                "amount": money_column(t("budgets.col.amount", currency=ctx.currency), ctx.currency),
                "used": money_column(t("budgets.col.used_credit", currency=ctx.currency), ctx.currency),
                "remaining": money_column(t("budgets.col.remaining", currency=ctx.currency), ctx.currency),
            },
        )
    if ctx.is_owner:
        left, right = st.columns([3, 1])
        with left.form("budget_credit"):
            st.markdown(f"**{t('budgets.add_credit')}**")
            a = st.columns([1, 1, 1, 2])
            amount = a[0].text_input(t("budgets.amount"), key="bc_amount")
            granted = a[1].date_input(t("budgets.granted"), today, key="bc_granted")
            expires = a[2].date_input(t("budgets.expires"), today + timedelta(days=90), key="bc_expires")
            note = a[3].text_input(t("budgets.note"), key="bc_note")
            if st.form_submit_button(t("budgets.add"), type="primary"):
                attempt(
                    lambda: add_credit(actor, org_id, amount, expires, granted, note),
                    lambda r: t("budgets.credit_added" if r[1] else "budgets.credit_exists", id=r[0].id),
                )
        if view["grants"]:
            with right.form("budget_credit_remove"):
                st.markdown(f"**{t('budgets.remove_credit')}**")
                grant = st.selectbox("#", [g["id"] for g in view["grants"]], key="bc_gone")
                if st.form_submit_button(t("budgets.remove")):
                    attempt(lambda: remove_credit(actor, org_id, grant), t("budgets.removed"))


def recipients(ctx: PageContext, view: dict) -> None:
    """Who gets alerts (the owners, plus recipients per rule), the webhook, and a test message."""
    actor, org_id = ctx.member()
    st.markdown(f"#### {t('budgets.recipients')}")
    if view["owners"]:
        st.caption(t("budgets.owners", emails=md(", ".join(view["owners"]))))
    else:
        st.warning(t("budgets.no_owners"))
    extra = pd.DataFrame(view["recipients"], columns=["rule", "email"])
    if not extra.empty:
        table(
            extra.assign(rule=extra["rule"].map(lambda r: t(f"rule.{r}"))),
            hide_index=True,
            width="stretch",
            column_config={"rule": t("budgets.col.rule"), "email": t("budgets.col.email")},
        )
    st.caption(t("budgets.webhook_now", host=md(view["webhook"])) if view["webhook"] else t("budgets.webhook_none"))
    if ctx.is_owner:
        rules = [ALL_RULES, *RULES]
        a, b, c = st.columns(3)
        with a.form("budget_recipient"):
            st.markdown(f"**{t('budgets.add_recipient')}**")
            email = st.text_input(t("budgets.email"), key="br_email")
            rule = st.selectbox(t("budgets.rule"), rules, format_func=lambda r: t(f"rule.{r}"), key="br_rule")
            if st.form_submit_button(t("budgets.add_recipient")):
                attempt(
                    lambda: add_recipient(actor, org_id, email, rule),
                    lambda r: t("budgets.recipient_added", email=md(r.email)),
                )
        if view["recipients"]:
            with b.form("budget_recipient_remove"):
                st.markdown(f"**{t('budgets.remove_recipient')}**")
                pairs = [(r["rule"], r["email"]) for r in view["recipients"]]
                pick = st.selectbox(
                    t("budgets.email"), pairs, key="br_gone", format_func=lambda p: f"{p[1]} · {t('rule.' + p[0])}"
                )
                if st.form_submit_button(t("budgets.remove")):
                    attempt(lambda: remove_recipient(actor, org_id, pick[1], pick[0]), t("budgets.removed"))
        with c.form("budget_webhook"):
            st.markdown(f"**{t('budgets.webhook')}**")
            url = st.text_input(t("budgets.webhook_url"), type="password", key="bw_url")
            save, drop = st.columns(2)
            if save.form_submit_button(t("budgets.webhook_save")):
                attempt(lambda: set_webhook(actor, org_id, url), t("common.saved"))
            if drop.form_submit_button(t("budgets.webhook_remove")):
                attempt(lambda: set_webhook(actor, org_id, None), t("budgets.removed"))
        if st.button(t("budgets.test"), key="budget_test"):
            report = alerts.send_test(actor, org_id)
            refresh()
            if report.sent and not (report.retrying or report.failed or report.waiting):
                st.success(t("budgets.test_sent", report=report))
            else:
                reason = "; ".join(report.errors) or "SMTP_HOST is not set"
                st.warning(t("budgets.test_failed", report=report, reason=md(reason)))
