"""What the gateway checks before forwarding, held in memory: keys, upstreams, limits and month-to-date
spend per scope, re-read from the database every few seconds and raised at once by the gateway's own
recorded costs (so other sources and replicas count within one refresh, its own requests at once).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import Engine
from sqlmodel import Session

from models.budgets import billing
from models.budgets.credits import credit_status
from models.budgets.limits import Limit, limits
from models.gateway import (
    GatewayIdentity,
    UpstreamView,
    find_key,
    key_identities,
    lock_budget,
    set_spent,
    upstream_allowed,
    upstreams,
)
from models.settings import SettingsError, get_settings
from models.spend.queries import SpendQuery, spend
from models.spend.rollups import org_timezone
from models.units import usd_to_micros

log = logging.getLogger("spendsight.gateway")
Scope = tuple[str, str]  # (org_id, project_id); "" is the whole organization


@dataclass
class OrgState:
    period: str = ""  # YYYY-MM in the org's zone
    limits: dict[str, Limit] = field(default_factory=dict)  # project_id ("" org-wide) -> limit
    spent: dict[str, int] = field(default_factory=dict)  # project_id -> micros recorded this month
    credit_exhausted: bool = False


@dataclass(frozen=True)
class Upstream:
    base_url: str
    key: str  # the provider key's value: held in memory only, never logged or stored

    def __repr__(self) -> str:  # never print the key
        return f"Upstream({self.base_url!r})"


def _micros(value: Decimal | None) -> int | None:
    return None if value is None else usd_to_micros(value)


class GatewayState:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.keys: dict[str, GatewayIdentity] = {}
        self.upstreams: dict[tuple[str, str], Upstream] = {}
        self.orgs: dict[str, OrgState] = {}
        # Costs of the gateway's own requests not yet in the database, per scope (added at once,
        # removed when their usage rows commit): spend = database + pending.
        self.pending: dict[Scope, int] = defaultdict(int)
        self.pending_lock = threading.Lock()
        # Serializes a refresh with a flush, so a batch is counted either in the database or pending.
        self.io_lock = threading.Lock()
        self.loaded = False

    # --- the request path (event loop, no I/O) ------------------------------------------------

    def key(self, sha: str) -> GatewayIdentity | None:
        return self.keys.get(sha)

    def rejection(self, org_id: str, project_id: str) -> tuple[str, str] | None:
        """(reason, scope project) when the org or project may not spend more; None to forward."""
        org = self.orgs.get(org_id)
        if org is None:
            return None
        for scope in ("", project_id) if project_id else ("",):
            limit = org.limits.get(scope)
            if limit is None:
                continue
            spent = self.spent(org_id, scope)
            hard, quota = _micros(limit.hard_usd), _micros(limit.quota_usd)
            if hard is not None and spent >= hard:
                return "hard_limit_reached", scope
            if quota is not None and spent >= quota:
                return "quota_reached", scope
        if org.credit_exhausted:
            return "credit_exhausted", ""
        return None

    def strict_scopes(self, org_id: str, project_id: str) -> list[tuple[str, str, int]]:
        """(project scope, period, hard micros) of every strict limit the request falls under."""
        org = self.orgs.get(org_id)
        if org is None:
            return []
        out = []
        for scope in ("", project_id) if project_id else ("",):
            limit = org.limits.get(scope)
            if limit is not None and limit.strict and limit.hard_usd is not None:
                out.append((scope, org.period, usd_to_micros(limit.hard_usd)))
        return out

    def spent(self, org_id: str, project_id: str) -> int:
        org = self.orgs.get(org_id)
        recorded = org.spent.get(project_id, 0) if org else 0
        return recorded + self.pending.get((org_id, project_id), 0)

    def add_pending(self, scopes: list[Scope], micros: int) -> None:
        if micros:
            with self.pending_lock:
                for scope in scopes:
                    self.pending[scope] += micros

    def settle_pending(self, scopes: list[Scope], micros: int) -> None:
        """A batch committed: move its cost from pending into the recorded snapshot. Only removing it
        from pending would lose it until the next refresh whenever the snapshot was read just before
        the commit (refresh and flush take turns on io_lock, in either order): for up to a refresh
        interval the scope would look under its limit again."""
        if micros:
            with self.pending_lock:
                for org_id, project_id in scopes:
                    self.pending[(org_id, project_id)] -= micros
                    org = self.orgs.get(org_id)
                    if org is not None:
                        org.spent[project_id] = org.spent.get(project_id, 0) + micros

    # --- refresh (a thread) -----------------------------------------------------------------------

    def lookup_key(self, sha: str) -> GatewayIdentity | None:
        """A key created since the last refresh: read it now (revocations wait for the refresh)."""
        with self.engine.connect() as conn:
            found = find_key(conn, sha)
        if found is not None:
            self.keys[sha] = found
        return found

    def refresh(self) -> None:
        with self.engine.connect() as conn:
            keys = key_identities(conn)
            ups = upstreams(conn)
        self.keys = keys
        self.upstreams = self._resolve_upstreams(ups)
        orgs = sorted({k.org_id for k in keys.values() if not k.revoked})
        fresh: dict[str, OrgState] = {}
        with self.io_lock:
            for org_id in orgs:
                fresh[org_id] = self._org_state(org_id)
            self.orgs = fresh
        self.loaded = True

    def _resolve_upstreams(self, ups: dict[tuple[str, str], UpstreamView]) -> dict[tuple[str, str], Upstream]:
        settings = get_settings()
        out = {}
        with Session(self.engine) as session:
            allowed = {scope for scope, view in ups.items() if upstream_allowed(session, view)}
            session.commit()  # (a binding made for an upstream stored before bindings existed)
        for scope, view in ups.items():
            if scope not in allowed:
                log.warning("gateway: the operator's policy no longer allows %s for %s", view.key_env, scope[0])
                continue
            try:
                out[scope] = Upstream(view.base_url.rstrip("/"), settings.secret(view.key_env).get_secret_value())
            except SettingsError:
                log.warning("gateway: %s is not set; %s requests of %s fail", view.key_env, scope[1], scope[0])
        return out

    def _org_state(self, org_id: str) -> OrgState:
        with self.engine.connect() as conn:
            timezone = org_timezone(conn, org_id).key
        today = billing.local_today(timezone)
        start, end = billing.month_bounds(today.year, today.month)
        state = OrgState(period=billing.month_label(today.year, today.month))
        state.limits = {limit.project_id: limit for limit in limits(org_id)}
        # Strict scopes: hold their budget rows while reading spend, so a usage batch committing
        # meanwhile is counted exactly once (it settles on the same row, after this).
        strict = [p for p, limit in state.limits.items() if limit.strict and limit.hard_usd is not None]
        with self.engine.begin() as conn:
            for project in strict:
                lock_budget(conn, org_id, project, state.period)
            state.spent = self._month_spend(org_id, start, end)
            for project in strict:
                set_spent(conn, org_id, project, state.period, state.spent.get(project, 0))
        grants = credit_status(org_id, today)
        if grants and not any(g.state == "active" for g in grants):
            org_limit = state.limits.get("")
            billable = org_limit is not None and (org_limit.hard_usd is not None or org_limit.quota_usd is not None)
            state.credit_exhausted = not billable
        return state

    def _month_spend(self, org_id: str, start: object, end: object) -> dict[str, int]:
        rows = spend(SpendQuery.make(org_id, start, end, by=("project",)))  # type: ignore[arg-type]
        spent = {str(r.keys["project"]): usd_to_micros(r.cost.quantize(Decimal("0.000001"))) for r in rows}
        spent[""] = sum(spent.values())
        return spent
