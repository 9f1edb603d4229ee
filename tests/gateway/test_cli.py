"""`spendsight gateway key|upstream` and `limit set --strict`."""

from __future__ import annotations

import json

from sqlalchemy import text

from models.db import get_engine
from models.gateway import hash_token
from tests.factories import make_org


def test_keys_are_shown_once_and_stored_as_a_hash(cli):
    make_org("org-a")
    code, out, _ = cli(
        "gateway", "key", "create", "--org", "org-a", "--project", "p1", "--name", "app", "--format", "json"
    )
    assert code == 0
    created = json.loads(out)
    assert created["key"].startswith("ssk-") and len(created["key"]) > 40 and created["id"].startswith("gk_")
    with get_engine().connect() as conn:
        stored = conn.execute(text("SELECT key_sha256, project_id FROM gateway_key")).one()
        audit = conn.execute(text("SELECT action FROM audit_log WHERE action LIKE 'gateway.%'")).scalars().all()
    assert stored == (hash_token(created["key"]), "p1") and audit == ["gateway.key.create"]
    code, out, _ = cli("gateway", "key", "list", "--org", "org-a", "--format", "json")
    listed = json.loads(out)
    assert [k["id"] for k in listed] == [created["id"]] and created["key"] not in out
    assert cli("gateway", "key", "revoke", created["id"])[0] == 0
    assert json.loads(cli("gateway", "key", "list", "--format", "json")[1])[0]["revoked_at"] is not None
    assert cli("gateway", "key", "revoke", "gk_nope")[0] == 2
    assert cli("gateway", "key", "create", "--org", "org-missing")[0] == 2


def test_upstream_names_a_variable_never_a_key(cli, monkeypatch):
    make_org("org-a")
    monkeypatch.setenv("OPENAI_GW_KEY", "sk-real-value-1234567890")
    code, out, _ = cli(
        "gateway", "upstream", "set", "--org", "org-a", "--provider", "openai", "--key-env", "OPENAI_GW_KEY"
    )
    assert code == 0 and "https://api.openai.com/v1" in out and "sk-real" not in out
    code, _, err = cli(
        "gateway", "upstream", "set", "--org", "org-a", "--provider", "openai", "--key-env", "sk-live-123"
    )
    assert code == 2 and "sk-live-123" not in err
    assert cli("gateway", "upstream", "set", "--org", "org-a", "--provider", "mistral", "--key-env", "X")[0] == 2
    # The operator's policy, as for sources: declared names only, one org per variable unless shared.
    assert (
        cli("gateway", "upstream", "set", "--org", "org-a", "--provider", "openai", "--key-env", "SMTP_PASSWORD")[0]
        == 2
    )
    make_org("org-b")
    args = ("gateway", "upstream", "set", "--org", "org-b", "--provider", "openai", "--key-env", "OPENAI_GW_KEY")
    assert cli(*args)[0] == 2
    assert cli(*args, "--shared-key")[0] == 0
    assert (
        cli(
            "gateway",
            "upstream",
            "set",
            "--org",
            "org-a",
            "--provider",
            "openai",
            "--key-env",
            "OPENAI_GW_KEY",
            "--base-url",
            "ftp://x",
        )[0]
        == 2
    )


def test_limit_set_strict(cli):
    make_org("org-a")
    code, out, _ = cli("limit", "set", "--org", "org-a", "--hard", "10", "--strict")
    assert code == 0 and "strict" in out
    code, out, _ = cli("limit", "set", "--org", "org-a", "--soft", "5")
    assert "strict" in out  # kept
    code, out, _ = cli("limit", "set", "--org", "org-a", "--no-strict")
    assert "strict" not in out
