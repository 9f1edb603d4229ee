"""Sign-in: argon2 passwords, server-side sessions that expire and can be revoked, rate-limited failures."""

from datetime import timedelta

import pytest
from sqlmodel import select

from demo import DEMO_MEMBERS, DEMO_PASSWORDS, load_demo_logins
from models.access import auth
from models.access.roles import Actor, PermissionDenied
from models.db import session_scope, utcnow
from models.tables import AuditLog, UserSession
from models.validation import ValidationError

PASSWORD = "correct horse battery"


def add(email="ana@example.com", password=PASSWORD):
    with session_scope() as session:
        auth.add_user(session, Actor.cli(), email, password)


def test_password_is_stored_as_argon2id_hash_only():
    add("Ana@Example.com")
    with session_scope() as session:
        user = auth.get_user(session, "ana@example.com")
        assert user.email == "ana@example.com"
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        row = session.exec(select(AuditLog).where(AuditLog.action == "user.add")).one()
        assert row.entity == "ana@example.com" and PASSWORD not in row.after + row.before


def test_right_password_starts_a_session_and_wrong_or_unknown_are_refused_alike():
    add()
    good = auth.authenticate("ANA@example.com ", PASSWORD)
    assert good.ok
    actor, status = auth.check_session(good.token)
    assert (actor, status) == (Actor("ana@example.com"), "ok")
    wrong = auth.authenticate("ana@example.com", PASSWORD + "!")
    unknown = auth.authenticate("bob@example.com", PASSWORD)
    assert not wrong.ok and not unknown.ok
    assert wrong.error == unknown.error == "Wrong email or password."
    assert auth.check_session("not-a-token") == (None, "unknown")
    assert auth.check_session(None) == (None, "unknown")


def test_tokens_are_kept_only_as_sha256():
    add()
    token = auth.authenticate("ana@example.com", PASSWORD).token
    with session_scope() as session:
        stored = session.exec(select(UserSession)).one()
    assert stored.token_sha256 != token and token not in stored.token_sha256
    assert len(stored.token_sha256) == 64


def test_passwords_are_validated_with_a_clear_message():
    with session_scope() as session:
        with pytest.raises(ValidationError, match="at least 10 characters"):
            auth.add_user(session, Actor.cli(), "ana@example.com", "short")
        with pytest.raises(ValidationError, match="must not be the email"):
            auth.add_user(session, Actor.cli(), "ana.long@example.com", "ANA.LONG@example.com")
        with pytest.raises(ValidationError, match="not a valid address"):
            auth.add_user(session, Actor.cli(), "ana at example", PASSWORD)
    add()
    with session_scope() as session, pytest.raises(ValidationError, match="already exists"):
        auth.add_user(session, Actor.cli(), "ana@example.com", PASSWORD)


def test_only_the_cli_manages_accounts_and_members_change_only_their_own_password():
    add()
    with session_scope() as session:
        with pytest.raises(PermissionDenied):
            auth.add_user(session, Actor("ana@example.com"), "eve@example.com", PASSWORD)
        with pytest.raises(PermissionDenied):
            auth.set_password(session, Actor("eve@example.com"), "ana@example.com", "eve's new password")
        with pytest.raises(PermissionDenied):
            auth.remove_user(session, Actor("ana@example.com"), "ana@example.com")
        auth.set_password(session, Actor("ana@example.com"), "ana@example.com", "my own new password")
    assert auth.authenticate("ana@example.com", "my own new password").ok


def test_failed_sign_ins_lock_the_email_then_the_lock_lifts():
    add()
    now = utcnow()
    for i in range(auth.MAX_FAILURES):
        assert auth.authenticate("ana@example.com", f"guess number {i}", now=now + timedelta(seconds=i)).error
    locked = auth.authenticate("ana@example.com", PASSWORD, now=now + timedelta(minutes=1))
    assert not locked.ok and locked.retry_after is not None
    assert "Too many failed sign-ins" in locked.error and "14 minutes" in locked.error
    # Locked attempts are not checked, so they add no failures and do not extend the lock.
    later = now + auth.FAILURE_WINDOW + timedelta(seconds=1)
    assert auth.authenticate("ana@example.com", PASSWORD, now=later).ok
    # A success clears the count: four more failures do not lock.
    for _ in range(auth.MAX_FAILURES - 1):
        auth.authenticate("ana@example.com", "still wrong!", now=later)
    assert auth.authenticate("ana@example.com", PASSWORD, now=later).ok


def test_unknown_emails_lock_too_so_locking_reveals_nothing():
    for _ in range(auth.MAX_FAILURES):
        auth.authenticate("nobody@example.com", PASSWORD)
    assert auth.authenticate("nobody@example.com", PASSWORD).retry_after is not None


def test_one_client_guessing_many_emails_is_limited():
    add()
    for i in range(auth.MAX_CLIENT_FAILURES):
        auth.authenticate(f"user{i}@example.com", PASSWORD, client="203.0.113.9")
    assert auth.authenticate("ana@example.com", PASSWORD, client="203.0.113.9").retry_after is not None
    assert auth.authenticate("ana@example.com", PASSWORD, client="198.51.100.7").ok


def test_password_change_ends_sessions_and_lifts_the_lock():
    add()
    token = auth.authenticate("ana@example.com", PASSWORD).token
    for _ in range(auth.MAX_FAILURES):
        auth.authenticate("ana@example.com", "a wrong password")
    with session_scope() as session:
        auth.set_password(session, Actor.cli(), "ana@example.com", "a brand new password")
    assert auth.check_session(token) == (None, "revoked")
    assert not auth.authenticate("ana@example.com", PASSWORD).ok
    assert auth.authenticate("ana@example.com", "a brand new password").ok


def test_sessions_expire_after_their_lifetime_and_when_idle():
    start = utcnow()
    token = auth.start_session("ana@example.com", now=start)
    # Used every hour: stays alive (idle timer reset) until the absolute lifetime ends.
    step = timedelta(hours=1)
    moment = start
    while moment + step < start + auth.SESSION_LIFETIME:
        moment += step
        assert auth.check_session(token, now=moment)[1] == "ok"
    assert auth.check_session(token, now=start + auth.SESSION_LIFETIME) == (None, "expired")
    idle = auth.start_session("ana@example.com", now=start)
    assert auth.check_session(idle, now=start + auth.SESSION_IDLE - timedelta(seconds=1))[1] == "ok"
    assert auth.check_session(idle, now=start + 2 * auth.SESSION_IDLE) == (None, "expired")


def test_sign_out_and_user_removal_revoke_sessions():
    add()
    first = auth.authenticate("ana@example.com", PASSWORD).token
    second = auth.authenticate("ana@example.com", PASSWORD).token
    auth.end_session(first)
    assert auth.check_session(first) == (None, "revoked")
    assert auth.check_session(second)[1] == "ok"
    with session_scope() as session:
        assert auth.list_users(session)[0]["sessions"] == 1
        auth.remove_user(session, Actor.cli(), "ana@example.com")
    assert auth.check_session(second) == (None, "revoked")
    assert not auth.authenticate("ana@example.com", PASSWORD).ok


def test_demo_logins_are_printed_and_work():
    members = (("owner@example.com", "owner"), ("finance@example.com", "reader"), ("engineer@example.com", "reader"))
    text = load_demo_logins(members)
    assert f"owner@example.com  password: {DEMO_PASSWORDS['owner']}" in text
    assert f"finance@example.com  password: {DEMO_PASSWORDS['reader']}" in text
    assert auth.authenticate("owner@example.com", DEMO_PASSWORDS["owner"]).ok
    assert auth.authenticate("engineer@example.com", DEMO_PASSWORDS["reader"]).ok
    # Loading again keeps accounts (and says so when a password was changed meanwhile).
    with session_scope() as session:
        auth.set_password(session, Actor.cli(), "owner@example.com", "changed after demo")
    assert "(existing password kept)" in load_demo_logins(members)
    assert auth.authenticate("owner@example.com", "changed after demo").ok


# --- command line ----------------------------------------------------------------------------


def test_cli_user_add_reads_password_from_stdin(cli):
    code, out, err = cli("user", "add", "--email", "Ana@Example.com", "--password-stdin", input=PASSWORD + "\n")
    assert code == 0 and out.strip() == "added user ana@example.com"
    assert "not a member of any organization" in err and "--role owner" in err
    assert auth.authenticate("ana@example.com", PASSWORD).ok
    code, _, err = cli("user", "add", "--email", "ana@example.com", "--password-stdin", input=PASSWORD)
    assert code == 2 and "already exists" in err


def test_cli_user_add_prompts_twice_when_not_piped(cli):
    code, out, _ = cli("user", "add", "--email", "bo@example.com", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert code == 0 and "added user bo@example.com" in out
    assert auth.authenticate("bo@example.com", PASSWORD).ok


def test_cli_user_errors_name_the_field(cli):
    code, _, err = cli("user", "add", "--email", "not-an-email", "--password-stdin", input=PASSWORD)
    assert code == 2 and "email 'not-an-email' is not a valid address" in err
    code, _, err = cli("user", "add", "--email", "ana@example.com", "--password-stdin", input="short\n")
    assert code == 2 and "password must be at least 10 characters" in err
    code, _, err = cli("user", "add", "--email", "ana@example.com", "--password-stdin", input="")
    assert code == 2 and "--password-stdin" in err
    code, _, err = cli("user", "passwd", "--email", "ghost@example.com", "--password-stdin", input=PASSWORD)
    assert code == 2 and "no user ghost@example.com" in err


def test_cli_passwd_remove_and_list(cli):
    cli("user", "add", "--email", "ana@example.com", "--password-stdin", input=PASSWORD)
    token = auth.authenticate("ana@example.com", PASSWORD).token
    code, out, _ = cli("user", "list")
    assert code == 0 and out.startswith("ana@example.com\t") and "sessions=1" in out
    code, out, _ = cli("user", "passwd", "--email", "ana@example.com", "--password-stdin", input="second password")
    assert code == 0 and "sessions have ended" in out
    assert auth.check_session(token)[1] == "revoked"
    assert auth.authenticate("ana@example.com", "second password").ok
    code, out, _ = cli("user", "remove", "--email", "ana@example.com")
    assert code == 0 and cli("user", "list")[1] == ""
    with session_scope() as session:
        actions = [r.action for r in session.exec(select(AuditLog).order_by(AuditLog.id))]
    assert actions == ["user.add", "user.passwd", "user.remove"]


def test_first_owner_bootstrap_from_the_cli(cli):
    cli("org", "add", "--id", "org-a", "--name", "Org A")
    cli("user", "add", "--email", "ana@example.com", "--password-stdin", input=PASSWORD)
    code, out, _ = cli("member", "add", "--org", "org-a", "--email", "ana@example.com", "--role", "owner")
    assert code == 0 and "ana@example.com is owner of org-a" in out
    from models.access.roles import role_of

    actor, _ = auth.check_session(auth.authenticate("ana@example.com", PASSWORD).token)
    with session_scope() as session:
        assert role_of(session, actor, "org-a") == "owner"


def test_the_demo_hook_prints_an_owner_and_a_reader_login():
    """`spendsight demo` (run by `make run`) ends with demo.load_demo_logins(): it must name both roles."""
    text = load_demo_logins(DEMO_MEMBERS)
    assert "owner  owner@example.com  password: demo-owner-pass" in text
    assert "reader finance@example.com  password: demo-reader-pass" in text
    assert auth.authenticate("finance@example.com", "demo-reader-pass").ok
