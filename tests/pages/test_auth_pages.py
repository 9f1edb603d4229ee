"""The sign-in gate and the audit log page, driven with AppTest through the real sign-in mechanism
(password sign-in itself is the front route's: tests/gateway/test_signin.py)."""

import csv
import io
from datetime import timedelta
from html import escape
from urllib.parse import urlencode

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from models.access import audit, auth
from models.access.roles import Actor, PermissionDenied
from models.db import session_scope, utcnow
from models.settings import reset_settings
from models.tables import UserSession
from tests.conftest import REPO
from tests.factories import make_org
from tests.pageutil import app_test, run_page, texts
from ui.audit import audit_frame
from ui.auth import TOKEN_KEY
from ui.safe import csv_bytes

PASSWORD = "correct horse battery"


def add_user(email="ana@example.com", password=PASSWORD):
    with session_scope() as session:
        auth.add_user(session, Actor.cli(), email, password)


def signed_in(at) -> bool:
    return not any(e.value == "Sign in to Spendsight" for e in at.title)


def test_signed_out_visitor_sees_only_the_sign_in_form():
    make_org("org-a", name="Secret Org", owners=("ana@example.com",))
    at = run_page(user=None)
    assert not at.exception
    assert "Sign in to Spendsight" in texts(at)
    assert "Secret Org" not in texts(at) and not at.metric
    assert not signed_in(at)


def test_the_gate_links_to_the_front_route_and_back_to_this_page():
    at = app_test("pages/2_Forecast.py")
    at.context = {"url": "http://127.0.0.1:8501/Forecast"}
    at.query_params["org"] = "org-a"
    at.run()
    assert not at.exception and not signed_in(at)
    links = [e.value for e in at.markdown if "/auth/signin" in str(e.value)]
    assert len(links) == 1
    expected = "http://127.0.0.1:8788/auth/signin?" + urlencode(
        {"next": "http://127.0.0.1:8501/Forecast?org=org-a", "lang": "en"}
    )
    assert f'href="{escape(expected)}" target="_self"' in links[0]


def test_the_gate_speaks_the_browsers_language():
    at = app_test()
    at.context = {"locale": "zh-CN"}
    at.run()
    assert "登录 Spendsight" in texts(at)
    assert "lang=zh" in next(str(e.value) for e in at.markdown if "/auth/signin" in str(e.value))


def test_sign_out_ends_a_session_started_in_the_dashboard():
    make_org("org-a", name="Ana's Org", owners=("ana@example.com",))
    at = run_page(user="ana@example.com")
    assert not at.exception and signed_in(at) and "Ana's Org" in texts(at)
    token = at.session_state[TOKEN_KEY]
    next(b for b in at.button if b.label == "Sign out").click()
    at.run()
    assert not signed_in(at) and "You are signed out." in texts(at)
    assert auth.check_session(token) == (None, "revoked")


def test_forged_session_state_does_not_sign_anyone_in():
    make_org("org-a", name="Secret Org", owners=("ana@example.com",))
    add_user()
    at = run_page(
        user=None,
        session={"user_email": "ana@example.com", "email": "ana@example.com", TOKEN_KEY: "forged-token-value"},
    )
    assert not at.exception and not signed_in(at)
    assert "Secret Org" not in texts(at)


def test_expired_session_shows_the_form_again():
    make_org("org-a", name="Ana's Org", owners=("ana@example.com",))
    at = run_page(user="ana@example.com")
    assert signed_in(at) and "Ana's Org" in texts(at)
    with session_scope() as session:
        row = session.exec(select(UserSession)).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.add(row)
    at.run()
    assert not signed_in(at) and "Your session expired" in texts(at)
    assert "Ana's Org" not in texts(at)
    assert TOKEN_KEY not in at.session_state


def test_sso_identity_starts_a_server_side_session():
    make_org("org-a", name="Ana's Org", readers=("ana@example.com",))

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.user = {"is_logged_in": True, "email": "Ana@Example.com", "email_verified": True}
    at.run()
    assert not at.exception and signed_in(at) and "Ana's Org" in texts(at)
    with session_scope() as session:
        row = session.exec(select(UserSession)).one()
    assert (row.email, row.method) == ("ana@example.com", "oidc")
    at.user = {"is_logged_in": True, "email": "bo@example.com", "email_verified": False}
    unverified = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    unverified.user = {"is_logged_in": True, "email": "bo@example.com", "email_verified": False}
    unverified.run()
    assert not signed_in(unverified) and "did not confirm the email" in texts(unverified)


# --- audit log page --------------------------------------------------------------------------


def seed_audit():
    make_org("org-a", name="Org A", owners=("ana@example.com",), readers=("rea@example.com",))
    make_org("org-b", name="Org B", owners=("bob@example.com",), readers=("ana@example.com",))
    with session_scope() as session:
        audit.record(
            session,
            Actor("ana@example.com"),
            "limit.set",
            "org-a",
            "monthly",
            before={"limit_usd": "100"},
            after={"limit_usd": "250"},
        )
        audit.record(
            session, Actor("ana@example.com"), "member.set", "org-a", '=HYPERLINK("http://x")', after={"role": "reader"}
        )
        audit.record(session, Actor("bob@example.com"), "credit.add", "org-b", "trial", after={"amount_usd": "18"})


# The audit table's columns: when, the change as a sentence, who, org, action, entity, before, after.
ORG, ACTION = 3, 4


def test_owner_sees_their_orgs_audit_rows_and_exports_them():
    seed_audit()
    at = run_page("pages/11_Audit_log.py", user="ana@example.com", session={"org_id": "org-a"})
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table.iloc[:, ACTION]) == ["member.set", "limit.set"]  # newest first, org-b's row absent
    assert set(table.iloc[:, ORG]) == {"org-a"}
    # Only orgs ana owns are offered, even though she reads org-b.
    assert at.multiselect(key="audit_orgs").options == ["Org A · production"]
    exported = at.get("download_button")[0]
    assert exported is not None
    rows = list(csv.DictReader(io.StringIO(audit_frame_csv("ana@example.com", ("org-a",)))))
    assert [r["action"] for r in rows] == ["member.set", "limit.set"]
    assert rows[0]["entity"].startswith("'=")  # a spreadsheet will not run it as a formula
    assert rows[1]["before"] == '{"limit_usd": "100"}' and rows[1]["after"] == '{"limit_usd": "250"}'


def audit_frame_csv(email, org_ids):
    return csv_bytes(audit_frame.__wrapped__(email, org_ids, None, None, "")).decode()


def test_filters_narrow_the_rows():
    seed_audit()
    at = run_page("pages/11_Audit_log.py", user="ana@example.com", session={"org_id": "org-a"})
    at.selectbox(key="audit_action").set_value("limit.set").run()
    assert list(at.dataframe[0].value.iloc[:, ACTION]) == ["limit.set"]
    at.selectbox(key="audit_action").set_value(None)
    at.text_input(key="audit_who").input("nobody").run()
    assert not at.dataframe and "No changes recorded" in texts(at)


def test_reader_sees_no_audit_rows():
    seed_audit()
    at = run_page("pages/11_Audit_log.py", user="rea@example.com")
    assert not at.exception and not at.dataframe
    assert "Only owners of an organization can see its audit log" in texts(at)


def test_forged_org_filter_is_refused():
    seed_audit()
    at = run_page("pages/11_Audit_log.py", user="ana@example.com", session={"audit_orgs": ["org-b"]})
    # Streamlit drops the option ana does not have; the server check (next test) stands behind it.
    assert not at.exception and at.multiselect(key="audit_orgs").value == []
    table = at.dataframe[0].value
    assert set(table.iloc[:, ORG]) == {"org-a"} and "credit.add" not in set(table.iloc[:, ACTION])


def test_owner_entries_refuses_unowned_orgs_on_the_server():
    seed_audit()

    with session_scope() as session:
        with pytest.raises(PermissionDenied, match="does not own org-b"):
            audit.owner_entries(session, Actor("ana@example.com"), ["org-a", "org-b"])
        assert audit.owner_entries(session, Actor("rea@example.com")) == []
        assert [r.action for r in audit.owner_entries(session, Actor("bob@example.com"))] == ["credit.add"]


def test_sso_email_without_a_verified_claim_is_refused_unless_the_operator_relaxes_it(monkeypatch):
    """Issue 11: only `email_verified: true` proves the address (some providers let anyone type any
    email); the operator may trust providers that never send the claim."""

    make_org("org-a", name="Ana's Org", owners=("ana@example.com",))

    def attempt(claims):
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
        at.user = {"is_logged_in": True, "email": "ana@example.com", **claims}
        return at.run()

    for claims in ({}, {"email_verified": None}, {"email_verified": "false"}, {"email_verified": 1}):
        at = attempt(claims)
        assert not signed_in(at) and "Ana's Org" not in texts(at), claims
    assert signed_in(attempt({"email_verified": "true"}))  # some providers send the string
    monkeypatch.setenv("SPENDSIGHT_OIDC_TRUST_UNVERIFIED_EMAIL", "true")
    reset_settings()
    assert signed_in(attempt({}))
