"""Issue 11 §1 through every page (Streamlit AppTest): a reader, a member of no org and the owner of
another org try to create an org, name a secret as a source's key, point a source or webhook at a
server they control, and press "Run now". That server records every request: none arrives."""

from __future__ import annotations

import pytest
from sqlmodel import select

from collectors.runner import load_source
from models.access.roles import Actor
from models.db import session_scope
from models.settings import reset_settings
from models.sources import add_source, set_enabled
from models.tables import AlertWebhook, Organization, Source
from tests.conftest import REPO
from tests.factories import make_org
from tests.pageutil import run_page, texts
from worker.jobs import collect_all, collect_requested

SECRETS = {
    "OPENAI_ADMIN_KEY": "sk-admin-victim-openai-0123456789",
    "SMTP_PASSWORD": "smtp-victim-password-55",
}
READER, NOBODY, OWNER_B = "rita@example.com", "nobody@example.com", "mallory@example.com"
PAGES = sorted(str(p.relative_to(REPO)) for p in (REPO / "pages").glob("*.py"))


@pytest.fixture
def world(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    make_org("org-a", owners=("ana@example.com",), readers=(READER,))
    make_org("org-b", owners=(OWNER_B,))
    with session_scope() as session:
        add_source(session, Actor.cli(), "org-a", "openai", "OPENAI_ADMIN_KEY", name="a-openai")
        # Bound, but never run here: its base URL is the real provider's (the worker runs below
        # must only meet org-b's sources).
        set_enabled(session, Actor.cli(), "a-openai", False)
    return monkeypatch


def errors(at) -> str:
    return "\n".join(str(e.value) for e in at.error)


@pytest.mark.parametrize("who", [READER, NOBODY, OWNER_B])
def test_no_attacker_sees_the_org_creation_form(world, who):
    at = run_page("pages/9_Organizations.py", user=who)
    assert not at.exception
    assert "org_new_id" not in [w.key for w in at.text_input]


def test_no_page_shows_a_secret_or_offers_org_creation_to_another_orgs_owner(world):
    """Every page as the most capable attacker (an owner, of another org)."""
    for page in PAGES:
        at = run_page(page, user=OWNER_B)
        assert not at.exception, page
        assert "org_new_id" not in [w.key for w in at.text_input], page
        shown = repr(at) + texts(at)
        assert all(value not in shown for value in SECRETS.values()), page


def test_a_listed_creator_sees_the_form(world):
    world.setenv("SPENDSIGHT_ORG_CREATORS", NOBODY)
    reset_settings()
    at = run_page("pages/9_Organizations.py", user=NOBODY)
    assert "org_new_id" in [w.key for w in at.text_input]
    at.text_input(key="org_new_id").input("org-new")
    at.text_input(key="org_new_name").input("New")
    at.button(key="FormSubmitter:org_create-Create").click().run()
    with session_scope() as session:
        assert session.get(Organization, "org-new") is not None


def test_reader_sees_no_source_form(world):
    at = run_page("pages/8_Sources.py", user=READER, session={"org_id": "org-a"})
    assert not at.exception and "src_key_env" not in [w.key for w in at.text_input]


@pytest.mark.parametrize(
    "key_env, base_url, refusal",
    [
        ("SMTP_PASSWORD", "", "not one the operator allows"),
        ("SMTP_PASSWORD_NOT_SET", "", "not one the operator allows"),
        ("OPENAI_ADMIN_KEY", "", "already used by another organization"),
        ("OPENAI_MINE_KEY", "SINK", "base URL"),
        ("OPENAI_MINE_KEY", "https://api.openai.com.evil.example/v1", "base URL"),
    ],
)
def test_owner_of_another_org_cannot_add_a_source_that_leaks(world, sink, key_env, base_url, refusal):
    at = run_page("pages/8_Sources.py", user=OWNER_B, session={"org_id": "org-b"})
    at.text_input(key="src_key_env").input(key_env)
    at.text_input(key="src_base_url").input(sink.url + "/v1" if base_url == "SINK" else base_url)
    at.button(key="src_add_submit").click().run()
    assert not at.exception
    assert refusal in errors(at)
    with session_scope() as session:
        assert session.exec(select(Source).where(Source.org_id == "org-b")).all() == []
    collect_all(billed=False)
    assert sink.requests == []


def test_forged_org_choice_on_the_sources_page_is_dropped(world):
    at = run_page("pages/8_Sources.py", user=OWNER_B, session={"org_id": "org-a", "org_picker": "org-a"})
    assert not at.exception
    assert "a-openai" not in repr(at)


def test_run_now_on_a_forged_source_sends_nothing(world, sink):
    """A source in org-b written around the services (or stored before the policy): the page's Run
    now says why not, and the worker's run of due and requested sources sends nothing."""
    with session_scope() as session:
        session.add(
            Source(org_id="org-b", name="forged", provider="openai", key_env="SMTP_PASSWORD", base_url=sink.url)
        )
    at = run_page("pages/8_Sources.py", user=OWNER_B, session={"org_id": "org-b"})
    at.button(key="src_run").click().run()
    assert "not one the operator allows" in errors(at)
    with session_scope() as session:  # as if requested before the policy existed
        forged = session.exec(select(Source).where(Source.name == "forged")).one()
        forged.run_requested_at = forged.created_at
        session.add(forged)
    collect_requested()
    collect_all(billed=None)
    assert sink.requests == []
    source = load_source(name="forged")
    assert source is not None and "not one the operator allows" in source.last_error
    at = run_page("pages/8_Sources.py", user=OWNER_B, session={"org_id": "org-b"})
    assert all(value not in repr(at) + texts(at) for value in SECRETS.values())


def test_owner_of_another_org_cannot_point_the_webhook_at_a_private_address(world, sink):
    for url in (sink.url + "/hook", f"http://localhost:{sink.port}/hook"):
        at = run_page("pages/3_Budgets_and_alerts.py", user=OWNER_B, session={"org_id": "org-b"})
        at.text_input(key="bw_url").input(url)
        at.button(key="FormSubmitter:budget_webhook-Save webhook").click().run()
        assert not at.exception
        assert "private" in errors(at)
    with session_scope() as session:
        assert session.exec(select(AlertWebhook)).all() == []
    at = run_page("pages/3_Budgets_and_alerts.py", user=OWNER_B, session={"org_id": "org-b"})
    at.button(key="budget_test").click().run()
    assert sink.requests == []
