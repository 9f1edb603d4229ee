"""The operator's policy (models/access/policy.py), tried with forged input: undeclared variables,
other orgs' variables, look-alike base URLs and webhook hosts that are or resolve to private addresses."""

from __future__ import annotations

import socket

import pytest
from sqlmodel import select

from models.access.policy import (
    PolicyError,
    address_is_public,
    check_base_url,
    check_key_env,
    check_key_env_at_run,
    check_webhook_url,
    may_create_org,
    oidc_email_verified,
    url_has_prefix,
    webhook_target,
)
from models.db import session_scope
from models.settings import reset_settings
from models.tables import KeyEnvBinding, Source
from tests.factories import make_org


@pytest.fixture
def policy_env(monkeypatch):
    def set_(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        reset_settings()

    return set_


def test_org_creators_default_to_nobody(policy_env):
    assert not may_create_org("alice@example.com")
    assert not may_create_org(None)
    policy_env(SPENDSIGHT_ORG_CREATORS="Alice@Example.com, bob@example.com")
    assert may_create_org("alice@example.com")
    assert may_create_org("BOB@example.com")
    assert not may_create_org("mallory@example.com")
    assert not may_create_org("")


@pytest.mark.parametrize(
    "name", ["SMTP_PASSWORD", "DATABASE_URL", "HOME", "OPENAI_BASE", "openai_admin_key", "OPENAI_KEY;x", "", "sk-abc"]
)
def test_undeclared_key_variables_are_refused_alike_set_or_not(name, monkeypatch):
    make_org("org-a")
    messages = set()
    for value in (None, "a-real-looking-value"):
        if value is None:
            monkeypatch.delenv(name, raising=False) if name.isidentifier() else None
        elif name.isidentifier():
            monkeypatch.setenv(name, value)
        with session_scope() as session, pytest.raises(PolicyError) as err:
            check_key_env(session, org_id="org-a", name=name)
        messages.add(str(err.value))
        assert "a-real-looking-value" not in str(err.value)
    assert len(messages) == 1  # the same words whether the variable is set or not


def test_declared_names_and_patterns(policy_env):
    make_org("org-a")
    with session_scope() as session:
        check_key_env(session, org_id="org-a", name="OPENAI_ADMIN_KEY")
        check_key_env(session, org_id="org-a", name="ANTHROPIC_ADMIN_KEY_2")
    policy_env(SPENDSIGHT_KEY_ENVS="ACME_OPENAI, TEAM_*_KEY")
    with session_scope() as session:
        check_key_env(session, org_id="org-a", name="ACME_OPENAI")
        check_key_env(session, org_id="org-a", name="TEAM_X_KEY")
        with pytest.raises(PolicyError):
            check_key_env(session, org_id="org-a", name="OPENAI_ADMIN_KEY")


def test_a_variable_is_bound_to_the_first_org(policy_env):
    make_org("org-a")
    make_org("org-b")
    with session_scope() as session:
        check_key_env(session, org_id="org-a", name="OPENAI_ADMIN_KEY")
        check_key_env(session, org_id="org-a", name="OPENAI_ADMIN_KEY")  # again: fine
    with session_scope() as session, pytest.raises(PolicyError, match="another organization"):
        check_key_env(session, org_id="org-b", name="OPENAI_ADMIN_KEY")
    with session_scope() as session, pytest.raises(PolicyError):
        check_key_env_at_run(session, org_id="org-b", name="OPENAI_ADMIN_KEY")
    # The operator shares it: org-b gets its own row, the first owner stays.
    with session_scope() as session:
        check_key_env(session, org_id="org-b", name="OPENAI_ADMIN_KEY", shared=True, by="cli")
        check_key_env_at_run(session, org_id="org-b", name="OPENAI_ADMIN_KEY")
        rows = session.exec(select(KeyEnvBinding).order_by(KeyEnvBinding.org_id)).all()
        assert [(r.org_id, r.shared) for r in rows] == [("org-a", False), ("org-b", True)]


def test_sources_stored_before_bindings_count_as_use(policy_env):
    make_org("org-a")
    make_org("org-b")
    with session_scope() as session:  # as a database from before this policy holds them
        for org in ("org-a", "org-b"):
            session.add(
                Source(org_id=org, name=f"{org}-openai", provider="openai", key_env="OPENAI_ADMIN_KEY", base_url="x")
            )
    with session_scope() as session, pytest.raises(PolicyError):
        check_key_env_at_run(session, org_id="org-b", name="OPENAI_ADMIN_KEY")
    with session_scope() as session, pytest.raises(PolicyError):
        check_key_env(session, org_id="org-a", name="OPENAI_ADMIN_KEY")
    with session_scope() as session:
        session.delete(session.exec(select(Source).where(Source.name == "org-b-openai")).one())
    with session_scope() as session:  # the one remaining user claims it on its next run
        check_key_env_at_run(session, org_id="org-a", name="OPENAI_ADMIN_KEY")
    with session_scope() as session, pytest.raises(PolicyError):
        check_key_env(session, org_id="org-b", name="OPENAI_ADMIN_KEY")


def test_refused_binding_rolls_back_with_the_callers_transaction():
    make_org("org-a")
    with pytest.raises(RuntimeError), session_scope() as session:
        check_key_env(session, org_id="org-a", name="OPENAI_ADMIN_KEY")
        raise RuntimeError("the caller's later step failed")
    with session_scope() as session:
        assert session.exec(select(KeyEnvBinding)).all() == []


@pytest.mark.parametrize(
    "url,prefix,expected",
    [
        ("https://api.openai.com/v1", "https://api.openai.com/v1", True),
        ("https://api.openai.com/v1/", "https://api.openai.com/v1", True),
        ("https://API.openai.com:443/v1/x", "https://api.openai.com/v1", True),
        ("https://api.openai.com.evil.example/v1", "https://api.openai.com/v1", False),
        ("https://api.openai.com.evil.example", "https://api.openai.com", False),
        ("https://api.openai.com@evil.example/v1", "https://api.openai.com/v1", False),
        ("https://evil.example/https://api.openai.com/v1", "https://api.openai.com/v1", False),
        ("http://api.openai.com/v1", "https://api.openai.com/v1", False),
        ("https://api.openai.com:8443/v1", "https://api.openai.com/v1", False),
        ("https://api.openai.com/v10", "https://api.openai.com/v1", False),
        ("https://api.openai.com/v1/../../x", "https://api.openai.com/v1", False),
        ("https://api.openai.com/v1/%2e%2e/x", "https://api.openai.com/v1", False),
        ("https://proxy.internal:8080/openai/v1", "https://proxy.internal:8080/openai", True),
        ("https://proxy.internal:8080/openaix", "https://proxy.internal:8080/openai", False),
    ],
)
def test_url_prefixes_compare_by_parts(url, prefix, expected):
    assert url_has_prefix(url, prefix) is expected


def test_base_urls_default_to_official_hosts_only(policy_env):
    assert check_base_url(None, "openai") == "https://api.openai.com/v1"
    assert check_base_url("", "anthropic") == "https://api.anthropic.com/v1"
    assert check_base_url("https://api.openai.com/v1/", "openai") == "https://api.openai.com/v1"
    for bad in (
        "https://api.openai.com.evil.example/v1",
        "http://127.0.0.1:9/v1",
        "https://api.anthropic.com/v1",  # another provider's host is not this provider's
        "https://user:pw@api.openai.com/v1",
        "https://api.openai.com/v1?x=1",
        "ftp://api.openai.com/v1",
        "https://api.openai.com/v1\n/x",
    ):
        with pytest.raises(PolicyError):
            check_base_url(bad, "openai")
    policy_env(SPENDSIGHT_ALLOWED_BASE_URLS="http://127.0.0.1:8099/openai, https://gw.example.com")
    assert check_base_url("http://127.0.0.1:8099/openai/v1", "openai") == "http://127.0.0.1:8099/openai/v1"
    assert check_base_url("https://gw.example.com/anything", "anthropic") == "https://gw.example.com/anything"
    with pytest.raises(PolicyError):
        check_base_url("http://127.0.0.1:8098/openai/v1", "openai")
    with pytest.raises(PolicyError):
        check_base_url("https://gw.example.com.evil.example/x", "openai")


@pytest.mark.parametrize(
    "address,public",
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:8.8.8.8", True),
        ("2002:7f00:1::", False),  # 6to4 wrapping 127.0.0.1
    ],
)
def test_public_addresses(address, public):
    assert address_is_public(address) is public


def test_webhooks_refuse_private_hosts_also_by_name(policy_env):
    for url in (
        "http://127.0.0.1:8080/hook",
        "http://localhost:8080/hook",  # a name resolving to loopback
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.5/hook",
        "http://2130706433/hook",  # 127.0.0.1 as one number
        "file:///etc/passwd",
        "https://user:pw@hooks.example.com/x",
    ):
        with pytest.raises(PolicyError):
            check_webhook_url(url)
    policy_env(SPENDSIGHT_ALLOWED_WEBHOOK_HOSTS="localhost, chat.internal")
    assert webhook_target("http://localhost:8080/hook").address is None  # allowed by name: the operator's call
    with pytest.raises(PolicyError, match="not allowed"):
        check_webhook_url("https://hooks.slack.com/services/x")


def test_webhook_rebinding_is_caught_when_checked_again(monkeypatch):
    """A name that resolved to a public address when saved and to loopback at delivery is refused then."""
    answers = iter(["93.184.216.34", "127.0.0.1"])
    real = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):
        if host != "rebind.example":
            return real(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    target = webhook_target("https://rebind.example/hook")
    assert target.address == "93.184.216.34"
    with pytest.raises(PolicyError, match="private"):
        webhook_target("https://rebind.example/hook")


def test_oidc_email_needs_a_verified_claim(policy_env):
    assert oidc_email_verified({"email_verified": True})
    assert oidc_email_verified({"email_verified": "TRUE"})
    for claims in ({}, {"email_verified": False}, {"email_verified": "yes"}, {"email_verified": 1}):
        assert not oidc_email_verified(claims), claims
    policy_env(SPENDSIGHT_OIDC_TRUST_UNVERIFIED_EMAIL="true")
    assert oidc_email_verified({})
