"""Organizations page: overview, staging marked, owners manage members (audited), readers cannot."""

from sqlmodel import select

from models.access.orgs import members
from models.db import session_scope
from models.settings import reset_settings
from models.tables import AuditLog
from tests.factories import make_org
from tests.pageutil import run_page, texts

PAGE = "pages/9_Organizations.py"


def _orgs():
    make_org("org-prod", "Acme Production", owners=("owner@example.com",), readers=("finance@example.com",))
    make_org(
        "org-stg",
        "Acme Staging",
        environment="staging",
        owners=("owner@example.com",),
        readers=("finance@example.com",),
    )


def _members(org_id):
    with session_scope() as session:
        return {m.email: m.role for m in members(session, org_id)}


def test_overview_marks_staging_and_roles():
    _orgs()
    at = run_page(PAGE, user="finance@example.com")
    assert not at.exception
    overview = at.dataframe[0].value
    assert dict(zip(overview["id"], overview["environment"])) == {"org-prod": "production", "org-stg": "🧪 staging"}
    assert set(overview["role"]) == {"reader"} and list(overview["members"]) == [2, 2]
    assert "owners manage its members" in texts(at)
    assert "org_member_email" not in [w.key for w in at.text_input]  # no member controls for a reader
    assert "org_set_name" not in [w.key for w in at.text_input]
    assert "No collector sources" in texts(at)


def test_owner_adds_changes_and_removes_members_with_audit():
    _orgs()
    at = run_page(PAGE, user="owner@example.com", session={"org_id": "org-prod"})
    assert not at.exception
    at.text_input(key="org_member_email").input("Eng@Example.com")
    at.selectbox(key="org_member_role").select("owner")
    at.button(key="FormSubmitter:org_member-Save member").click().run()
    assert not at.exception
    assert _members("org-prod")["eng@example.com"] == "owner"
    assert "eng@example.com is now owner." in texts(at)
    at.selectbox(key="org_remove_email").select("finance@example.com")
    at.button(key="FormSubmitter:org_remove-Remove").click().run()
    assert "finance@example.com" not in _members("org-prod")
    with session_scope() as session:
        log = [(a.action, a.entity, a.actor) for a in session.exec(select(AuditLog).order_by(AuditLog.id))]
    assert log == [
        ("member.set", "eng@example.com", "owner@example.com"),
        ("member.remove", "finance@example.com", "owner@example.com"),
    ]


def test_last_owner_cannot_leave_and_creator_owns_new_org(monkeypatch):
    monkeypatch.setenv("SPENDSIGHT_ORG_CREATORS", "someone@example.com,owner@example.com")
    reset_settings()
    _orgs()
    at = run_page(PAGE, user="owner@example.com", session={"org_id": "org-prod"})
    at.selectbox(key="org_remove_email").select("owner@example.com")
    at.button(key="FormSubmitter:org_remove-Remove").click().run()
    assert "must keep at least one owner" in "\n".join(e.value for e in at.error)
    assert _members("org-prod")["owner@example.com"] == "owner"
    at.text_input(key="org_new_id").input("org-lab")
    at.text_input(key="org_new_name").input("Lab")
    at.selectbox(key="org_new_env").select("staging")
    at.button(key="FormSubmitter:org_create-Create").click().run()
    assert not at.exception
    assert _members("org-lab") == {"owner@example.com": "owner"}
    at.text_input(key="org_new_id").input("bad id!")
    at.button(key="FormSubmitter:org_create-Create").click().run()
    assert "organization id 'bad id!'" in "\n".join(e.value for e in at.error)
