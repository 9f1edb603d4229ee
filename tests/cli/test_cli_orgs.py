"""`spendsight org` and `member` commands: validated, audited as the CLI, bootstrap an owner."""

from sqlmodel import select

from models.access.orgs import members
from models.db import session_scope
from models.tables import AuditLog
from tests.factories import make_org


def audit_actions():
    with session_scope() as session:
        return [(a.actor, a.action, a.entity) for a in session.exec(select(AuditLog).order_by(AuditLog.id))]


def test_org_and_member_commands_are_audited(cli):
    assert cli("org", "add", "--id", "org-a", "--name", "A", "--env", "staging")[0] == 0
    # an org with no owner yet (created by the CLI or by ingest) can get a reader first
    assert cli("member", "add", "--org", "org-a", "--email", "Bob@Example.com")[0] == 0
    assert cli("member", "add", "--org", "org-a", "--email", "ana@example.com", "--role", "owner")[0] == 0
    assert cli("org", "update", "--id", "org-a", "--name", "A prime")[0] == 0
    assert cli("member", "remove", "--org", "org-a", "--email", "bob@example.com")[0] == 0
    with session_scope() as session:
        assert [(m.email, m.role) for m in members(session, "org-a")] == [("ana@example.com", "owner")]
    assert audit_actions() == [
        ("cli", "org.create", "org-a"),
        ("cli", "member.set", "bob@example.com"),
        ("cli", "member.set", "ana@example.com"),
        ("cli", "org.update", "org-a"),
        ("cli", "member.remove", "bob@example.com"),
    ]


def test_the_last_owner_stays_and_bad_input_is_a_usage_error(cli):
    cli("org", "add", "--id", "org-b", "--name", "B")
    cli("member", "add", "--org", "org-b", "--email", "ana@example.com", "--role", "owner")
    code, _, err = cli("member", "remove", "--org", "org-b", "--email", "ana@example.com")
    assert code == 2 and "at least one owner" in err
    code, _, err = cli("member", "add", "--org", "org-b", "--email", "not-an-email")
    assert code == 2 and "not a valid address" in err
    code, _, err = cli("org", "add", "--id", "org-c", "--name", "C", "--timezone", "Mars/Olympus")
    assert code == 2 and "time zone" in err
    code, _, err = cli("org", "add", "--id", "org-b", "--name", "again")
    assert code == 2 and "already exists" in err


def test_member_invite_emails_a_link_or_says_why_not(cli, smtp):
    make_org("org-a", owners=("ana@example.com",), readers=("new@example.com",))
    code, out, err = cli("member", "invite", "--org", "org-a", "--email", "new@example.com")
    assert code == 0 and "invitation sent to new@example.com" in out
    assert "/auth/invite?token=" in smtp.messages_to("new@example.com")[0].get_body(("plain",)).get_content()
    code, out, err = cli("member", "invite", "--org", "org-a", "--email", "stranger@example.com")
    assert code == 2 and "not a member of org-a" in err and "Traceback" not in err
