"""Input safety: what an owner types is validated with a message naming the field, and a refused input
changes nothing; uploads name the file, line and field."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from alerts.config import add_recipient, set_webhook
from models.access.orgs import create_org_as, set_member_as, update_org_as
from models.access.roles import Actor
from models.budgets.credits import add_credit
from models.budgets.limits import set_limit
from models.db import session_scope
from models.pricing.edit import save_text
from models.settings import get_settings, reset_settings
from models.sources import add_source
from models.spend.compare import CompareError, parse_scores
from models.validation import ValidationError
from tests.factories import make_org
from tests.pages.test_roles_pages import snapshot

OWNER = Actor("owner@example.com")
LONG = "x" * 201
CTRL = "Acme\x00Corp"


def _create_org(org_id, name="Name"):
    return lambda: create_org_as(OWNER, org_id, name)


def _rename(name):
    return lambda: update_org_as(OWNER, "org-a", name=name)


def _member(email):
    return lambda: set_member_as(OWNER, "org-a", email, "reader")


def _limit(project, soft="10"):
    return lambda: set_limit(OWNER, "org-a", project, soft=soft)


def _credit(note, amount="5"):
    return lambda: add_credit(OWNER, "org-a", amount, date.today() + timedelta(days=30), note=note)


def _recipient(email):
    return lambda: add_recipient(OWNER, "org-a", email)


def _webhook(url):
    return lambda: set_webhook(OWNER, "org-a", url)


def _source(key_env="OPENAI_ADMIN_KEY", base_url=None, name=None):
    def call():
        with session_scope() as session:
            add_source(session, OWNER, "org-a", "openai", key_env, base_url, name)

    return call


CASES = [
    ("org id with a space", _create_org("org a"), "organization id 'org a'"),
    ("org id empty", _create_org(""), "organization id ''"),
    ("org name empty", _create_org("org-new", "  "), "organization name must not be empty"),
    ("org name too long", _rename(LONG), "organization name is longer than 200 characters"),
    ("org name control char", _rename(CTRL), "organization name contains control characters"),
    ("member email", _member("ana at example"), "email 'ana at example' is not a valid address"),
    ("member email with markup", _member("<b>@x.com"), "is not a valid address"),
    ("project too long", _limit(LONG), "project is longer than 200 characters"),
    ("project control char", _limit(CTRL), "project contains control characters"),
    ("limit not a number", _limit("", soft="lots"), "soft limit"),
    ("credit note control char", _credit(CTRL), "note must be at most 200 characters"),
    ("credit amount negative", _credit("", amount="-5"), "amount"),
    ("recipient email", _recipient("finance@"), "is not a valid address"),
    ("webhook not a URL", _webhook("javascript:alert(1)"), "webhook URL must be an http(s) URL"),
    ("source key pasted", _source(key_env="sk-admin-abc123"), "not the key itself"),
    ("source base url", _source(base_url="ftp://example.com"), "base-url 'ftp://example.com'"),
    ("source base url credentials", _source(base_url="https://u:p@example.com/v1"), "must not carry credentials"),
    ("source name", _source(name="my source!"), "source name 'my source!'"),
]


@pytest.mark.parametrize("name, call, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_a_message_naming_the_field(name, call, message, monkeypatch):
    monkeypatch.setenv("SPENDSIGHT_ORG_CREATORS", OWNER.email)  # so org input reaches its validation
    reset_settings()
    make_org("org-a", name="Alpha", owners=(OWNER.email,))
    before = snapshot()
    with pytest.raises(ValidationError) as refused:
        call()
    assert message in str(refused.value), f"{name}: {refused.value}"
    assert snapshot() == before, f"{name}: refused input still changed the database"


def test_price_file_errors_name_the_line_and_field():
    make_org("org-a", name="Alpha", owners=(OWNER.email,))
    path = get_settings().prices_file
    path.write_text("")
    bad = '[[override]]\nprovider = "openai"\nmodel = "x"\ninput_mtok = "cheap"\n'
    with pytest.raises(ValueError, match=r"line 1 \[\[override\]\] field 'input_mtok'"):
        save_text(OWNER, bad)
    assert path.read_text() == ""


def test_uploaded_scores_name_the_line_and_field():
    content = b"model,score\ngpt-4o,0.9\ngpt-4o-mini,lots\n"
    with pytest.raises(CompareError, match=r"evals.csv: line 3 field 'score': expected a number, got 'lots'"):
        parse_scores(content, source="evals.csv")
    with pytest.raises(CompareError, match="not UTF-8"):
        parse_scores(b"\xff\xfe\x00m", source="evals.csv")
