"""Every kind of audited change reads as a sentence, in both languages: rows made by the real services
give the exact words, and a kind of change with no sentence (or one `record` does not know) fails."""

from __future__ import annotations

import ast
import re
from datetime import date

import pytest
from sqlmodel import col, select

from alerts.config import add_recipient, remove_recipient, set_webhook
from models.access.audit import ACTIONS, record
from models.access.orgs import update_org_as
from models.access.roles import Actor
from models.budgets.credits import add_credit, remove_credit
from models.budgets.subscriptions import subscribe
from models.db import session_scope
from models.fx import set_rate
from models.gateway import create_key, revoke_key, set_upstream
from models.settings import reset_settings
from models.sources import add_source, set_enabled
from models.tables import AuditLog
from tests.conftest import REPO
from tests.factories import make_org
from ui.audit_sentences import SENTENCES, kind, sentence
from ui.i18n import language

OWNER = "owner@example.com"

# A row in each kind's recorded shape (entity, before, after as JSON text), for the kinds the
# services below do not make here (they need a worker, a provider or a closed month).
SHAPES = {
    "alert.deliver": ("deliveries", "", ""),
    "alert.retry": ("deliveries", "", '{"requeued": 3}'),
    "alert.test": ("test", "", '{"at": "2026-11-30 12:00:00+00:00"}'),
    "alert.recipient.add": ("recipient:threshold:a@example.com", "", '{"rule": "threshold"}'),
    "alert.recipient.remove": ("recipient:threshold:a@example.com", '{"rule": "threshold"}', ""),
    "alert.webhook.set": ("webhook", "", '"https://hooks.example.com/…"'),
    "credit.add": ("credit:1", "", '{"amount_usd": "500", "granted_on": "2026-11-01", "expires_on": null}'),
    "credit.remove": ("credit:1", '{"amount_usd": "500", "granted_on": "2026-11-01", "expires_on": null}', ""),
    "fx.set": ("fx:CNY:2026-11-01", "", '{"rate": "7.10", "since": "2026-11-01"}'),
    "gateway.key.create": ("gateway_key:gk_1", "", '{"name": "app", "project": "search"}'),
    "gateway.key.revoke": ("gateway_key:gk_1", '{"name": "app"}', '{"name": "app"}'),
    "gateway.upstream.set": ("gateway_upstream:openai", "", '{"key_env": "OPENAI_KEY", "base_url": "https://x"}'),
    "ingest_token.create": ("token 4", "", '{"name": "ci"}'),
    "ingest_token.revoke": ("token 4", '{"revoked": false}', '{"revoked": true}'),
    "limit.set": ("limit:search", "", '{"soft_usd": "100"}'),
    "limit.clear": ("limit:search", '{"soft_usd": "100"}', ""),
    "limit.key_link": ("key:apikey_01", "", '{"project": "search", "source": "s", "key": "apikey_01"}'),
    "limit.key_unlink": ("key:apikey_01", '{"project": "search", "key": "apikey_01"}', ""),
    "limit.key_deactivate": ("key:apikey_01", '{"state": "active"}', '{"state": "inactive", "reason": "over"}'),
    "limit.key_reactivate": ("key:apikey_01", '{"state": "inactive"}', '{"state": "active", "reason": "below"}'),
    "member.invite": ("new@example.com", "", '{"email": "new@example.com", "expires_at": "2026-12-07 12:00"}'),
    "member.invite_cancel": ("new@example.com", "", ""),
    "member.set": ("a@example.com", "", '{"role": "reader"}'),
    "member.remove": ("a@example.com", '{"role": "reader"}', ""),
    "org.create": ("org-a", "", '{"name": "A", "environment": "prod", "timezone": "UTC"}'),
    "org.update": ("org-a", '{"timezone": "UTC"}', '{"timezone": "Asia/Shanghai"}'),
    "price.edit": ("prices.toml", '{"sha": "1"}', '{"sha": "2"}'),
    "price.override": ("openai/gpt-5", "{}", '{"input": "1.25", "output": "10"}'),
    "price.override.remove": ("openai/gpt-5", '{"input": "1.25"}', "{}"),
    "source.add": ("org-a-openai", "", '{"provider": "openai", "key_env": "OPENAI_ADMIN_KEY"}'),
    "source.enable": ("org-a-openai", '{"enabled": false}', '{"enabled": true}'),
    "source.disable": ("org-a-openai", '{"enabled": true}', '{"enabled": false}'),
    "source.run": ("org-a-openai", "", '{"requested_at": "2026-11-30"}'),
    "statement.close": ("statement:2026-10", "", '{"total_usd": "1234.5"}'),
    "statement.restate": (
        "statement:2026-10",
        '{"total_usd": "1234.5"}',
        '{"total_usd": "1240", "difference_usd": "5.5", "reason": "late usage"}',
    ),
    "statement.subscribe": ("subscription:a@example.com", "", '{"lang": "zh", "currency": "CNY"}'),
    "statement.unsubscribe": ("subscription:a@example.com", '{"lang": "zh", "currency": "CNY"}', ""),
    "user.add": ("a@example.com", "", '{"email": "a@example.com"}'),
    "user.passwd": ("a@example.com", "", ""),
    "user.remove": ("a@example.com", '{"email": "a@example.com"}', ""),
    "user.preferences": ("a@example.com", '{"lang": "en"}', '{"lang": "zh", "currency": "CNY"}'),
}


def test_every_kind_of_change_has_a_sentence():
    assert set(SENTENCES) == ACTIONS, "add a sentence to ui/audit_sentences.py for each new audit action"
    assert set(SHAPES) == ACTIONS, "add the new action's recorded shape to SHAPES"


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_each_sentence_is_written_out_in_each_language(action, lang):
    entity, before, after = SHAPES[action]
    with language(lang):
        text = sentence("owner@example.com", action, entity, before, after)
    assert text.startswith("owner@example.com ")
    assert "audit." not in text and "{" not in text, text  # no missing key, no unfilled placeholder
    assert action not in text, text  # not the fallback "<action> <entity>"
    assert "None" not in text, text
    with language(lang):
        assert not kind(action).startswith("audit.") and kind(action) != action  # the filter's name for it
    if lang == "zh":
        # The words are Chinese: what is left in Latin letters is names, e-mails and values.
        words = text.removeprefix("owner@example.com ")
        assert re.search(r"[\u4e00-\u9fff]", words), text


def test_record_refuses_a_kind_of_change_it_does_not_know():
    with session_scope() as session, pytest.raises(ValueError, match="not one of"):
        record(session, Actor.cli(), "limit.frobnicate", "org-a")


def test_every_action_the_code_records_is_a_known_one():
    """`record(session, actor, "<action>", ...)` across the code: each literal action is in ACTIONS and
    each built one (f"limit.key_{action}") can only produce known ones."""
    literals, built = set(), []
    for folder in ("models", "alerts", "collectors", "gateway", "worker", "cli"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call) or len(node.args) < 3:
                    continue
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name not in ("record", "audit"):
                    continue
                action = node.args[2]
                if isinstance(action, ast.Constant) and isinstance(action.value, str):
                    literals.add(action.value)
                elif isinstance(action, ast.JoinedStr):
                    built.append("".join(v.value if isinstance(v, ast.Constant) else ".+" for v in action.values))
    assert len(literals) > 25
    assert literals - ACTIONS == set()
    for pattern in built:
        assert any(re.fullmatch(pattern, a) for a in ACTIONS), pattern


def _sentences() -> list[str]:
    with session_scope() as session:
        rows = session.exec(select(AuditLog).order_by(col(AuditLog.id))).all()
        return [sentence(r.actor, r.action, r.entity, r.before, r.after) for r in rows]


def test_rows_made_by_the_services_read_as_these_sentences(monkeypatch):
    monkeypatch.setenv("SPENDSIGHT_ALLOWED_WEBHOOK_HOSTS", "127.0.0.1")  # the operator's chat server (no DNS here)
    reset_settings()
    make_org("org-a", owners=(OWNER,))
    make_org("org-b", owners=(OWNER,))
    actor = Actor(OWNER)
    update_org_as(actor, "org-a", timezone="Asia/Shanghai")
    grant, _ = add_credit(actor, "org-a", "500", date(2027, 1, 1), date(2026, 11, 1))
    remove_credit(actor, "org-a", grant.id)
    set_rate(actor, "CNY", "7.10", date(2026, 11, 1))
    _, key = create_key(actor, "org-a", "search", "app")
    revoke_key(actor, key.id)
    add_recipient(actor, "org-a", "fin@example.com", "threshold")
    remove_recipient(actor, "org-a", "fin@example.com", "threshold")
    set_webhook(actor, "org-a", "http://127.0.0.1:9/services/T0/B0/secret")
    subscribe(actor, "org-a", True, lang="zh", currency="CNY")
    said = _sentences()
    assert said == [
        f"{OWNER} changed the time zone from UTC to Asia/Shanghai",
        f"{OWNER} granted a credit of $500 from 2026-11-01 (expires: 2027-01-01)",
        f"{OWNER} removed the credit of $500 granted on 2026-11-01",
        # a rate applies to every org: each owner's log shows it
        f"{OWNER} set the CNY rate to 7.10 per USD from 2026-11-01 on",
        f"{OWNER} set the CNY rate to 7.10 per USD from 2026-11-01 on",
        f"{OWNER} created the gateway key app ({key.id}) for search",
        f"{OWNER} revoked the gateway key app ({key.id})",
        f"{OWNER} added fin@example.com to the recipients of threshold alerts",
        f"{OWNER} removed fin@example.com from the recipients of threshold alerts",
        said[9],  # the webhook, its secret path redacted (checked below)
        f"{OWNER} subscribed {OWNER} to the monthly statement (zh, CNY)",
    ]
    assert said[9].startswith(f"{OWNER} set the alert webhook to http://127.0.0.1")
    assert "secret" not in said[9]
    with session_scope() as session:
        fx_orgs = session.exec(select(AuditLog.org_id).where(AuditLog.action == "fx.set")).all()
    assert sorted(fx_orgs) == ["org-a", "org-b"]
    with language("zh"):
        assert _sentences()[0] == f"{OWNER} 将时区从 UTC 改为 Asia/Shanghai"


def test_identical_re_saves_of_a_source_switch_and_an_upstream_are_not_changes(monkeypatch):
    monkeypatch.setenv("SPENDSIGHT_KEY_ENVS", "OPENAI_*")
    reset_settings()
    make_org("org-a", owners=(OWNER,))
    actor = Actor(OWNER)
    with session_scope() as session:
        add_source(session, actor, "org-a", "openai", "OPENAI_ADMIN_KEY")
    for enabled in (False, False, True, True):
        with session_scope() as session:
            set_enabled(session, actor, "org-a-openai", enabled)
    for _ in range(2):
        set_upstream(actor, "org-a", "openai", "OPENAI_GW_KEY")
    with session_scope() as session:
        kinds = [r.action for r in session.exec(select(AuditLog).order_by(col(AuditLog.id)))]
    assert kinds == ["source.add", "source.disable", "source.enable", "gateway.upstream.set"]
