"""Saving a limit or webhook unchanged writes nothing and records nothing (service layer)."""

from sqlalchemy import text

from alerts.config import set_webhook
from models.access.roles import Actor
from models.budgets.limits import get_limit, set_limit
from models.db import get_engine
from models.settings import reset_settings
from tests.factories import make_org

OWNER = Actor("owner@example.com")


def audit_rows():
    with get_engine().connect() as conn:
        return conn.execute(text("SELECT action FROM audit_log ORDER BY id")).scalars().all()


def test_identical_limit_resave_is_not_a_change():
    make_org("org-a", owners=(OWNER.email,))
    first = set_limit(OWNER, "org-a", soft="100", hard="200", thresholds="50,80,100")
    again = set_limit(OWNER, "org-a", soft="100.00", hard=200, thresholds=[50, 80, 100])
    assert again.updated_at == first.updated_at == get_limit("org-a").updated_at  # no write
    assert audit_rows() == ["limit.set"]
    set_limit(OWNER, "org-a", soft="120")
    assert audit_rows() == ["limit.set", "limit.set"]


def test_identical_webhook_resave_is_not_a_change(monkeypatch):
    monkeypatch.setenv("SPENDSIGHT_ALLOWED_WEBHOOK_HOSTS", "hooks.example.com")  # the sandbox has no DNS
    reset_settings()
    make_org("org-a", owners=(OWNER.email,))
    set_webhook(OWNER, "org-a", "https://hooks.example.com/x")
    set_webhook(OWNER, "org-a", "https://hooks.example.com/x")
    set_webhook(OWNER, "org-a", None)
    set_webhook(OWNER, "org-a", None)
    assert audit_rows() == ["alert.webhook.set", "alert.webhook.set"]
