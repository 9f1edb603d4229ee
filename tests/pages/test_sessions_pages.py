"""Member preferences and invitations on the pages (AppTest): a language or currency picked in the
sidebar is the member's next time (a reload is a new session); owners see who cannot sign in yet and
invite them by email."""

from __future__ import annotations

from models.access import auth
from models.access.preferences import saved_preferences
from models.access.roles import Actor
from models.db import session_scope
from tests.factories import make_org
from tests.pageutil import run_page, texts

ORGS = "pages/9_Organizations.py"


def test_a_picked_language_and_currency_are_the_members_next_session_too():
    make_org("org-a", name="Acme", owners=("ana@example.com",))
    at = run_page(ORGS, user="ana@example.com")
    assert not at.exception and "Organizations" in texts(at)
    # Both at once: AppTest formats the other pickers' values with t() outside the session (English),
    # so after a run in Chinese it could no longer match their labels; a browser has no such limit.
    at.selectbox(key="lang_picker").select("zh")
    at.selectbox(key="currency_picker").select("CNY")
    at.run()
    assert not at.exception and "组织" in texts(at)
    saved = saved_preferences("ana@example.com")
    assert (saved.lang, saved.currency) == ("zh", "CNY")
    again = run_page(ORGS, user="ana@example.com")  # a reload: a new browser session
    assert not again.exception
    assert again.session_state["lang"] == "zh" and again.session_state["currency"] == "CNY"
    assert again.selectbox(key="currency_picker").value == "CNY"
    other = run_page(ORGS, user="bo@example.com")  # someone else's choice is not theirs
    assert other.session_state["lang"] == "en" and saved_preferences("bo@example.com") is None


def test_owners_see_who_has_no_account_and_invite_them(smtp):
    make_org("org-a", name="Acme", owners=("ana@example.com",), readers=("new@example.com", "rita@example.com"))
    with session_scope() as session:
        auth.add_user(session, Actor.cli(), "rita@example.com", "rita's long password")
    at = run_page(ORGS, user="ana@example.com")
    assert not at.exception
    people = at.dataframe[1].value if len(at.dataframe) > 1 else None
    assert people is not None and "account" in people.columns
    status = dict(zip(people["email"], people["account"], strict=True))
    assert status["rita@example.com"] == "Has an account" and status["new@example.com"] == "No account yet"
    assert "2 member(s) cannot sign in yet" in texts(at)  # ana (no password account) and new
    at.selectbox(key="org_invite_email").select("new@example.com")
    next(b for b in at.button if b.label == "Send invitation").click()
    at.run()
    assert not at.exception and "Invitation sent to new@example.com" in texts(at)
    assert len(smtp.messages_to("new@example.com")) == 1
    status = dict(zip(at.dataframe[1].value["email"], at.dataframe[1].value["account"], strict=True))
    assert status["new@example.com"] == "Invited, no account yet"


def test_readers_see_account_status_but_no_invite_form():
    make_org("org-a", name="Acme", owners=("ana@example.com",), readers=("rita@example.com", "new@example.com"))
    at = run_page(ORGS, user="rita@example.com")
    assert not at.exception and "cannot sign in yet" in texts(at)
    assert not [b for b in at.button if b.label == "Send invitation"]
