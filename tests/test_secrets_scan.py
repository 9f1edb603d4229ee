"""Secrets stay out of the database, logs, pages and exports; the files holding them are git-ignored."""

from __future__ import annotations

import logging
import subprocess
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

from collectors.http import RetryPolicy
from collectors.runner import run_source
from gateway.signin import COOKIE
from models.access import auth
from models.access.roles import Actor
from models.db import get_engine, session_scope
from models.settings import get_settings, reset_settings
from models.sources import add_source, list_sources
from tests.conftest import REPO
from tests.factories import make_org
from tests.gateway.signin_server import SigninServer
from tests.gateway.test_signin import sign_in
from tests.pageutil import run_page, texts
from tests.provider_server import ANTHROPIC_KEY, OPENAI_KEY, fixture_server

PASSWORD = "hunter2-but-longer"


def database_dump() -> str:
    """Every row of every table as text, on either backend; plus the raw SQLite files when there are any."""
    parts = []
    with get_engine().connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for row in conn.execute(text(f'SELECT * FROM "{table.name}"')):
                parts.append(" ".join(str(v) for v in row))
    url = get_settings().db_url
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                with open(path + suffix, "rb") as fh:
                    parts.append(fh.read().decode("latin-1"))
            except FileNotFoundError:
                pass
    return "\n".join(parts)


def assert_absent(needles: list[str], **haystacks: str) -> None:
    for where, haystack in haystacks.items():
        for needle in needles:
            assert needle not in haystack, f"secret material found in {where}"


def page_dump(at) -> str:
    """What a page put on screen, including tables and widget values."""
    parts = [texts(at)]
    parts += [d.value.to_csv() for d in at.dataframe]
    parts += [str(w.value) for kind in ("text_input", "text_area") for w in getattr(at, kind)]
    parts += [str(at.session_state[k]) for k in ("sign_in_password",) if k in at.session_state]
    return "\n".join(parts)


def test_secret_files_and_the_data_dir_are_git_ignored():
    for path in (".streamlit/secrets.toml", "data/spendsight.db", "data/prices.toml", ".env"):
        result = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO)
        assert result.returncode == 0, f"{path} is not git-ignored"
    assert subprocess.run(["git", "check-ignore", "-q", "data/README.md"], cwd=REPO).returncode == 1


def test_settings_never_show_a_secret(tmp_path, monkeypatch):
    key = "sk-admin-SCANME-0123456789abcdef"
    monkeypatch.setenv("SMTP_PASSWORD", "smtp-SCANME-password")
    (tmp_path / "secrets.toml").write_text(f'OPENAI_ADMIN_KEY = "{key}"\n')

    reset_settings()
    settings = get_settings()
    assert settings.secret("OPENAI_ADMIN_KEY").get_secret_value() == key
    shown = " ".join(
        [repr(settings), str(settings), settings.model_dump_json(), repr(settings.secret("OPENAI_ADMIN_KEY"))]
    )
    assert_absent([key, "smtp-SCANME-password"], settings=shown)


def test_passwords_and_session_tokens_leave_no_trace(caplog):
    caplog.set_level(logging.DEBUG)
    make_org("org-a", name="Org A", owners=("ana@example.com",))
    with session_scope() as session:
        auth.add_user(session, Actor.cli(), "ana@example.com", PASSWORD)
    # Signed in the way people sign in: the front route over real HTTP, which sets the session cookie.
    # (The test's own HTTP client logs the Set-Cookie it receives at DEBUG; that is the browser's side,
    # not the server's, so its loggers are kept out of the scan.)
    caplog.set_level(logging.WARNING, logger="httpcore")
    caplog.set_level(logging.WARNING, logger="httpx")
    with SigninServer() as front, httpx.Client(timeout=60) as client:
        response = sign_in(client, front.url, password=PASSWORD)
        assert response.status_code == 303, response.text
        token = client.cookies[COOKIE]
    assert auth.check_session(token)[1] == "ok"
    # A wrong guess is not kept either (failures store only the email and time).
    auth.authenticate("ana@example.com", "wrong-SCANME-guess")
    with session_scope() as session:
        auth.set_password(session, Actor.cli(), "ana@example.com", "second-SCANME-password")
    audit_page = run_page("pages/11_Audit_log.py", user="ana@example.com")
    needles = [PASSWORD, token, "wrong-SCANME-guess", "second-SCANME-password"]
    assert_absent(needles, database=database_dump(), logs=caplog.text, audit_page=page_dump(audit_page))


@pytest.mark.sqlite_only
def test_database_scan_finds_what_is_there():
    """The scan itself can fail: a value stored in a table is found in the raw file dump."""
    make_org("org-a", name="Org SCANME-canary")
    dump = database_dump()
    assert "SCANME-canary" in dump
    with pytest.raises(AssertionError, match="found in database"):
        assert_absent(["SCANME-canary"], database=dump)


# --- after a collection against the local provider server -------------------------------------


def test_no_key_material_anywhere_after_a_collection(tmp_path, monkeypatch, caplog, cli, downloads):
    caplog.set_level(logging.DEBUG)
    server = fixture_server(monkeypatch)
    try:
        # One key from the environment, the other from the secrets file, as documented.
        monkeypatch.delenv("ANTHROPIC_ADMIN_KEY")
        (tmp_path / "secrets.toml").write_text(f'ANTHROPIC_ADMIN_KEY = "{ANTHROPIC_KEY}"\n')
        reset_settings()
        make_org("org-k", name="Keyed Org", owners=("owner@example.com",))
        with session_scope() as session:
            sources = [
                add_source(session, Actor.cli(), "org-k", provider, key_env, server.base_url, f"k-{provider}")
                for provider, key_env in (("openai", "OPENAI_ADMIN_KEY"), ("anthropic", "ANTHROPIC_ADMIN_KEY"))
            ]
        for source in sources:
            result = run_source(source, policy=RetryPolicy(sleep=lambda s: None, base_delay=0))  # usage and costs
            assert result.ok and result.rows > 0, result.errors()
    finally:
        server.stop()

    pages = {}
    for path in ["app.py"] + sorted(f"pages/{p.name}" for p in (REPO / "pages").glob("*.py")):
        at = run_page(path, user="owner@example.com", session={"org_id": "org-k"})
        assert not at.exception, f"{path}: {at.exception}"
        pages[path] = page_dump(at)
    assert "k-openai" in "\n".join(pages.values())  # the pages did show the collected org's sources

    today = date.today()
    outputs = [
        cli(
            "report",
            "--org",
            "org-k",
            "--start",
            str(today - timedelta(days=30)),
            "--end",
            str(today + timedelta(days=2)),
            "--by",
            "day,model",
            "--format",
            fmt,
        )[1]
        for fmt in ("csv", "json")
    ]
    outputs += [cli("source", "list")[1], cli("org", "list")[1], cli("user", "list")[1]]
    assert "k-anthropic" in outputs[2] and len(outputs[0].splitlines()) > 2

    needles = [OPENAI_KEY, ANTHROPIC_KEY, "TESTKEY"]
    exports = b"\n".join(downloads).decode("latin-1")
    assert downloads, "no page offered a download to scan"
    assert_absent(
        needles,
        database=database_dump(),
        logs=caplog.text,
        exports=exports,
        cli="\n".join(outputs),
        **{f"page {path}": text_ for path, text_ in pages.items()},
    )


def test_a_key_pasted_into_the_key_variable_field_is_refused_and_forgotten(caplog):
    """The commonest leak: an owner types the key itself where the variable's NAME belongs."""
    caplog.set_level(logging.DEBUG)
    pasted = "sk-admin-PASTEDKEY-0123456789abcdefghij"
    make_org("org-a", name="Org A", owners=("ana@example.com",))
    at = run_page("pages/8_Sources.py", user="ana@example.com")
    at.text_input(key="src_key_env").input(pasted)
    at.button(key="src_add_submit").click()
    at.run()
    assert not at.exception
    assert "not the key itself" in texts(at)
    with session_scope() as session:
        assert list_sources(session) == []
    # Messages and tables (the text field itself still shows what was typed, in the owner's own browser).
    screen = "\n".join([texts(at)] + [d.value.to_csv() for d in at.dataframe])
    assert_absent([pasted, "PASTEDKEY"], database=database_dump(), logs=caplog.text, page_messages=screen)
