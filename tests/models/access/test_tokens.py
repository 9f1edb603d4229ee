"""Ingest tokens: owners only, stored hashed, audited; a revoked or forged token names no org."""

from __future__ import annotations

import hashlib

import pytest
from sqlmodel import select

from models.access.roles import Actor, PermissionDenied
from models.access.tokens import create_token, list_tokens, org_for_token, revoke_token
from models.db import get_engine, session_scope
from models.tables import AuditLog, IngestToken
from models.validation import ValidationError
from tests.factories import make_org

OWNER = Actor("owner@example.com")
READER = Actor("reader@example.com")
OTHER_OWNER = Actor("bob@example.com")


@pytest.fixture(autouse=True)
def orgs():
    make_org("org-a", owners=("owner@example.com",), readers=("reader@example.com",))
    make_org("org-b", owners=("bob@example.com",))


def org_of(token: str) -> str | None:
    with get_engine().connect() as conn:
        return org_for_token(conn, token)


def test_an_owner_creates_a_token_kept_only_as_its_hash_and_audited():
    token, info = create_token(OWNER, "org-a", "chatbot")
    assert token.startswith("sst_") and len(token) > 40
    with session_scope() as session:
        row = session.get(IngestToken, info.id)
        audit = session.exec(select(AuditLog).where(AuditLog.action == "ingest_token.create")).one()
    assert row.token_sha256 == hashlib.sha256(token.encode()).hexdigest() and token not in row.token_sha256
    assert (audit.actor, audit.org_id, audit.entity) == ("owner@example.com", "org-a", f"token {info.id}")
    assert token not in audit.after
    assert org_of(token) == "org-a"
    assert [t.name for t in list_tokens(OWNER, "org-a")] == ["chatbot"]


@pytest.mark.parametrize("actor", [READER, OTHER_OWNER, Actor(None), Actor("owner@example.com ")])
def test_others_cannot_create_list_or_revoke(actor):
    token, info = create_token(OWNER, "org-a")
    with pytest.raises(PermissionDenied):
        create_token(actor, "org-a")
    with pytest.raises(PermissionDenied):
        list_tokens(actor, "org-a")
    with pytest.raises(PermissionDenied):
        revoke_token(actor, info.id)
    with session_scope() as session:
        assert len(session.exec(select(IngestToken)).all()) == 1
    assert org_of(token) == "org-a"


def test_revoked_unknown_and_forged_tokens_name_no_org():
    token, info = create_token(OWNER, "org-a")
    assert revoke_token(OWNER, info.id).revoked_at is not None
    assert revoke_token(OWNER, info.id).revoked_at is not None  # twice: no error, one audit row
    for presented in (token, "", "sst_", token + "x", "sst_" + "a" * 500, "Bearer " + token, token.upper()):
        assert org_of(presented) is None
    with session_scope() as session:
        assert len(session.exec(select(AuditLog).where(AuditLog.action == "ingest_token.revoke")).all()) == 1


def test_bad_input_is_refused():
    with pytest.raises(ValidationError):
        create_token(OWNER, "no-such-org")
    with pytest.raises(ValidationError):
        create_token(OWNER, "org a")
    with pytest.raises(ValidationError):
        create_token(OWNER, "org-a", "x" * 201)
    with pytest.raises(ValidationError):
        revoke_token(OWNER, 999)
