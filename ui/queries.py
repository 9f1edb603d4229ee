"""Cached query wrappers: the only way pages read data (TTLs keep pages fast and fresh).

Arguments are plain hashable values (tuples, dates, strings) so st.cache_data can key on them;
results are the models' own objects. After a page changes data it calls `refresh()`.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from models.access import invites as _invites
from models.access.orgs import list_orgs
from models.access.roles import Actor, role_of, visible_orgs
from models.budgets.credits import credit_status
from models.budgets.snapshots import month_statement
from models.budgets.statement import OrgSummary, org_summary
from models.budgets.subscriptions import subscription
from models.db import session_scope
from models.fx import Rate, rate_on, rates
from models.pricing.catalog import get_catalog
from models.pricing.edit import catalog_table
from models.schema import init_db
from models.spend import overview as _overview
from models.spend.compare import (
    call_cost,
    catalog_models,
    count_tokens,
    default_candidates,
    frontier,
    model_kind,
    parse_scores,
    reprice,
    reprice_by_model,
    what_if,
    workload,
)
from models.spend.explore import dimension_values, explore, first_seen
from ui.charts import slot_colors

TTL_SECONDS = 60
SLOW_TTL_SECONDS = 300  # catalog-wide tables that change only when prices.toml does


@st.cache_resource
def ensure_db() -> bool:
    init_db()
    return True


def refresh() -> None:
    """Forget cached query results (after a change made from a page)."""
    st.cache_data.clear()


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def org_choices() -> list[dict]:
    ensure_db()
    with session_scope() as session:
        return [
            {"id": o.id, "name": o.name, "environment": o.environment, "timezone": o.timezone}
            for o in sorted(list_orgs(session), key=lambda o: (o.name.lower(), o.id))
        ]


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def home_overview(org_id: str, today: date) -> _overview.Overview:
    return _overview.overview(org_id, today)


@st.cache_data(ttl=10, show_spinner=False)
def roles_for(email: str | None, system: bool = False) -> dict[str, str | None]:
    """org id -> role for this member (all orgs as owner for a system actor)."""
    ensure_db()
    actor = Actor(email, system=system)
    with session_scope() as session:
        return {org_id: role_of(session, actor, org_id) for org_id in visible_orgs(session, actor)}


# --- spend explorer --------------------------------------------------------------------------


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def explore_data(
    org_ids: tuple[str, ...],
    start: date,
    end: date,
    group_by: tuple[str, ...],
    grain: str,
    filters: tuple[tuple[str, tuple[str, ...]], ...],
    split: bool,
):
    return explore(org_ids, start, end, group_by, grain, dict(filters), split)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def dimension_choices(org_ids: tuple[str, ...], start: date, end: date) -> dict[str, list[str]]:
    return dimension_values(org_ids, start, end)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def series_colors(org_ids: tuple[str, ...], dimension: str) -> dict[str, str]:
    """Each value of `dimension` these orgs ever had usage for -> its chart colour, by first-seen order
    rather than the viewed period's names, so a project keeps its colour in every period and no two
    of the org's projects (or models) share one while the palette lasts."""
    ensure_db()
    return slot_colors(first_seen(org_ids, dimension))


# --- model comparison ------------------------------------------------------------------------


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner=False)
def model_options() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(every model the catalog prices, a starting selection)."""
    return catalog_models(), default_candidates()


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def reprice_data(org_ids: tuple[str, ...], start: date, end: date, filters: tuple, candidates: tuple, at: date):
    """(workload, today's option, a frame per candidate: model, provider, current, cost_usd, per_1k_usd,
    saving_usd, saving_pct, notes) for the comparison page; money columns are USD Decimals."""
    work = workload(org_ids, start, end, dict(filters))
    if not work.parts:
        return work, None, pd.DataFrame()
    today, options = reprice(work, candidates, at)
    records = []
    for o in options:
        saving = None if o.cost is None or today.cost is None else today.cost - o.cost
        records.append(
            {
                "model": o.model,
                "provider": o.provider,
                "current": o.current,
                "cost_usd": o.cost,
                "per_1k_usd": o.per_1k_requests,
                "saving_usd": saving,
                "saving_pct": saving / today.cost if saving is not None and today.cost else None,
                "notes": "; ".join(o.notes),
            }
        )
    return work, today, pd.DataFrame(records)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def reprice_models_data(org_ids: tuple[str, ...], start: date, end: date, filters: tuple, candidates: tuple, at: date):
    """Per model in use: model, provider, kind, cost_usd (its usage at today's prices), best_model (the
    cheapest candidate of its own kind), best_usd, saving_usd, saving_pct; money as USD Decimals."""
    work = workload(org_ids, start, end, dict(filters))
    rows = reprice_by_model(work, candidates, at)
    return pd.DataFrame(
        [
            {
                "model": r.model,
                "provider": r.provider,
                "kind": r.kind,
                "cost_usd": r.cost,
                "best_model": r.best_model,
                "best_usd": r.best_cost,
                "saving_usd": r.saving,
                "saving_pct": r.saving / r.cost if r.saving is not None and r.cost else None,
            }
            for r in rows
        ],
        columns=["model", "provider", "kind", "cost_usd", "best_model", "best_usd", "saving_usd", "saving_pct"],
    )


def candidate_kinds(candidates: tuple) -> dict[str, int]:
    """How many candidates of each kind are picked (a kind with none cannot be repriced)."""
    kinds: dict[str, int] = {}
    for _, model in candidates:
        kinds[model_kind(model)] = kinds.get(model_kind(model), 0) + 1
    return kinds


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def what_if_data(profile, candidates: tuple, at: date):
    """model, provider, expected_usd, worst_usd, per_1k_usd, notes per candidate (cheapest first)."""
    rows = what_if(profile, candidates, at)
    return pd.DataFrame(
        [
            {
                "model": r.model,
                "provider": r.provider,
                "expected_usd": r.expected,
                "worst_usd": r.worst,
                "per_1k_usd": r.per_1k_requests,
                "notes": "; ".join(r.notes),
            }
            for r in rows
        ]
    )


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner=False, max_entries=64)
def token_counts(prompt: str, candidates: tuple, output_tokens: int, at: date):
    """model, provider, tokens, exact, method, cost_usd (one call), per_1k_usd per candidate."""
    rows = []
    for provider, model in candidates:
        count = count_tokens(prompt, provider, model)
        cost = call_cost((provider, model), count.tokens, output_tokens, at)
        rows.append(
            {
                "model": model,
                "provider": provider,
                "tokens": count.tokens,
                "exact": count.exact,
                "method": count.method,
                "cost_usd": cost,
                "per_1k_usd": None if cost is None else cost * 1000,
            }
        )
    return pd.DataFrame(rows)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def frontier_data(content: bytes, name: str, profile, at: date):
    """The cost/quality frontier of an uploaded scores CSV (CompareError names line and field)."""
    return frontier(parse_scores(content, source=name), profile, at)


# --- prices ----------------------------------------------------------------------------------


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner=False)
def price_table(at: date, fingerprint: str):
    """The effective catalog on `at` (keyed on the catalog's fingerprint, so an edit shows at once)."""
    return catalog_table(at)


def catalog_fingerprint() -> str:
    return get_catalog().fingerprint


def owns_every_org(actor) -> bool:
    """Whether the actor owns every organization (what changing prices needs; checked again on save)."""
    if actor is None:
        return False
    roles = roles_for(actor.email, actor.system)
    every = [o["id"] for o in org_choices()]
    return bool(every) and all(roles.get(org_id) == "owner" for org_id in every)


# --- statement and organizations -------------------------------------------------------------


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def closed_statement(org_id: str, year: int, month: int):
    """(statement, versions): a closed month's last stored version, or an open month's live figures."""
    return month_statement(org_id, year, month)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def day_rate(currency: str, day: date) -> Rate:
    return rate_on(currency, day)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def fx_rates(currency: str) -> list[Rate]:
    return rates(currency)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def my_subscription(org_id: str, email: str | None) -> dict[str, str] | None:
    return subscription(org_id, email)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def org_summaries(org_ids: tuple[str, ...], today: date) -> dict[str, OrgSummary]:
    """org id -> this month's billing, credit balance, members and sources."""
    return {org_id: org_summary(org_id, today) for org_id in org_ids}


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def credit_grants(org_id: str, today: date) -> list[dict]:
    """The org's credit grants with what is used and left."""
    return [
        {
            "amount_usd": g.amount_usd,
            "used_usd": g.used_usd,
            "remaining_usd": g.remaining_usd,
            "granted_on": g.granted_on,
            "expires_on": g.expires_on,
            "state": g.state,
            "note": g.note,
        }
        for g in credit_status(org_id, today)
    ]


@st.cache_data(ttl=10, show_spinner=False)
def member_accounts(org_id: str) -> dict[str, str]:
    """email -> "account" | "invited" | "none": who of the org's members can sign in yet."""
    return _invites.account_status(org_id)
