"""Sources and Reconciliation pages: smoke as owner and reader, owner controls, what readers cannot do."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text

from collectors.runner import run_source
from models.access.roles import Actor
from models.db import get_engine, session_scope
from models.fx import set_rate
from models.settings import reset_settings
from models.sources import add_source, set_enabled
from models.tables import BilledCost
from tests.factories import add_usage, make_org, usage
from tests.pageutil import run_page, texts
from tests.provider_server import OPENAI_KEY

OWNER, READER = "owner@example.com", "reader@example.com"
SOURCES, RECON = "pages/8_Sources.py", "pages/7_Reconciliation.py"


def rows(sql, **params):
    with get_engine().connect() as conn:
        return conn.execute(text(sql), params).all()


def org():
    make_org("org-p", name="Pages Org", owners=(OWNER,), readers=(READER,))


def add(name="org-p-openai", key_env="OPENAI_ADMIN_KEY", base_url=None):
    with session_scope() as session:
        return add_source(session, Actor(OWNER), "org-p", "openai", key_env, base_url, name)


def labels(at) -> set[str]:
    return {b.label for b in at.button}


def test_sources_page_empty_state_tells_owner_and_reader_what_to_do():
    org()
    owner = run_page(SOURCES, user=OWNER)
    assert not owner.exception
    assert "spendsight source add --org org-p" in texts(owner)
    assert "Add source" in labels(owner) and labels(owner) - {"Add source", "Sign out"} == set()
    reader = run_page(SOURCES, user=READER)
    assert not reader.exception
    assert "An owner of this organization can add one" in texts(reader)


def test_owner_adds_a_source_and_requests_a_run(monkeypatch):
    org()
    monkeypatch.setenv("OPENAI_ADMIN_KEY", OPENAI_KEY)
    monkeypatch.setenv("SPENDSIGHT_ALLOWED_BASE_URLS", "http://127.0.0.1:9")  # the operator's choice
    reset_settings()
    at = run_page(SOURCES, user=OWNER)
    at.text_input(key="src_key_env").input("OPENAI_ADMIN_KEY")
    at.text_input(key="src_base_url").input("http://127.0.0.1:9/v1")
    at.button(key="src_add_submit").click().run()
    assert not at.exception
    assert rows("SELECT name, provider, key_env, base_url FROM source") == [
        ("org-p-openai", "openai", "OPENAI_ADMIN_KEY", "http://127.0.0.1:9/v1")
    ]
    assert "Added org-p-openai" in texts(at)
    table = at.dataframe[0].value
    assert list(table["name"]) == ["org-p-openai"] and list(table["key"]) == ["OPENAI_ADMIN_KEY (set)"]
    at.button(key="src_run").click().run()
    assert rows("SELECT run_requested_at IS NOT NULL FROM source") == [(True,)]
    assert "Run requested for org-p-openai" in texts(at)
    at.button(key="src_disable").click().run()
    assert rows("SELECT enabled FROM source") == [(False,)]
    assert [r[0] for r in rows("SELECT action FROM audit_log ORDER BY id")] == [
        "source.add",
        "source.run",
        "source.disable",
    ]
    page = repr(at) + texts(at)
    assert OPENAI_KEY not in page


def test_owner_gets_a_named_error_for_a_key_pasted_as_the_variable():
    org()
    at = run_page(SOURCES, user=OWNER)
    at.text_input(key="src_key_env").input("sk-admin-pasted-key-value-123456")
    at.button(key="src_add_submit").click().run()
    assert "NAME of an environment variable" in texts(at)
    assert "pasted-key-value" not in texts(at)
    assert rows("SELECT COUNT(*) FROM source")[0][0] == 0


def test_reader_sees_status_but_no_add_disable_or_run_controls(provider):
    org()
    source = add(base_url=provider.base_url)
    add(name="broken", key_env="OPENAI_UNSET_KEY", base_url=provider.base_url)
    run_source(source)
    with session_scope() as session:
        set_enabled(session, Actor(OWNER), "broken", False)
    at = run_page(SOURCES, user=READER)
    assert not at.exception
    assert labels(at) == {"Sign out"}  # no Run now, Disable, Enable or Add source
    assert not at.text_input and "src_pick" not in [s.key for s in at.selectbox]
    table = at.dataframe[0].value.set_index("name")
    assert table.loc["org-p-openai", "state"] == "enabled" and table.loc["broken", "state"] == "disabled"
    assert table.loc["org-p-openai", "last_rows"] > 0 and table.loc["org-p-openai", "last_error"] == ""
    assert table.loc["broken", "key"] == "OPENAI_UNSET_KEY (NOT SET)"
    assert table.loc["broken", "next_run"] == "—"
    assert "Only owners can add, disable or run sources" in texts(at)
    endpoints = at.dataframe[1].value
    assert "completions" in set(endpoints["endpoint"])


def test_reconciliation_page_shows_estimate_bill_and_drift():
    org()
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    add_usage(
        usage(
            "org-p",
            day + timedelta(hours=3),
            model="gpt-4o",
            project_id="proj_a",
            input_tokens=1_000_000,
            output_tokens=100_000,
        )
    )  # $3.50 at $2.50/$10 per million
    add()
    with session_scope() as session:
        session.add(
            BilledCost(
                org_id="org-p",
                source="org-p-openai",
                provider="openai",
                bucket_start=day,
                project_id="proj_a",
                line_item="gpt-4o, input",
                amount_micros=2_500_000,
            )
        )
    for user in (OWNER, READER):
        at = run_page(RECON, user=user)
        assert not at.exception
        assert [m.value for m in at.metric] == ["$3.50", "$2.50", "+40.0%"]
        table = at.dataframe[-1].value
        assert list(table["day"]) == [day.date().isoformat()] and list(table["drift_pct"]) == [40.0]
        assert "drift more than 10%" in texts(at)


def test_reconciliation_page_empty_state():
    org()
    at = run_page(RECON, user=READER)
    assert not at.exception
    assert "Billed costs come from provider sources" in texts(at)
    assert not at.metric


def _bill(day, amount_micros, model="", line_item=""):
    with session_scope() as session:
        session.add(
            BilledCost(
                org_id="org-p",
                source="org-p-openai",
                provider="openai",
                bucket_start=day,
                project_id="proj_a",
                model=model,
                line_item=line_item,
                amount_micros=amount_micros,
            )
        )


def test_reconciliation_page_says_why_in_words_in_both_languages():
    org()
    day = datetime(2026, 11, 12, tzinfo=UTC)
    add_usage(
        usage("org-p", day + timedelta(hours=3), model="gpt-4o", project_id="proj_a", input_tokens=1_000_000),
        usage("org-p", day + timedelta(hours=4), model="gpt-6-pro", project_id="proj_a", input_tokens=1_234_567),
        usage("org-p", day + timedelta(days=1, hours=4), model="gpt-4o", project_id="proj_a", input_tokens=10),
    )
    _bill(day, 4_500_000, model="gpt-4o")  # $2.50 estimated
    _bill(day, 23_000_000, line_item="gpt-6-pro, input")  # no catalog price
    window = {"rc_start": date(2026, 11, 1), "rc_end": date(2026, 12, 1)}
    at = run_page(RECON, user=READER, session=window)
    assert not at.exception
    shown = texts(at)
    assert "92% of the gap on Nov 12 is gpt-6-pro usage with no price (1,234,567 tokens)" in shown
    assert "100% of the gap on Nov 13 is usage the provider has not billed yet." in shown
    causes = at.dataframe[1].value
    assert list(causes["cause"]) == ["Model with no price", "Not explained", "Not billed yet"]
    assert list(causes["share_pct"]) == [92.0, 8.0, 100.0]
    zh = run_page(RECON, user=READER, session={**window, "lang": "zh"})
    assert "11月12日 的差额中 92% 来自没有价格的 gpt-6-pro 用量（1,234,567 个令牌）" in texts(zh)


def test_reconciliation_in_cny_uses_the_rate_of_the_period_not_today_s():
    """A past period's estimate and bill at the rate in force on its last day, and the page says so."""
    org()
    day = datetime(2026, 10, 12, tzinfo=UTC)
    add_usage(usage("org-p", day + timedelta(hours=3), model="gpt-4o", project_id="proj_a", input_tokens=1_000_000))
    _bill(day, 2_000_000, model="gpt-4o")
    set_rate(Actor.cli(), "CNY", "7.00", date(2026, 10, 1))  # in force for the period
    set_rate(Actor.cli(), "CNY", "8.00", date(2026, 11, 1))  # today's (after the period)
    window = {"rc_start": date(2026, 10, 1), "rc_end": date(2026, 11, 1), "currency": "CNY"}
    at = run_page(RECON, user=READER, session=window)
    assert not at.exception
    assert [m.value for m in at.metric[:2]] == ["¥17.50", "¥14.00"]  # $2.50 and $2.00 at 7.00
    assert "at 7.00 CNY/USD since 2026-10-01" in texts(at)
