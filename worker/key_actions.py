"""Provider-side action: switch listed Anthropic API keys off at a hard limit, and on again below it.

For traffic that does not pass through the gateway (which rejects requests itself). A key listed
under a limit (models/budgets/key_links.py) is set "inactive" through the Admin API once the scope's
month-to-date spend reaches its hard limit, and "active" again when spend is under the limit (the
next month, or the limit raised or cleared). Only keys Spendsight switched off are switched back on.
Each switch is recorded, audited and emailed to the owners; a failed call is recorded and emailed
once a month per key, and tried again on the next pass.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import alerts
from collectors.anthropic.keys import KeyActionError, KeyStatus, set_key_status
from models.access.orgs import get_org
from models.access.policy import PolicyError, check_base_url, check_key_env_at_run
from models.budgets import billing
from models.budgets.key_links import linked_scopes, note_action
from models.budgets.limits import get_limit
from models.db import session_scope
from models.settings import SettingsError, get_settings
from models.tables import ProviderKeyLink, Source

log = logging.getLogger("spendsight.keys")


@dataclass
class Outcome:
    org_id: str
    project_id: str
    api_key_id: str
    action: str  # deactivate | reactivate
    ok: bool
    error: str = ""


def _usd(value: Decimal) -> str:
    return f"${value:,.2f}"


def _switch(link: ProviderKeyLink, status: KeyStatus) -> None:
    """One Admin API call with the admin key of the link's own source (checked to be the same org's)."""
    with session_scope() as session:
        source = session.get(Source, link.source_id)
        if source is None or source.org_id != link.org_id or source.provider != "anthropic":
            raise KeyActionError("the source that holds the admin key is gone or is not this org's anthropic source")
        try:  # the operator's policy, checked again at the moment a key is read (as a collection does)
            check_key_env_at_run(session, org_id=link.org_id, name=source.key_env)
            base_url = check_base_url(source.base_url, "anthropic")
        except PolicyError as exc:
            raise KeyActionError(str(exc)) from None
        key_env = source.key_env
    try:
        secret = get_settings().secret(key_env).get_secret_value()
    except SettingsError as exc:
        raise KeyActionError(str(exc)) from None
    set_key_status(base_url, secret, link.api_key_id, status)


def _scope_spend(org_id: str, project_id: str, now: datetime) -> tuple[Decimal, Decimal | None, str]:
    """(month-to-date spend, hard limit or None, month label) of one limit scope, in the org's zone."""
    with session_scope() as session:
        timezone = get_org(session, org_id).timezone
    today = billing.local_today(timezone, now)
    daily = billing.daily_spend(org_id, today.replace(day=1), today + timedelta(days=1), project_id or None)
    limit = get_limit(org_id, project_id or None)
    return sum(daily.values(), Decimal(0)), limit.hard_usd if limit else None, today.strftime("%Y-%m")


def enforce(org_ids: Iterable[str] | None = None, now: datetime | None = None) -> list[Outcome]:
    """Bring every listed key in line with its limit; returns what was tried. Never raises for one org."""
    now = now or datetime.now(UTC)
    wanted = set(org_ids) if org_ids is not None else None
    outcomes: list[Outcome] = []
    for org_id, links in linked_scopes().items():
        if wanted is not None and org_id not in wanted:
            continue
        try:
            outcomes += _enforce_org(org_id, links, now)
        except Exception:  # one org's trouble must not stop the others
            log.exception("provider key action failed for %s", org_id)
    return outcomes


def _enforce_org(org_id: str, links: list[ProviderKeyLink], now: datetime) -> list[Outcome]:
    by_scope: dict[str, list[ProviderKeyLink]] = defaultdict(list)
    for link in links:
        by_scope[link.project_id].append(link)
    outcomes = []
    for project_id, scope_links in sorted(by_scope.items()):
        spent, hard, month = _scope_spend(org_id, project_id, now)
        over = hard is not None and spent >= hard
        for link in scope_links:
            if link.state == ("inactive" if over else "active"):
                continue
            outcomes.append(_act(link, over, spent, hard, month, now))
    return outcomes


def _act(link: ProviderKeyLink, over: bool, spent: Decimal, hard: Decimal | None, month: str, now: datetime) -> Outcome:
    status: KeyStatus = "inactive" if over else "active"
    action = "deactivate" if over else "reactivate"
    scope = link.project_id or "the organization"
    if over:
        assert hard is not None
        reason = f"hard limit of {scope} reached: {_usd(spent)} of {_usd(hard)} in {month}"
    elif hard is None:
        reason = f"the hard limit of {scope} was removed"
    else:
        reason = f"spend of {scope} is under its hard limit again: {_usd(spent)} of {_usd(hard)} in {month}"
    facts: dict[str, object] = {"api_key_id": link.api_key_id, "spent_usd": spent, "hard_limit_usd": hard}
    try:
        _switch(link, status)
    except KeyActionError as exc:
        error = str(exc)
        note_action(link, action, reason, ok=False, error=error)
        log.warning("could not %s %s for %s: %s", action, link.api_key_id, link.org_id, error)
        headline = f"could not {action} Anthropic key {link.api_key_id} ({reason})"
        # Once a month per key and action: a lever that keeps failing is news once, not every minute.
        candidate = alerts.Candidate(
            link.org_id,
            link.project_id,
            "key_action_failed",
            0,
            f"{month}/k{link.id}/{action}",
            headline,
            facts | {"error": error},
        )
        alerts.notify(link.org_id, [candidate], now)
        return Outcome(link.org_id, link.project_id, link.api_key_id, action, False, error)
    action_id = note_action(link, action, reason, ok=True)
    verb = "switched off" if over else "switched back on"
    log.info("%s Anthropic key %s for %s: %s", verb, link.api_key_id, link.org_id, reason)
    candidate = alerts.Candidate(
        link.org_id,
        link.project_id,
        "key_action",
        0,
        f"action-{action_id}",
        f"Anthropic key {link.api_key_id} {verb}: {reason}",
        facts | {"key_status": status},
    )
    alerts.notify(link.org_id, [candidate], now)
    return Outcome(link.org_id, link.project_id, link.api_key_id, action, True)
