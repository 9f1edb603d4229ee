"""Prices page model: effective catalog, override edits written to prices.toml, owner-only and audited."""

from datetime import date
from decimal import Decimal

import pytest
from sqlmodel import select

from models.access.roles import Actor, PermissionDenied
from models.db import session_scope
from models.fx import rates
from models.pricing.catalog import PriceFileError, get_catalog
from models.pricing.edit import catalog_table, overrides, read_text, remove_override, save_text, search, set_override
from models.spend.queries import SpendQuery, spend
from models.tables import AuditLog
from models.validation import ValidationError
from tests.factories import add_usage, make_org, usage
from tests.pageutil import run_page, texts

OWNER, READER = Actor("owner@example.com"), Actor("reader@example.com")


@pytest.fixture
def orgs():
    make_org("org-a", "A", owners=("owner@example.com",), readers=("reader@example.com",))
    make_org("org-b", "B", owners=("owner@example.com", "other@example.com"))


def test_catalog_table_shows_effective_prices_and_their_origin():
    frame = catalog_table(date(2026, 11, 1))
    rows = frame.set_index(["provider", "model"])
    assert rows.loc[("openai", "gpt-4o"), "input_mtok"] == Decimal("2.5")
    assert rows.loc[("openai", "gpt-4o"), "origin"] == "genai-prices"
    embedding = rows.loc[("openai", "text-embedding-3-small")]
    assert embedding["origin"] == "override" and embedding["input_mtok"] == Decimal("0.02")
    assert "line" in embedding["notes"]
    assert set(search(frame, "GPT-4o mini")["model"]) >= {"gpt-4o-mini"}
    assert all("haiku" in m for m in search(frame, "anthropic haiku")["model"])


def test_search_narrows_by_provider_and_to_overrides():
    frame = catalog_table(date(2026, 11, 1))
    anthropic = search(frame, "", ["anthropic"])
    assert len(anthropic) and set(anthropic["provider"]) == {"anthropic"}
    assert len(search(frame, "", ["anthropic", "openai"])) == len(anthropic) + (frame["provider"] == "openai").sum()
    mine = search(frame, "embedding", ["openai"], only_overrides=True)
    assert "text-embedding-3-small" in set(mine["model"]) and set(mine["origin"]) == {"override"}
    assert search(frame, "gpt-4o", ["anthropic"]).empty


def test_owner_override_reprices_history_and_is_audited(orgs, env):
    add_usage(usage("org-a", "2026-11-02T10:00:00Z", model="gpt-4o", input_tokens=1_000_000))
    before = spend(SpendQuery.make("org-a", date(2026, 11, 1), date(2026, 12, 1)))[0].cost
    assert before == Decimal("2.5")
    set_override(
        OWNER, "openai", "gpt-4o", {"input_mtok": "2", "output_mtok": 8}, since=date(2026, 11, 1), note="negotiated"
    )
    text = (env / "prices.toml").read_text()
    assert 'model = "gpt-4o"\nsince = 2026-11-01\ninput_mtok = 2.0\noutput_mtok = 8.0\nnote = "negotiated"' in text
    assert "# Embedding models are not in genai-prices' bundled data." in text  # comments kept
    assert spend(SpendQuery.make("org-a", date(2026, 11, 1), date(2026, 12, 1)))[0].cost == Decimal("2")
    # The same provider/model/since replaces the entry instead of adding a second one.
    set_override(OWNER, "openai", "gpt-4o", {"input_mtok": "1.5"}, since=date(2026, 11, 1))
    entries = overrides()
    assert (entries["model"] == "gpt-4o").sum() == 1
    line = int(entries.loc[entries["model"] == "gpt-4o", "line"].iloc[0])
    assert get_catalog().resolve("openai", "gpt-4o", date(2026, 11, 5)).per_mtok("input_mtok") == Decimal("1.5")
    remove_override(OWNER, line)
    assert 'gpt-4o"' not in read_text().split("# Examples")[0]
    assert get_catalog().resolve("openai", "gpt-4o", date(2026, 11, 5)).origin == "genai-prices"
    with session_scope() as session:
        log = [(a.action, a.org_id, a.entity, a.actor) for a in session.exec(select(AuditLog).order_by(AuditLog.id))]
    assert log[:2] == [
        ("price.override", "org-a", "openai/gpt-4o since 2026-11-01", "owner@example.com"),
        ("price.override", "org-b", "openai/gpt-4o since 2026-11-01", "owner@example.com"),
    ]
    assert [a for a, *_ in log] == ["price.override"] * 4 + ["price.override.remove"] * 2


def test_readers_and_partial_owners_cannot_change_prices(orgs, env):
    with pytest.raises(PermissionDenied, match="reader@example.com is a reader"):
        set_override(READER, "openai", "gpt-4o", {"input_mtok": 1})
    with pytest.raises(PermissionDenied, match="only owners of org-a"):
        set_override(Actor("other@example.com"), "openai", "gpt-4o", {"input_mtok": 1})
    assert not (env / "prices.toml").exists()
    with session_scope() as session:
        assert session.exec(select(AuditLog)).first() is None


def test_invalid_edits_name_the_field_and_keep_the_file(orgs, env):
    save_text(OWNER, read_text())  # a real file on disk
    original = (env / "prices.toml").read_text()
    with pytest.raises(ValidationError, match="input_mtok: expected a non-negative number"):
        set_override(OWNER, "openai", "gpt-4o", {"input_mtok": "-1"})
    with pytest.raises(ValidationError, match="model: required"):
        set_override(OWNER, "openai", " ", {"input_mtok": "1"})
    with pytest.raises(
        PriceFileError, match=r"prices.toml line 3 \[\[override\]\] field 'inptu_mtok': unknown price key"
    ):
        save_text(OWNER, '# mine\n\n[[override]]\nprovider = "openai"\nmodel = "x"\ninptu_mtok = 1\n')
    with pytest.raises(ValidationError, match="line 2: there is no"):
        remove_override(OWNER, 2)
    assert (env / "prices.toml").read_text() == original


# --- the page ----------------------------------------------------------------------------------

PAGE = "pages/10_Prices.py"


def test_reader_sees_the_catalog_but_no_edit_controls(orgs):
    at = run_page(PAGE, user="reader@example.com", session={"pr_query": "gpt-4o mini"})
    assert not at.exception
    table = at.dataframe[0].value
    assert "gpt-4o-mini" in set(table["model"]) and set(table["provider"]) >= {"openai"}
    assert "only an owner of all of them" in texts(at)
    assert not at.text_area and not [b for b in at.button if b.key == "pr_remove"]


def test_owner_adds_an_override_from_the_form(orgs, env):
    at = run_page(PAGE, user="owner@example.com")
    assert not at.exception
    at.text_input(key="pr_model").input("llama-3.1-70b-internal")
    at.text_input(key="pr_provider").input("self-hosted")
    at.text_input(key="pr_input_mtok").input("0.2")
    at.text_input(key="pr_output_mtok").input("0.4")
    at.text_input(key="pr_note").input("GPU cost")
    at.button[0].click().run()  # the form's submit button
    assert not at.exception
    assert "Saved self-hosted/llama-3.1-70b-internal" in texts(at)
    assert (
        'provider = "self-hosted"\nmodel = "llama-3.1-70b-internal"\ninput_mtok = 0.2'
        in (env / "prices.toml").read_text()
    )
    assert "llama-3.1-70b-internal" in set(at.dataframe[-1].value["model"])  # the overrides table


def test_owner_gets_the_line_and_field_of_a_bad_file(orgs, env):
    at = run_page(PAGE, user="owner@example.com")
    at.text_area(key="pr_raw").input('[[override]]\nprovider = "openai"\nmodel = "x"\ninput_mtok = "cheap"\n')
    at.button(key="pr_raw_save").click().run()
    assert not at.exception
    assert "line 1 [[override]] field 'input_mtok': expected a number" in texts(at)
    assert not (env / "prices.toml").exists()


def test_owner_sets_a_dated_display_rate_and_a_comma_is_refused(orgs):
    at = run_page(PAGE, user="owner@example.com")
    at.text_input(key="pr_fx_rate").input("7,10")
    at.date_input(key="pr_fx_since").set_value(date(2026, 10, 1))
    at.button(key="FormSubmitter:pr_fx-Save rate").click().run()
    assert not at.exception and "is not a number like 7.10" in texts(at) and rates("CNY") == []
    at.text_input(key="pr_fx_rate").input("7.10")
    at.button(key="FormSubmitter:pr_fx-Save rate").click().run()
    assert not at.exception
    assert "Saved: at 7.10 CNY/USD since 2026-10-01." in texts(at)
    assert [(r.since, r.rate) for r in rates("CNY")] == [(date(2026, 10, 1), Decimal("7.10"))]
    reader = run_page(PAGE, user="reader@example.com")
    assert "7.10" in reader.dataframe[-1].value.to_csv() and not [b for b in reader.button if "fx" in str(b.key)]
