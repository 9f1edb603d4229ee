"""Addresses, time zones and sign-in limits under hostile input and parallel attempts."""

from __future__ import annotations

import threading
from zoneinfo import available_timezones

import pytest
from sqlalchemy import text

import models.spend.rollups as rollups
from alerts.config import add_recipient, recipients
from models.access import auth
from models.access.orgs import members, set_member_as, update_org_as
from models.access.roles import Actor
from models.db import get_engine, session_scope
from models.tables import Organization
from models.validation import ValidationError, timezones, validate_email, validate_timezone
from tests.factories import add_usage, make_org, usage

CLI = Actor.cli()
HOSTILE_EMAILS = [
    "ceo,attacker@evil.example",
    "ceo@example.com,attacker@evil.example",
    "CEO <ceo@example.com>",
    "ceo@example.com\nBcc: attacker@evil.example",
    "ceo@example.com\x00",
    "ceo@@example.com",
    "ceo@example..com",
    "ceo@-example.com",
    "",
    "@example.com",
]


@pytest.mark.parametrize("email", HOSTILE_EMAILS)
def test_hostile_addresses_are_refused(email):
    with pytest.raises(ValidationError, match="not a valid address"):
        validate_email(email)


def test_addresses_are_normalised():
    assert validate_email("  Ana@Example.COM ") == "ana@example.com"
    assert validate_email("ana+alerts@sub.example.com") == "ana+alerts@sub.example.com"


def test_no_service_stores_a_list_of_addresses():
    make_org("org-e", owners=("owner@example.com",))
    owner = Actor("owner@example.com")
    for store in (
        lambda e: set_member_as(owner, "org-e", e, "reader"),
        lambda e: add_recipient(owner, "org-e", e),
        lambda e: _add_user(e),
    ):
        with pytest.raises(ValidationError):
            store("ceo,attacker@evil.example")
    with session_scope() as session:
        assert [m.email for m in members(session, "org-e")] == ["owner@example.com"]
        assert auth.list_users(session) == []
    assert recipients("org-e") == []


def _add_user(email: str) -> None:
    with session_scope() as session:
        auth.add_user(session, CLI, email, "a long enough password")


def test_cli_refuses_a_list_of_addresses(cli):
    make_org("org-e", owners=("owner@example.com",))
    for args in (
        ("member", "add", "--org", "org-e", "--email", "ceo,attacker@evil.example"),
        ("user", "add", "--email", "ceo,attacker@evil.example"),
    ):
        code, _, err = cli(*args, input="a long enough password\na long enough password\n")
        assert code == 2, (args, err)
        assert "not a valid address" in err


# --- time zones ----------------------------------------------------------------------------


def test_the_zone_list_is_iana_names_only():
    zones = timezones()
    assert "Europe/Berlin" in zones and "UTC" in zones
    for bad in ("posixrules", "localtime", "Factory", "right/UTC", "posix/Europe/Berlin"):
        assert bad not in zones
        with pytest.raises(ValidationError, match="time zone"):
            validate_timezone(bad)
    assert set(zones) <= available_timezones()
    for bad in ("../../etc/passwd", "Europe/Nowhere", "\x00"):
        with pytest.raises(ValidationError):
            validate_timezone(bad)


def _daily(org_id: str) -> list[tuple]:
    with get_engine().connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text("SELECT day, input_tokens FROM rollup_daily WHERE org_id = :o ORDER BY day"), {"o": org_id}
            )
        ]


def test_a_zone_change_and_its_rebuild_commit_together(monkeypatch):
    make_org("org-z", owners=("owner@example.com",))
    add_usage(usage("org-z", "2026-11-10T23:30:00Z", model="gpt-4o", input_tokens=100))
    before = _daily("org-z")
    assert [d for d, _ in before] and str(before[0][0]).startswith("2026-11-10")

    def broken(*args, **kwargs):
        raise RuntimeError("the rebuild failed")

    monkeypatch.setattr(rollups, "refresh", broken)
    with pytest.raises(RuntimeError):
        update_org_as(Actor("owner@example.com"), "org-z", timezone="Asia/Tokyo")
    with session_scope() as session:
        assert session.get(Organization, "org-z").timezone == "UTC"  # nothing half-done
    assert _daily("org-z") == before
    monkeypatch.undo()
    update_org_as(Actor("owner@example.com"), "org-z", timezone="Asia/Tokyo")
    after = _daily("org-z")
    assert str(after[0][0]).startswith("2026-11-11") and after[0][1] == 100  # 08:30 the next day in Tokyo


def test_a_rename_keeps_the_zone():
    make_org("org-r", timezone="America/New_York", owners=("owner@example.com",))
    update_org_as(Actor("owner@example.com"), "org-r", name="Renamed")
    with session_scope() as session:
        org = session.get(Organization, "org-r")
        assert (org.name, org.timezone) == ("Renamed", "America/New_York")


# --- sign-in -------------------------------------------------------------------------------


@pytest.mark.parametrize("client", [None, "203.0.113.9"])
def test_parallel_wrong_passwords_lock_the_account_after_five(client):
    with session_scope() as session:
        auth.add_user(session, CLI, "ana@example.com", "correct horse battery")
    results: list[auth.SignIn] = []
    lock = threading.Lock()
    start = threading.Barrier(12)

    def guess(i: int) -> None:
        start.wait()
        outcome = auth.authenticate("ana@example.com", f"wrong guess {i:02}", client=client)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wrong = [r for r in results if r.error == auth.WRONG_CREDENTIALS]
    refused = [r for r in results if r.retry_after is not None]
    assert (len(wrong), len(refused)) == (auth.MAX_FAILURES, 12 - auth.MAX_FAILURES)
    assert not auth.authenticate("ana@example.com", "correct horse battery", client=client).ok
