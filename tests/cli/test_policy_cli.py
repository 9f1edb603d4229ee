"""The operator's door (`spendsight org add`, `source add`, `alerts webhook`) under the policy: refused
names and URLs exit 2 with a message that never tells whether a variable exists; only the CLI shares
a key variable (`--shared-key`); a collection run through `spendsight collect` re-checks."""

from __future__ import annotations

import os
import stat

from sqlmodel import select

from models.db import session_scope
from models.settings import get_settings, reset_settings
from models.tables import KeyEnvBinding, Source

SMTP_SECRET = "smtp-victim-password-55"


def orgs(cli) -> None:
    for org in ("org-a", "org-b"):
        code, _, err = cli("org", "add", "--id", org, "--name", org.upper())  # the CLI still creates orgs
        assert code == 0, err


def add(cli, org, key_env, *extra):
    return cli("source", "add", "--org", org, "--provider", "openai", "--key-env", key_env, *extra)


def test_undeclared_variables_exit_2_alike_set_or_not(cli, monkeypatch):
    orgs(cli)
    monkeypatch.setenv("SMTP_PASSWORD", SMTP_SECRET)
    answers = []
    for name in ("SMTP_PASSWORD", "SMTP_PASSWORD_UNSET", "DATABASE_URL"):
        code, out, err = add(cli, "org-a", name)
        assert code == 2 and out == "" and SMTP_SECRET not in err
        answers.append(err.replace(name, "NAME"))
    assert len(set(answers)) == 1 and "SPENDSIGHT_KEY_ENVS" in answers[0]


def test_a_bound_variable_needs_the_operators_shared_key(cli):
    orgs(cli)
    assert add(cli, "org-a", "OPENAI_ADMIN_KEY")[0] == 0
    code, _, err = add(cli, "org-b", "OPENAI_ADMIN_KEY")
    assert code == 2 and "already used by another organization" in err and "--shared-key" in err
    code, out, err = add(cli, "org-b", "OPENAI_ADMIN_KEY", "--shared-key")
    assert code == 0, err
    with session_scope() as session:
        bindings = {(b.name, b.org_id, b.shared) for b in session.exec(select(KeyEnvBinding))}
    assert bindings == {("OPENAI_ADMIN_KEY", "org-a", False), ("OPENAI_ADMIN_KEY", "org-b", True)}


def test_base_urls_outside_the_allowed_prefixes_exit_2(cli, monkeypatch, sink):
    orgs(cli)
    for url in (sink.url + "/v1", "https://api.openai.com.evil.example/v1", "https://api.openai.com:444/v1"):
        code, _, err = add(cli, "org-a", "OPENAI_ADMIN_KEY", "--base-url", url)
        assert code == 2 and "not allowed" in err, url
    with session_scope() as session:
        assert session.exec(select(Source)).all() == []
    monkeypatch.setenv("SPENDSIGHT_ALLOWED_BASE_URLS", sink.url)

    reset_settings()
    assert add(cli, "org-a", "OPENAI_ADMIN_KEY", "--base-url", sink.url + "/v1")[0] == 0


def test_collect_rechecks_a_source_stored_around_the_policy(cli, monkeypatch, sink):
    orgs(cli)
    monkeypatch.setenv("SMTP_PASSWORD", SMTP_SECRET)
    with session_scope() as session:
        session.add(
            Source(org_id="org-b", name="forged", provider="openai", key_env="SMTP_PASSWORD", base_url=sink.url)
        )
    code, out, err = cli("collect", "--source", "forged")
    assert code != 0 and "not one the operator allows" in out + err
    assert SMTP_SECRET not in out + err
    assert sink.requests == []


def test_webhook_to_a_private_address_exits_2(cli, sink):
    orgs(cli)
    for url in (sink.url + "/hook", f"http://localhost:{sink.port}/hook", "http://[::1]/hook"):
        code, _, err = cli("alerts", "webhook", "--org", "org-a", "--url", url)
        assert code == 2 and "private" in err, (url, err)
    cli("alerts", "test", "--org", "org-a")
    assert sink.requests == []


def test_the_data_dir_and_database_files_are_owner_only(cli):
    old = os.umask(0o022)  # a permissive umask, as on most systems
    try:
        orgs(cli)  # creates the database and writes through WAL
        assert cli("init")[0] == 0  # writes prices.toml too; must not loosen anything
    finally:
        os.umask(old)
    settings = get_settings()
    if settings.database_url:  # PostgreSQL: no database file here
        return
    data = settings.data_dir
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
    for name in ("spendsight.db", "spendsight.db-wal", "spendsight.db-shm", "prices.toml"):
        assert stat.S_IMODE(os.stat(data / name).st_mode) == 0o600, name
