"""Member preferences and invitations in the service layer: own choices only, validated, audited;
a link works once, until it expires, and not after a newer one replaced it (run on both backends)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from models.access import auth
from models.access.invites import (
    InviteError,
    accept_invite,
    account_status,
    check_invite,
    create_invite,
)
from models.access.preferences import DEFAULT, get_preferences, saved_preferences, set_preferences
from models.access.roles import Actor, PermissionDenied
from models.db import session_scope, utcnow
from models.tables import AuditLog, Invite, User
from models.validation import ValidationError
from tests.factories import make_org

ANA, RITA = Actor("ana@example.com"), Actor("rita@example.com")
PASSWORD = "a long new password"


def test_a_member_saves_their_own_language_and_currency_and_nobody_elses():
    assert get_preferences("ana@example.com") == DEFAULT and saved_preferences("ana@example.com") is None
    assert set_preferences(ANA, "Ana@Example.com", lang="zh", currency="cny").currency == "CNY"
    assert get_preferences("ana@example.com") == saved_preferences("ana@example.com")
    assert (get_preferences("ana@example.com").lang, get_preferences("ana@example.com").currency) == ("zh", "CNY")
    with pytest.raises(PermissionDenied):
        set_preferences(RITA, "ana@example.com", lang="en")  # forged: someone else's choice
    for bad in ({"lang": "fr"}, {"currency": "EUR"}, {"lang": "zh'; drop table"}):
        with pytest.raises(ValidationError):
            set_preferences(ANA, "ana@example.com", **bad)
    assert get_preferences("ana@example.com").lang == "zh"
    set_preferences(ANA, "ana@example.com", lang="zh")  # unchanged: no audit row
    with session_scope() as session:
        rows = session.exec(select(AuditLog).where(AuditLog.action == "user.preferences")).all()
    assert len(rows) == 1 and rows[0].actor == "ana@example.com" and '"CNY"' in rows[0].after


@pytest.fixture
def org():
    return make_org("org-a", owners=("ana@example.com",), readers=("rita@example.com", "new@example.com"))


def test_an_owner_invites_a_member_without_an_account_and_the_link_works_once(org):
    assert account_status(org)["new@example.com"] == "none"
    invite = create_invite(ANA, org, "new@example.com")
    assert account_status(org)["new@example.com"] == "invited"
    with session_scope() as session:
        row = session.exec(select(Invite)).one()
    assert row.token_sha256 != invite.token and invite.token not in row.token_sha256  # stored hashed
    assert check_invite(invite.token) == "new@example.com"
    with pytest.raises(ValidationError):
        accept_invite(invite.token, "short")  # the password rules apply; the link stays usable
    session_token = accept_invite(invite.token, PASSWORD)
    assert auth.check_session(session_token)[0].email == "new@example.com"
    assert account_status(org)["new@example.com"] == "account"
    assert auth.authenticate("new@example.com", PASSWORD).ok
    with pytest.raises(InviteError) as used:
        accept_invite(invite.token, "another long password")
    assert used.value.reason == "used"


def test_invitations_expire_and_a_newer_one_replaces_the_older(org):
    old = create_invite(ANA, org, "new@example.com", now=utcnow() - timedelta(hours=2), lifetime=timedelta(hours=1))
    with pytest.raises(InviteError) as expired:
        accept_invite(old.token, PASSWORD)
    assert expired.value.reason == "expired"
    first = create_invite(ANA, org, "new@example.com")
    second = create_invite(ANA, org, "new@example.com")
    with pytest.raises(InviteError) as replaced:
        check_invite(first.token)
    assert replaced.value.reason == "replaced"
    with pytest.raises(InviteError) as unknown:
        check_invite("made-up-token")
    assert unknown.value.reason == "unknown"
    accept_invite(second.token, PASSWORD)
    with session_scope() as session:
        assert session.exec(select(User.email)).all() == ["new@example.com"]


def test_only_owners_invite_and_only_members_without_an_account(org):
    with pytest.raises(PermissionDenied):
        create_invite(RITA, org, "new@example.com")  # a reader, forging the owner's action
    with pytest.raises(ValidationError, match="not a member"):
        create_invite(ANA, org, "stranger@example.com")
    with session_scope() as session:
        auth.add_user(session, Actor.cli(), "rita@example.com", PASSWORD)
    with pytest.raises(ValidationError, match="already has an account"):
        create_invite(ANA, org, "rita@example.com")
    with session_scope() as session:
        assert session.exec(select(Invite)).all() == []
        actions = session.exec(select(AuditLog.action)).all()
    assert "member.invite" not in actions
