"""Provider-side action against a real local Admin API server: listed Anthropic keys are switched off
at the hard limit and on again below it, once each, audited and emailed; failures retried."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from models.access.roles import Actor, PermissionDenied
from models.budgets.key_links import key_actions, key_links, link_key, unlink_key
from models.budgets.limits import set_limit
from models.db import get_engine, session_scope
from models.settings import reset_settings
from models.sources import add_source
from models.tables import AuditLog, ProviderKeyAction
from models.validation import ValidationError
from tests.anthropic_admin import ADMIN_KEY, AdminServer
from tests.factories import add_usage, make_org, usage
from worker.key_actions import enforce

NOW = datetime(2026, 3, 20, 15, 0, tzinfo=UTC)
CLI = Actor.cli()
TOKENS_PER_USD = 400_000  # gpt-4o input: $2.50 per million tokens
KEY_A, KEY_B = "apikey_01Rj2N8SVvo6BePZj99NhmiT", "apikey_02Xk7Q1bcdEfGhIjKlMnOpQr"


def spend(org_id: str, usd: float, at: datetime = NOW - timedelta(hours=1), project: str = "") -> None:
    add_usage(usage(org_id, at, model="gpt-4o", project_id=project, input_tokens=int(usd * TOKENS_PER_USD)))


@pytest.fixture
def admin(monkeypatch):
    server = AdminServer({KEY_A: "active", KEY_B: "active"}).start()
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", ADMIN_KEY)
    monkeypatch.setenv("SPENDSIGHT_ALLOWED_BASE_URLS", server.base_url)
    yield server
    server.stop()


@pytest.fixture
def org(admin):
    make_org("org-a", name="Acme", owners=("ana@example.com",), readers=("rita@example.com",))
    with session_scope() as session:
        add_source(session, CLI, "org-a", "anthropic", "ANTHROPIC_ADMIN_KEY", admin.base_url, name="acme-anthropic")
    set_limit(CLI, "org-a", hard=100)
    link_key(CLI, "org-a", None, "acme-anthropic", KEY_A)
    return "org-a"


def audit_actions(org_id: str) -> list[str]:
    with session_scope() as session:
        rows = session.exec(select(AuditLog).where(AuditLog.org_id == org_id).order_by(AuditLog.id)).all()
        return [r.action for r in rows]


def test_key_is_switched_off_at_the_hard_limit_once_and_owners_are_told(org, admin, smtp):
    spend(org, 60)
    assert enforce(now=NOW) == []  # under the limit: nothing to do
    assert admin.updates == []

    spend(org, 45)  # $105 of $100
    [outcome] = enforce(now=NOW)
    assert (outcome.api_key_id, outcome.action, outcome.ok) == (KEY_A, "deactivate", True)
    assert admin.keys[KEY_A] == "inactive" and admin.keys[KEY_B] == "active"  # only the listed key
    assert enforce(now=NOW) == [] and enforce(now=NOW + timedelta(minutes=5)) == []
    assert admin.updates == [(KEY_A, "inactive")]  # once, not on every pass

    [link] = key_links(CLI, org)
    assert link.state == "inactive"
    assert "limit.key_deactivate" in audit_actions(org)
    [mail] = smtp.messages_to("ana@example.com")
    assert KEY_A in str(mail["Subject"]) and "switched off" in str(mail["Subject"])
    assert "$105.00 of $100.00" in mail.get_body(("plain",)).get_content()
    assert all(h.get("x-api-key") == ADMIN_KEY for h in admin.headers_seen)


def test_key_comes_back_when_the_limit_is_raised_and_at_the_next_month(org, admin, smtp):
    spend(org, 120)
    enforce(now=NOW)
    set_limit(CLI, org, hard=200)  # raised above spend
    [outcome] = enforce(now=NOW)
    assert (outcome.action, outcome.ok) == ("reactivate", True)
    assert admin.keys[KEY_A] == "active"

    set_limit(CLI, org, hard=100)
    enforce(now=NOW)
    assert admin.keys[KEY_A] == "inactive"
    next_month = datetime(2026, 4, 1, 0, 30, tzinfo=UTC)  # nothing spent in April yet
    [outcome] = enforce(now=next_month)
    assert (outcome.action, outcome.ok) == ("reactivate", True)
    assert admin.updates == [(KEY_A, "inactive"), (KEY_A, "active"), (KEY_A, "inactive"), (KEY_A, "active")]
    subjects = [str(m["Subject"]) for m in smtp.messages_to("ana@example.com")]
    assert sum("switched off" in s for s in subjects) == 2 and sum("switched back on" in s for s in subjects) == 2


def test_only_keys_spendsight_switched_off_are_switched_on(org, admin):
    admin.keys[KEY_B] = "inactive"  # the owner's own decision, outside Spendsight
    link_key(CLI, org, None, "acme-anthropic", KEY_B)  # listed while already off: we assume "active"
    enforce(now=NOW)  # under the limit: we never switch a key on that we did not switch off... and B
    # is recorded as active (what we last set is nothing), so below the limit nothing is called.
    assert admin.updates == []
    assert admin.keys[KEY_B] == "inactive"


def test_a_project_limit_switches_only_its_keys(org, admin):
    set_limit(CLI, org, hard=1000)
    set_limit(CLI, org, "search", hard=10)
    link_key(CLI, org, "search", "acme-anthropic", KEY_B)
    spend(org, 15, project="search")
    [outcome] = enforce(now=NOW)
    assert (outcome.project_id, outcome.api_key_id, outcome.action) == ("search", KEY_B, "deactivate")
    assert admin.keys == {KEY_A: "active", KEY_B: "inactive"}


def test_a_failed_call_is_recorded_mailed_once_and_retried(org, admin, smtp):
    spend(org, 150)
    admin.fail_next = 3
    for minute in range(3):
        [outcome] = enforce(now=NOW + timedelta(minutes=minute))
        assert not outcome.ok and "HTTP 500" in outcome.error
    assert admin.keys[KEY_A] == "active"
    with session_scope() as session:
        rows = session.exec(select(ProviderKeyAction)).all()
        assert [(r.action, r.ok) for r in rows] == [("deactivate", False)]  # one row for the same failure
    failures = [m for m in smtp.messages_to("ana@example.com") if "could not" in str(m["Subject"])]
    assert len(failures) == 1

    [outcome] = enforce(now=NOW + timedelta(minutes=3))
    assert outcome.ok and admin.keys[KEY_A] == "inactive"
    history = key_actions(CLI, org)
    assert [(a.action, a.ok) for a in history] == [("deactivate", True), ("deactivate", False)]


def test_the_operator_policy_is_checked_again_when_the_key_is_read(org, admin, monkeypatch):
    spend(org, 150)
    monkeypatch.setenv("SPENDSIGHT_ALLOWED_BASE_URLS", "https://llm-proxy.example.com")

    reset_settings()
    [outcome] = enforce(now=NOW)  # the source's local URL is no longer allowed: no call, no key sent
    assert not outcome.ok and "is not allowed" in outcome.error
    assert admin.headers_seen == []


def test_the_admin_key_never_leaves_the_server(org, admin, smtp, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", ADMIN_KEY + "-wrong")  # the API refuses it: 401
    spend(org, 150)
    [outcome] = enforce(now=NOW)
    assert not outcome.ok and "401" in outcome.error
    with get_engine().connect() as conn:
        dump = json.dumps(
            [
                list(map(str, r))
                for t in ("provider_key_action", "audit_log", "alert_event")
                for r in conn.exec_driver_sql(f"SELECT * FROM {t}")
            ]
        )
    assert ADMIN_KEY not in dump
    assert smtp.received and all(ADMIN_KEY not in m.as_string() for _, m in smtp.received)


def test_members_who_are_not_owners_cannot_list_keys(org, admin):
    make_org("org-b", owners=("bob@example.com",))
    with session_scope() as session:
        add_source(session, CLI, "org-b", "anthropic", "ANTHROPIC_B_ADMIN_KEY", admin.base_url, name="b-anthropic")
    with pytest.raises(PermissionDenied):
        link_key(Actor("rita@example.com"), org, None, "acme-anthropic", KEY_B)  # a reader
    with pytest.raises(PermissionDenied):
        link_key(Actor("bob@example.com"), org, None, "acme-anthropic", KEY_B)  # another org's owner
    with pytest.raises(PermissionDenied):
        key_links(Actor("mallory@example.com"), org)  # a member of no org
    # An owner of org-a may not act through org-b's admin key (its source), told the same as "no such source".
    with pytest.raises(ValidationError, match="has no source named 'b-anthropic'"):
        link_key(Actor("ana@example.com"), org, None, "b-anthropic", KEY_B)
    with pytest.raises(ValidationError, match="not an Anthropic API key id"):
        link_key(Actor("ana@example.com"), org, None, "acme-anthropic", "sk-ant-api03-secret")
    assert unlink_key(Actor("ana@example.com"), org, None, KEY_A)
    assert key_links(Actor("rita@example.com"), org) == []  # a reader sees ids, never keys


def test_cli_lists_keys_and_actions_as_json(org, admin, cli):
    spend(org, 150)
    enforce(now=NOW)
    code, out, err = cli("limit", "key", "list", "--org", org, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["keys"] == [{"project": "", "key_id": KEY_A, "source": "acme-anthropic", "state": "inactive"}]
    assert [(a["action"], a["ok"]) for a in data["actions"]] == [("deactivate", True)]
    code, out, err = cli("limit", "key", "add", "--org", org, "--key-id", "nope", "--source", "acme-anthropic")
    assert code == 2 and "not an Anthropic API key id" in err and out == ""
