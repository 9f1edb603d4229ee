"""The Organizations page's parts: the overview of every org the member sees, and the selected org's
members (with invitations), sources, budget and settings. Each shows the state to everyone who can
see the org and, to owners, the forms that change it (the services check the role again). Money is
this month's, at today's rate (the sidebar states it); times are in the org's zone, labelled.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from alerts.invites import invite_member
from models.access.orgs import create_org_as, remove_member_as, set_member_as, update_org_as
from models.access.policy import may_create_org
from models.budgets.statement import OrgSummary
from models.settings import get_settings
from models.tables import ENVIRONMENTS, ROLES
from models.validation import timezones
from ui import actions
from ui.format import floats, in_currency, money_column, table, time_column
from ui.i18n import t
from ui.queries import credit_grants, member_accounts, refresh
from ui.safe import md
from ui.sidebar import PageContext


def attempt(action, success) -> None:
    actions.attempt(action, success, "org_flash", refresh)


def create_form(ctx: PageContext) -> None:
    """A new organization, for the members the operator lets create them."""
    # Only members the operator lists may create orgs; the service refuses everyone else anyway.
    if ctx.actor is None or not may_create_org(ctx.actor.email):
        return
    with st.expander(t("orgs.create"), expanded=ctx.org_id is None):
        st.caption(t("orgs.create_help"))
        with st.form("org_create"):
            a = st.columns([1.2, 2, 1, 1.6])
            new_id = a[0].text_input(t("orgs.new_id"), key="org_new_id")
            name = a[1].text_input(t("orgs.new_name"), key="org_new_name")
            env = a[2].selectbox(
                t("orgs.environment"), ENVIRONMENTS, format_func=lambda e: t(f"env.{e}"), key="org_new_env"
            )
            zones = timezones()
            zone = a[3].selectbox(t("orgs.timezone"), zones, index=zones.index("UTC"), key="org_new_tz")
            if st.form_submit_button(t("orgs.create_button"), type="primary"):
                attempt(
                    lambda: create_org_as(ctx.actor, new_id, name, env, zone),
                    lambda org: t("orgs.created", org=md(org.id)),
                )


def overview(ctx: PageContext, summaries: dict[str, OrgSummary]) -> None:
    """One row per org: environment, zone, the member's role, this month's spend, limits, credit."""
    money = ("spend", "soft", "hard", "credit")
    overview = pd.DataFrame(
        [
            {
                "name": o["name"],
                "id": o["id"],
                "environment": t(f"orgs.badge.{o['environment']}"),
                "timezone": o["timezone"],
                "spend": summaries[o["id"]]["billing"]["spent_usd"],
                "soft": summaries[o["id"]]["billing"]["soft_limit_usd"],
                "hard": summaries[o["id"]]["billing"]["hard_limit_usd"],
                "credit": summaries[o["id"]]["credit_balance"],
                "members": len(summaries[o["id"]]["members"]),
                "sources": len(summaries[o["id"]]["sources"]),
            }
            for o in ctx.orgs
        ]
    )
    me = (ctx.actor.email or "").lower() if ctx.actor else ""
    overview.insert(
        4,
        "role",
        [
            t(
                "role."
                + next(
                    (m["role"] for m in summaries[i]["members"] if m["email"] == me),
                    "owner" if ctx.actor and ctx.actor.system else "none",
                )
            )
            for i in overview["id"]
        ],
    )
    shown = floats(in_currency(overview, money, ctx.rate))
    styled = shown.style.apply(
        lambda row: ["background-color: #fef3c7" if "🧪" in row["environment"] else ""] * len(row), axis=1
    )
    st.markdown(f"#### {t('orgs.overview')}")
    table(
        styled,
        hide_index=True,
        width="stretch",
        column_config={c: money_column(t(f"orgs.col.{c}", currency=ctx.currency), ctx.currency) for c in money}
        | {
            c: st.column_config.Column(t(f"orgs.col.{c}"))
            for c in ("name", "id", "environment", "timezone", "role", "members", "sources")
        },
    )


def members(ctx: PageContext, summary: OrgSummary) -> None:
    """Members, their roles and whether they have an account; owners invite, add and remove."""
    actor, org_id = ctx.member()
    people = pd.DataFrame(summary["members"], columns=["email", "role"])
    accounts = member_accounts(org_id)
    people["account"] = [t(f"orgs.account.{accounts.get(e, 'none')}") for e in people["email"]]
    table(
        people.assign(role=people["role"].map(lambda r: t(f"role.{r}"))),
        hide_index=True,
        width="stretch",
        column_config={"email": t("orgs.email"), "role": t("orgs.role"), "account": t("orgs.account_col")},
    )
    without = [e for e in people["email"] if accounts.get(e, "none") != "account"]
    if without:
        st.caption(t("orgs.no_account", count=len(without)))
    if ctx.is_owner and without:
        with st.form("org_invite"):
            st.markdown(f"**{t('orgs.invite')}**")
            st.caption(t("orgs.invite_help", hours=get_settings().auth.invite_hours))
            invitee = st.selectbox(t("orgs.email"), without, key="org_invite_email")
            if st.form_submit_button(t("orgs.invite_send")):
                attempt(
                    lambda: invite_member(actor, org_id, invitee, ctx.lang),
                    lambda inv: t(
                        "orgs.invite_sent", email=md(inv.email), until=f"{inv.expires_at:%Y-%m-%d %H:%M} UTC"
                    ),
                )
    if ctx.is_owner:
        left, right = st.columns(2)
        with left.form("org_member"):
            st.markdown(f"**{t('orgs.add_member')}**")
            email = st.text_input(t("orgs.email"), key="org_member_email")
            role = st.selectbox(t("orgs.role"), ROLES, format_func=lambda r: t(f"role.{r}"), key="org_member_role")
            if st.form_submit_button(t("orgs.save_member")):
                attempt(
                    lambda: set_member_as(actor, org_id, email, role),
                    lambda m: t("orgs.member_saved", email=md(m.email), role=t(f"role.{m.role}")),
                )
        with right.form("org_remove"):
            st.markdown(f"**{t('orgs.remove_member')}**")
            gone = st.selectbox(t("orgs.email"), list(people["email"]), key="org_remove_email")
            if st.form_submit_button(t("orgs.remove")):
                attempt(lambda: remove_member_as(actor, org_id, gone), t("orgs.member_removed", email=md(gone)))


def sources(ctx: PageContext, summary: OrgSummary) -> None:
    """The org's collectors and their last run, in the org's zone."""
    if not summary["sources"]:
        st.info(t("orgs.no_sources"))
    else:
        table(
            pd.DataFrame(summary["sources"]),
            hide_index=True,
            width="stretch",
            column_config={
                "name": t("orgs.col.source"),
                "provider": t("common.provider"),
                "key_env": t("orgs.col.key_env"),
                "enabled": t("orgs.col.enabled"),
                "last_success_at": time_column(t("orgs.col.last_success"), ctx.timezone),
                "last_error": t("orgs.col.last_error"),
                "rows_written": t("orgs.col.rows"),
            },
        )


def budget(ctx: PageContext, summary: OrgSummary, today: date) -> None:
    """This month's spend, credits and limits, and the credit grants."""
    actor, org_id = ctx.member()
    bill = summary["billing"]
    cols = st.columns(5)
    cols[0].metric(t("orgs.month_spend"), ctx.money(bill["spent_usd"]), border=True)
    cols[1].metric(t("orgs.credits_applied"), ctx.money(bill["credits_applied_usd"]), border=True)
    cols[2].metric(
        t("orgs.credit_balance"),
        ctx.money(summary["credit_balance"]) if summary["credit_balance"] is not None else "–",
        border=True,
    )
    soft, hard = bill.get("soft_limit_usd"), bill.get("hard_limit_usd")
    for col, value, label in ((cols[3], soft, "statement.soft"), (cols[4], hard, "statement.hard")):
        col.metric(t(label), ctx.money(value) if value is not None else t("statement.not_set"), border=True)
    if soft is None and hard is None:
        st.caption(t("orgs.no_limits"))
    st.markdown(f"##### {t('orgs.grants')}")
    grants = pd.DataFrame(credit_grants(org_id, today))
    if grants.empty:
        st.caption(t("orgs.no_grants"))
    else:
        table(
            floats(in_currency(grants, ("amount_usd", "used_usd", "remaining_usd"), ctx.rate)),
            hide_index=True,
            width="stretch",
            column_config={
                f"{c}_usd": money_column(t(f"orgs.col.{c}", currency=ctx.currency), ctx.currency)
                for c in ("amount", "used", "remaining")
            }
            | {c: st.column_config.Column(t(f"orgs.col.{c}")) for c in ("granted_on", "expires_on", "state", "note")},
        )


def settings(ctx: PageContext) -> None:
    """Name, environment and time zone: owners change them, others read them."""
    actor, org_id = ctx.member()
    org = ctx.org(org_id)
    if not ctx.is_owner:
        table(
            [
                {
                    t("orgs.new_name"): org["name"],
                    t("orgs.environment"): t(f"env.{org['environment']}"),
                    t("orgs.timezone"): org["timezone"],
                }
            ],
            hide_index=True,
            width="stretch",
        )
    else:
        with st.form("org_settings"):
            a = st.columns([2, 1, 1.6])
            name = a[0].text_input(t("orgs.new_name"), value=org["name"], key="org_set_name")
            env = a[1].selectbox(
                t("orgs.environment"),
                ENVIRONMENTS,
                index=ENVIRONMENTS.index(org["environment"]),
                format_func=lambda e: t(f"env.{e}"),
                key="org_set_env",
            )
            # The current zone is always an option (even one no longer offered), so saving a rename
            # never moves the org to another zone; only fields that changed are sent.
            zones = timezones()
            if org["timezone"] not in zones:
                zones = [org["timezone"], *zones]
            zone = a[2].selectbox(t("orgs.timezone"), zones, key="org_set_tz", index=zones.index(org["timezone"]))
            if st.form_submit_button(t("orgs.settings_save")):
                wanted = {"name": name, "environment": env, "timezone": zone}
                changes = {k: v for k, v in wanted.items() if v != org[k]}
                attempt(
                    lambda: update_org_as(actor, org_id, **changes),
                    t("orgs.settings_saved", org=org_id),
                )
