"""Cached reads for the Forecast, Budgets & alerts and Alert history pages (plain data, short TTLs).

Changes are not made here: pages call the owner-checked services in models.budgets and alerts, then
`ui.queries.refresh()`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from alerts.config import recipients, redact_url, webhook_url
from alerts.outbox import history
from models.access.orgs import owner_emails
from models.budgets import billing
from models.budgets import scopes as _scopes
from models.budgets.credits import credit_status
from models.budgets.forecast import forecast_scope
from models.budgets.limits import limits
from models.db import session_scope
from models.spend.queries import SpendQuery, spend
from models.units import ZERO
from ui.queries import ensure_db

TTL_SECONDS = 60


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def forecast_view(org_id: str, project: str | None, today: date) -> dict:
    """This month's forecast of an org (or one project): numbers and the per-day fan, as plain data."""
    ensure_db()
    fc = forecast_scope(org_id, project)
    f = fc.forecast
    days = pd.DataFrame(
        {
            "day": f.days,
            "actual": f.actual_cum,
            "p10": f.cum_p10,
            "p50": f.cum_p50,
            "p90": f.cum_p90,
        }
    )
    return {
        "month": f.month,
        "as_of": f.as_of,
        "spent": fc.spent,
        "p10": fc.p10,
        "p50": fc.p50,
        "p90": fc.p90,
        "soft": fc.soft_limit,
        "hard": fc.hard_limit,
        "soft_cross": fc.soft_cross,
        "hard_cross": fc.hard_cross,
        "history_days": f.history_days,
        "days": days,
        "weights": f.weights,
        "track": track_frames(fc.track_record()),
    }


def track_frames(record: dict) -> dict:
    """The track record (models/budgets/forecast_track.py) as a summary, one row per past month (mean
    absolute error of p50 and of the run-rate over the as-of days, band hits) and one row per run."""
    runs = pd.DataFrame(
        [{"month": m["month"], "actual": m["actual_usd"], **r} for m in record["months"] for r in m["runs"]],
        columns=[
            "month",
            "actual",
            "as_of_day",
            "p10_usd",
            "p50_usd",
            "p90_usd",
            "error_pct",
            "in_band",
            "run_rate_usd",
            "run_rate_error_pct",
        ],
    )
    months = pd.DataFrame(
        {
            "month": [m["month"] for m in record["months"]],
            "p50": [_mean_abs([r["error_pct"] for r in m["runs"]]) for m in record["months"]],
            "run_rate": [_mean_abs([r["run_rate_error_pct"] for r in m["runs"]]) for m in record["months"]],
            "held": [sum(r["in_band"] for r in m["runs"]) for m in record["months"]],
            "runs": [len(m["runs"]) for m in record["months"]],
        }
    )
    return {"summary": record["summary"], "months": months, "runs": runs}


def _mean_abs(values: list) -> float | None:
    known = [abs(v) for v in values if v is not None]
    return sum(known) / len(known) if known else None


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def forecast_scopes(org_id: str, today: date) -> list[str]:
    """Projects worth forecasting: those with a limit, then those with spend in the last 60 days."""
    ensure_db()
    limited = [li.project_id for li in limits(org_id) if li.project_id]
    rows = spend(SpendQuery.make(org_id, today - timedelta(days=60), today + timedelta(days=1), by=("project",)))
    spending = sorted((r for r in rows if r.keys["project"] and r.cost > 0), key=lambda r: -r.cost)
    return list(dict.fromkeys(limited + [str(r.keys["project"]) for r in spending]))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def known_projects(org_id: str) -> set[str]:
    """Projects with any usage ever, for the never-used-project warnings."""
    ensure_db()
    return _scopes.projects_with_usage(org_id)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def budget_view(org_id: str, today: date) -> dict:
    """Limits with this month's spend, credit grants, owners, extra recipients and the webhook's host."""
    ensure_db()
    start = today.replace(day=1)
    rows = []
    for li in limits(org_id):
        spent = sum(billing.daily_spend(org_id, start, today + timedelta(days=1), li.project_id or None).values(), ZERO)
        base = li.soft_usd if li.soft_usd is not None else li.hard_usd
        rows.append(
            {
                "project": li.project_id,
                "spent": spent,
                "soft": li.soft_usd,
                "hard": li.hard_usd,
                "quota": li.quota_usd,
                "used": float(spent / base) if base else None,
                "thresholds": ", ".join(f"{p}%" for p in li.thresholds),
                "updated_by": li.updated_by,
                "updated_at": li.updated_at,
            }
        )
    grants = [
        {
            "id": g.id,
            "amount": g.amount_usd,
            "used": g.used_usd,
            "remaining": g.remaining_usd,
            "granted_on": g.granted_on,
            "expires_on": g.expires_on,
            "state": g.state,
            "note": g.note,
        }
        for g in credit_status(org_id, today)
    ]
    with session_scope() as session:
        owners = owner_emails(session, org_id)
    return {
        "limits": rows,
        "grants": grants,
        "owners": owners,
        "recipients": [{"rule": r.rule, "email": r.email} for r in recipients(org_id)],
        "webhook": redact_url(webhook_url(org_id)),
    }


@st.cache_data(ttl=15, show_spinner=False)
def alert_history(org_id: str, limit: int = 500) -> pd.DataFrame:
    """Every alert of the org and the state of each message, newest first."""
    ensure_db()
    columns = [
        "created_at",
        "rule",
        "project_id",
        "threshold",
        "period",
        "channel",
        "recipient",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
        "summary",
        "delivery_id",
    ]
    return pd.DataFrame(history([org_id], limit=limit), columns=columns)


def pick_history(history: pd.DataFrame, statuses=(), rules=(), timezone: str | None = None) -> pd.DataFrame:
    """The alerts with any of `statuses` and `rules` (all when empty), times shown in the org's zone
    (the next attempt only where a message still waits for one)."""
    mask = pd.Series(True, index=history.index)
    if statuses:
        mask &= history["status"].isin(list(statuses))
    if rules:
        mask &= history["rule"].isin(list(rules))
    shown = history[mask]
    zone = ZoneInfo(timezone or "UTC")
    local: dict[str, Any] = {  # column -> values (a Series, or a list with None where no time applies)
        c: shown[c].map(lambda v: v.astimezone(zone).replace(tzinfo=None) if v is not None and v == v else None)
        for c in ("created_at", "next_attempt_at", "sent_at")
    }
    local["next_attempt_at"] = [
        n if s == "pending" else None for n, s in zip(local["next_attempt_at"], shown["status"])
    ]
    return shown.assign(**local)
