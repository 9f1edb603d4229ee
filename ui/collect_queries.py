"""Cached reads for the Sources and Reconciliation pages (short TTLs: collection moves every minute)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import streamlit as st

from models import sources as _sources
from models.spend import reconcile as _reconcile
from ui.format import number, short_day, signed_percent
from ui.i18n import lang, t
from ui.queries import ensure_db

STATUS_TTL_SECONDS = 10
RECON_TTL_SECONDS = 60
OVERDUE_AFTER = timedelta(minutes=2)


@st.cache_data(ttl=STATUS_TTL_SECONDS, show_spinner=False)
def source_status(org_id: str) -> list[dict]:
    ensure_db()
    return _sources.source_status(org_id)


@st.cache_data(ttl=STATUS_TTL_SECONDS, show_spinner=False)
def endpoint_status(org_id: str) -> pd.DataFrame:
    ensure_db()
    return pd.DataFrame(
        _sources.endpoint_status(org_id),
        columns=["source", "endpoint", "collected_until", "last_rows", "last_error", "updated_at"],
    )


def next_run(row: dict, now: datetime | None = None) -> str:
    """When the worker will run a source next, in words (the worker writes next_run_at)."""
    now = now or datetime.now(UTC)
    if not row["enabled"]:
        return t("sources.next.disabled")
    if row["run_requested_at"] is not None:
        return t("sources.next.requested")
    if row["next_run_at"] is None:
        return t("sources.next.unknown")
    if row["next_run_at"] < now - OVERDUE_AFTER:
        return t("sources.next.overdue")
    return row["next_run_at"].strftime("%Y-%m-%d %H:%M:%S UTC")


def status_table(org_id: str) -> pd.DataFrame:
    """The Sources page's table: one row per source, times and states in words."""
    rows = []
    for r in source_status(org_id):
        rows.append(
            {
                "name": r["name"],
                "provider": r["provider"],
                "state": t("sources.enabled") if r["enabled"] else t("sources.disabled"),
                "key": t("sources.key_set" if r["key_set"] else "sources.key_missing", name=r["key_env"]),
                "last_run": r["last_run_at"],
                "last_success": r["last_success_at"],
                "last_rows": r["last_rows"],
                "rows_written": r["rows_written"],
                "last_error": r["last_error"],
                "next_run": next_run(r),
                "base_url": r["base_url"],
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "name",
            "provider",
            "state",
            "key",
            "last_run",
            "last_success",
            "last_rows",
            "rows_written",
            "last_error",
            "next_run",
            "base_url",
        ],
    )


def source_states(org_id: str) -> dict[str, bool]:
    """Source name -> enabled, for the manage controls."""
    return {r["name"]: r["enabled"] for r in source_status(org_id)}


def keys_missing(org_id: str) -> bool:
    """Whether some source's key variable is unset where the dashboard runs (its value is never read out)."""
    return any(not r["key_set"] for r in source_status(org_id))


@st.cache_data(ttl=RECON_TTL_SECONDS, show_spinner=False)
def reconciliation(
    org_id: str, start: date, end: date
) -> tuple[pd.DataFrame, pd.DataFrame, _reconcile.ReconcileTotals]:
    """(rows per day and project, totals per day, overall totals); amounts are Decimal USD."""
    ensure_db()
    rows = _reconcile.reconcile(org_id, start, end)
    frame = pd.DataFrame(rows, columns=list(_reconcile.RECONCILE_COLUMNS))
    return (
        frame,
        pd.DataFrame(_reconcile.by_day(rows), columns=["day", "estimated_usd", "billed_usd"]),
        _reconcile.totals(rows),
    )


CAUSE_COLUMNS = ("day", "provider", "project", "cause", "model", "amount_usd", "share_pct")


@st.cache_data(ttl=RECON_TTL_SECONDS, show_spinner=False)
def reconciliation_causes(org_id: str, start: date, end: date) -> tuple[pd.DataFrame, list[_reconcile.DayCause]]:
    """(each day and project's named causes with their part of the gap, each day's main cause)."""
    ensure_db()
    causes = _reconcile.explain(org_id, start, end)
    return pd.DataFrame(causes, columns=list(CAUSE_COLUMNS)), _reconcile.day_causes(causes)


def cause_sentence(row: _reconcile.DayCause) -> str:
    """ "92% of the gap on Nov 12 is gpt-5-pro usage with no price (1,234,567 tokens)." """
    cause = row["cause"]
    if cause == "price_change" and not row["since"]:
        cause = "price_differs"
    share = row["share_pct"]
    return t(
        f"recon.why.{cause}",
        pct="–" if share is None else f"{share:.0f}%",
        day=short_day(row["day"], lang()),
        model=row["model"],
        provider=row["provider"],
        tokens=number(row["tokens"]),
        tier=row["tier"],
        since=short_day(row["since"], lang()) if row["since"] else "",
        change=signed_percent(None if row["change_pct"] is None else row["change_pct"] / 100),
    )


def cause_label(cause: str) -> str:
    return t(f"recon.cause.{cause}")


def explained_days(daily: pd.DataFrame, days: list[_reconcile.DayCause], pct: float) -> list[str]:
    """Sentences for the days whose estimate and bill differ by more than pct percent (or that have no
    bill yet), newest first."""
    limit = Decimal(str(pct))
    drift = {
        str(r.day): _reconcile.drift_pct(Decimal(str(r.estimated_usd)), Decimal(str(r.billed_usd)))
        for r in daily.itertuples()
    }
    out = []
    for row in sorted(days, key=lambda r: r["day"], reverse=True):
        d = drift.get(row["day"])
        if row["cause"] == "not_billed" or (d is not None and abs(d) > limit):
            out.append(cause_sentence(row))
    return out


def flagged(frame: pd.DataFrame, pct: float) -> int:
    """How many rows drift more than pct percent (either way)."""
    limit = Decimal(str(pct))
    return sum(1 for v in frame["drift_pct"] if v is not None and v == v and abs(v) > limit)


def refresh() -> None:
    source_status.clear()
    endpoint_status.clear()
    reconciliation.clear()
    reconciliation_causes.clear()
