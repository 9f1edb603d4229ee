"""The server-side checks: every data-changing function refuses readers and other orgs' owners with a
clear message and changes nothing, and an owner's change writes one audit row with before and after."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlmodel import select

from alerts import send_test
from alerts.config import add_recipient, set_webhook
from models.access.orgs import remove_member_as, set_member, set_member_as, update_org_as
from models.access.roles import Actor, PermissionDenied
from models.budgets.credits import add_credit
from models.budgets.limits import set_limit
from models.db import session_scope, utcnow
from models.pricing.edit import set_override
from models.settings import get_settings, reset_settings
from models.sources import add_source, request_run
from models.tables import AuditLog
from tests.factories import make_org
from tests.pages.test_roles_pages import snapshot

OWNER = Actor("owner@example.com")
READER = Actor("reader@example.com")
OTHER_OWNER = Actor("bob@example.com")  # owns org-b only
STRANGER = Actor("nobody@example.com")
NEXT_YEAR = date.today() + timedelta(days=365)


def seed() -> None:
    make_org("org-a", name="Alpha", owners=("owner@example.com",), readers=("reader@example.com",))
    make_org("org-b", name="Bravo", owners=("bob@example.com",))


def _session_call(fn):
    def call(actor, *args, **kwargs):
        with session_scope() as session:
            return fn(session, actor, *args, **kwargs)

    return call


def _set_limit(actor):
    return set_limit(actor, "org-a", soft="100", hard="250")


def _add_credit(actor):
    return add_credit(actor, "org-a", "50", NEXT_YEAR, note="trial")


def _add_recipient(actor):
    return add_recipient(actor, "org-a", "finance@example.com")


@pytest.fixture(autouse=True)
def _webhook_host_allowed(monkeypatch):
    """The operator's allowance for the example webhook host (it does not resolve here)."""
    monkeypatch.setenv("SPENDSIGHT_ALLOWED_WEBHOOK_HOSTS", "hooks.example.com")
    reset_settings()


def _set_webhook(actor):
    return set_webhook(actor, "org-a", "https://hooks.example.com/services/T000/SECRETPATH")


def _set_member(actor):
    return set_member_as(actor, "org-a", "new@example.com", "reader")


def _promote_reader(actor):
    return set_member_as(actor, "org-a", "reader@example.com", "owner")


def _remove_member(actor):
    return remove_member_as(actor, "org-a", "reader@example.com")


def _update_org(actor):
    return update_org_as(actor, "org-a", name="Alpha Renamed")


def _add_source(actor):
    return _session_call(add_source)(actor, "org-a", "openai", "OPENAI_ADMIN_KEY", name="alpha-openai")


def _run_source(actor):
    with session_scope() as session:
        if not session.exec(select(AuditLog).where(AuditLog.action == "source.add")).first():
            add_source(session, Actor.cli(), "org-a", "openai", "OPENAI_ADMIN_KEY", name="alpha-openai")
    return _session_call(request_run)(actor, "alpha-openai")


def _price_override(actor):
    return set_override(actor, "openai", "ft:gpt-4o-mini:acme", {"input_mtok": "0.30", "output_mtok": "1.20"})


# (name, call, action, entity, before, after): before/after are the audit row's JSON, decoded.
CHANGES = [
    ("limit", _set_limit, "limit.set", "limit:*", None, {"soft_usd": "100", "hard_usd": "250"}),
    ("credit grant", _add_credit, "credit.add", None, None, {"amount_usd": "50", "note": "trial"}),
    (
        "alert recipient",
        _add_recipient,
        "alert.recipient.add",
        "recipient:*:finance@example.com",
        None,
        {"email": "finance@example.com"},
    ),
    ("webhook", _set_webhook, "alert.webhook.set", "webhook", None, "https://hooks.example.com/..."),
    ("member add", _set_member, "member.set", "new@example.com", None, {"role": "reader"}),
    ("member role", _promote_reader, "member.set", "reader@example.com", {"role": "reader"}, {"role": "owner"}),
    ("member remove", _remove_member, "member.remove", "reader@example.com", {"role": "reader"}, None),
    ("org rename", _update_org, "org.update", "org-a", {"name": "Alpha"}, {"name": "Alpha Renamed"}),
    ("source", _add_source, "source.add", "alpha-openai", None, {"key_env": "OPENAI_ADMIN_KEY", "provider": "openai"}),
    ("collection", _run_source, "source.run", "alpha-openai", None, None),
    (
        "price override",
        _price_override,
        "price.override",
        "openai/ft:gpt-4o-mini:acme",
        {},
        {"input_mtok": "0.30", "output_mtok": "1.20"},
    ),
]
IDS = [c[0] for c in CHANGES]


def audit_rows(action: str | None = None) -> list[AuditLog]:
    with session_scope() as session:
        query = select(AuditLog).order_by(AuditLog.id)
        if action:
            query = query.where(AuditLog.action == action)
        return list(session.exec(query))


def prices_text() -> str | None:
    path = get_settings().prices_file
    return path.read_text() if path.exists() else None


def _contains(got, want) -> bool:
    if isinstance(want, dict):
        return isinstance(got, dict) and all(str(got.get(k)) == str(v) for k, v in want.items())
    return got == want


@pytest.mark.parametrize("name, call, action, entity, before, after", CHANGES, ids=IDS)
def test_owner_change_is_audited_with_before_and_after(name, call, action, entity, before, after):
    seed()
    if name == "collection":
        call(Actor.cli())  # creates the source; the owner's run request is what is checked
    if name == "price override":  # prices apply to every org: the owner must own org-b too
        with session_scope() as session:
            set_member(session, "org-b", OWNER.email, "owner")
    start = utcnow()
    call(OWNER)
    rows = [r for r in audit_rows(action) if r.actor == OWNER.email and r.org_id == "org-a"]
    assert len(rows) == 1, f"{name}: expected one {action} row by the owner, got {len(rows)}"
    row = rows[0]
    assert row.at >= start - timedelta(seconds=1)
    if name != "price override":
        assert row.org_id == "org-a"
    if entity is not None:
        assert row.entity == entity
    got_before = json.loads(row.before) if row.before else None
    got_after = json.loads(row.after) if row.after else None
    assert _contains(got_before, before), f"{name}: before={got_before!r}"
    if after is not None:
        assert _contains(got_after, after), f"{name}: after={got_after!r}"


@pytest.mark.parametrize("actor", [READER, OTHER_OWNER, STRANGER], ids=["reader", "other-org-owner", "non-member"])
@pytest.mark.parametrize("name, call, action, entity, before, after", CHANGES, ids=IDS)
def test_others_are_refused_and_nothing_changes(name, call, action, entity, before, after, actor):
    seed()
    if name == "collection":
        call(Actor.cli())
    data, prices = snapshot(), prices_text()
    with pytest.raises(PermissionDenied) as refused:
        call(actor)
    message = str(refused.value)
    assert actor.email in message and ("owner" in message or "not a member" in message), message
    assert snapshot() == data, f"{name}: a refused change still changed the database"
    assert prices_text() == prices, f"{name}: a refused change still wrote prices.toml"


def test_readers_cannot_send_a_test_alert():
    seed()
    data = snapshot()
    with pytest.raises(PermissionDenied, match="reader"):
        send_test(READER, "org-a")
    assert snapshot() == data


def test_prices_need_an_owner_of_every_org():
    """Prices apply to all organizations, so owning one of them is not enough."""
    seed()
    with pytest.raises(PermissionDenied, match="org-b"):
        _price_override(OWNER)
    with session_scope() as session:
        set_member(session, "org-b", OWNER.email, "owner")
    _price_override(OWNER)
    assert {r.org_id for r in audit_rows("price.override")} == {"org-a", "org-b"}


def test_audit_rows_never_hold_the_webhook_path():
    seed()
    _set_webhook(OWNER)
    assert all("SECRETPATH" not in (r.before + r.after + r.entity) for r in audit_rows())
