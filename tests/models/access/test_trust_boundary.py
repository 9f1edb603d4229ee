"""Issue 11 §1, through the services and the worker: a reader, a member of no org and the owner of
another org each try to make the server send a secret to a local server they control. The server
records every request; the secret never arrives (and, as a control, the operator's own source does
send its key there once the operator allows that URL)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from alerts import outbox
from alerts.config import set_webhook
from alerts.service import send_test
from collectors.runner import load_source, run_source
from models.access.orgs import create_org_as
from models.access.policy import PolicyError
from models.access.roles import Actor, PermissionDenied
from models.db import session_scope
from models.settings import reset_settings
from models.sources import add_source, request_run
from models.tables import AlertWebhook, KeyEnvBinding, Source
from models.validation import ValidationError
from tests.factories import make_org

SECRETS = {
    "OPENAI_ADMIN_KEY": "sk-admin-victim-openai-0123456789",
    "ANTHROPIC_ADMIN_KEY": "sk-ant-admin-victim-9876543210",
    "SMTP_PASSWORD": "smtp-victim-password-55",
    "DATABASE_URL_PASSWORD": "pg-victim-password-77",
}
OWNER_A = "ana@example.com"
READER = Actor("rita@example.com")
NOBODY = Actor("nobody@example.com")
OWNER_B = Actor("mallory@example.com")
ATTACKERS = {"reader": READER, "no org": NOBODY, "owner of another org": OWNER_B}


@pytest.fixture
def world(monkeypatch):
    """org-a (the victim, its key bound by the operator's CLI) and org-b (mallory's, made by the CLI)."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    make_org("org-a", owners=(OWNER_A,), readers=(READER.email,))
    make_org("org-b", owners=(OWNER_B.email,))
    with session_scope() as session:
        add_source(session, Actor.cli(), "org-a", "anthropic", "ANTHROPIC_ADMIN_KEY", name="a-anthropic")
        add_source(session, Actor.cli(), "org-a", "openai", "OPENAI_ADMIN_KEY", name="a-openai")
    return monkeypatch


def assert_nothing_leaked(sink) -> None:
    seen = sink.everything()
    for secret in SECRETS.values():
        assert secret not in seen
    assert sink.requests == []


def forged_source(org_id: str, name: str, key_env: str, base_url: str) -> Source:
    """A source written straight into the table, as a database from before the policy may hold it."""
    with session_scope() as session:
        source = Source(org_id=org_id, name=name, provider="openai", key_env=key_env, base_url=base_url)
        session.add(source)
    loaded = load_source(name=name)
    assert loaded is not None
    return loaded


@pytest.mark.parametrize("who", list(ATTACKERS))
def test_no_attacker_can_create_an_org(world, who):
    with pytest.raises(PermissionDenied, match="created by the operator"):
        create_org_as(ATTACKERS[who], "org-evil", "Evil")
    # Listing a creator is the operator's decision; then (only) that member may.
    world.setenv("SPENDSIGHT_ORG_CREATORS", "someone-else@example.com")
    reset_settings()
    with pytest.raises(PermissionDenied):
        create_org_as(ATTACKERS[who], "org-evil", "Evil")


@pytest.mark.parametrize("who", list(ATTACKERS))
@pytest.mark.parametrize("key_env", ["SMTP_PASSWORD", "DATABASE_URL_PASSWORD", "OPENAI_ADMIN_KEY", "HOME"])
def test_no_attacker_can_add_a_source_naming_a_secret(world, sink, who, key_env):
    actor = ATTACKERS[who]
    for org_id in ("org-a", "org-b"):
        for base_url in (None, sink.url + "/v1", "https://api.openai.com.evil.example/v1"):
            with pytest.raises((PermissionDenied, ValidationError)), session_scope() as session:
                add_source(session, actor, org_id, "openai", key_env, base_url, name="evil")
            with pytest.raises(PermissionDenied), session_scope() as session:
                add_source(session, actor, org_id, "openai", key_env, None, name="evil", shared_key=True)
    with session_scope() as session:
        assert session.exec(select(Source).where(Source.name == "evil")).first() is None
        bound = {(b.name, b.org_id) for b in session.exec(select(KeyEnvBinding))}
    assert bound == {("ANTHROPIC_ADMIN_KEY", "org-a"), ("OPENAI_ADMIN_KEY", "org-a")}
    assert_nothing_leaked(sink)


def test_refusals_do_not_tell_whether_a_variable_exists(world):
    messages = set()
    for name in ("SMTP_PASSWORD", "SMTP_PASSWORD_THAT_IS_NOT_SET"):
        with pytest.raises(PolicyError) as refused, session_scope() as session:
            add_source(session, OWNER_B, "org-b", "openai", name, name="evil")
        messages.add(str(refused.value).replace(name, "NAME"))
    assert len(messages) == 1


@pytest.mark.parametrize(
    "key_env, base_url_of",
    [
        ("SMTP_PASSWORD", lambda sink: sink.url + "/v1"),  # undeclared variable, attacker's host
        ("OPENAI_ADMIN_KEY", lambda sink: sink.url + "/v1"),  # org-a's key, attacker's host
        ("OPENAI_ADMIN_KEY", lambda sink: "https://api.openai.com/v1"),  # org-a's key, official host
        ("OPENAI_B_KEY", lambda sink: sink.url + "/v1"),  # a declared free variable, attacker's host
    ],
)
def test_a_forged_stored_source_sends_nothing_when_run(world, sink, key_env, base_url_of):
    """The run re-checks the policy before reading the key: a source stored before the policy, or
    written around the services, records the refusal and makes no request at all."""
    world.setenv("OPENAI_B_KEY", "sk-admin-b-own-key-44")
    source = forged_source("org-b", "forged", key_env, base_url_of(sink))
    with pytest.raises(ValidationError), session_scope() as session:  # "Run now" says why at once
        request_run(session, OWNER_B, "forged")
    result = run_source(source)  # the worker's path (worker/jobs.collect_all calls run_source)
    assert not result.ok and "not" in result.errors()
    assert_nothing_leaked(sink)
    assert "sk-admin-b-own-key-44" not in sink.everything()
    with session_scope() as session:
        stored = session.exec(select(Source).where(Source.name == "forged")).one()
    assert stored.last_error and all(s not in stored.last_error for s in SECRETS.values())


def test_a_source_whose_policy_changed_after_it_was_stored_stops_sending(world, sink):
    """The operator allowed the sink as a base URL, org-b bound its own variable and collected (the
    control: the sink does see that key). Then the operator narrows the policy: the next run sends nothing."""
    world.setenv("OPENAI_B_KEY", "sk-admin-b-own-key-44")
    world.setenv("SPENDSIGHT_ALLOWED_BASE_URLS", sink.url)
    reset_settings()
    with session_scope() as session:
        add_source(session, OWNER_B, "org-b", "openai", "OPENAI_B_KEY", sink.url + "/v1", name="b-openai")
    source = load_source(name="b-openai")
    assert source is not None
    run_source(source, billed=False)
    assert sink.requests and all(a == "Bearer sk-admin-b-own-key-44" for a in sink.authorizations)
    sink.requests.clear()

    world.setenv("SPENDSIGHT_ALLOWED_BASE_URLS", "")  # the URL is no longer allowed
    reset_settings()
    assert "base URL" in run_source(source).errors()
    world.setenv("SPENDSIGHT_ALLOWED_BASE_URLS", sink.url)
    world.setenv("SPENDSIGHT_KEY_ENVS", "ANTHROPIC_*KEY*")  # the variable is no longer declared
    reset_settings()
    assert "SPENDSIGHT_KEY_ENVS" in run_source(source).errors()
    world.setenv("SPENDSIGHT_KEY_ENVS", "OPENAI_*KEY*")
    reset_settings()
    with session_scope() as session:  # the binding moves to another org (the operator's database edit)
        binding = session.exec(select(KeyEnvBinding).where(KeyEnvBinding.name == "OPENAI_B_KEY")).one()
        binding.org_id = "org-a"
        session.add(binding)
    assert "another organization" in run_source(source).errors()
    assert sink.requests == []


@pytest.mark.parametrize("who", list(ATTACKERS))
def test_no_attacker_can_point_a_webhook_at_a_private_address(world, sink, who):
    actor = ATTACKERS[who]
    for org_id in ("org-a", "org-b"):
        for url in (sink.url + "/hook", f"http://localhost:{sink.port}/hook", "http://169.254.169.254/latest"):
            with pytest.raises((PermissionDenied, ValidationError)):
                set_webhook(actor, org_id, url)
    with session_scope() as session:
        assert session.exec(select(AlertWebhook)).all() == []


def test_a_stored_private_webhook_is_refused_at_delivery(world, sink):
    """A webhook row pointing at loopback (stored before the policy, or re-pointed by DNS): the test
    alert is not posted, the refusal is recorded, nothing reaches the sink."""
    with session_scope() as session:
        session.add(AlertWebhook(org_id="org-b", url=f"http://localhost:{sink.port}/hook/secret-path"))
    send_test(OWNER_B, "org-b")
    assert sink.requests == []
    [row] = [r for r in outbox.history(["org-b"]) if r["channel"] == "webhook"]
    assert row["status"] == "failed" and "private" in row["last_error"] and "secret-path" not in row["last_error"]
