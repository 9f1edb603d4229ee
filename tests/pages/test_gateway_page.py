"""Gateway page: an owner creates a key (shown once) and revokes it; a reader sees no controls; the
per-minute chart shows answered requests and rejections by reason."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from models.db import get_engine
from models.gateway import hash_token
from tests.factories import add_usage, make_org, usage
from tests.pageutil import run_page, texts

OWNER, READER = "owner@example.com", "reader@example.com"
PAGE = "pages/12_Gateway.py"


def test_owner_creates_a_key_shown_once_and_revokes_it():
    make_org("org-p", name="Pages Org", owners=(OWNER,), readers=(READER,))
    at = run_page(PAGE, user=OWNER)
    assert not at.exception
    at.text_input(key="gw_name").input("checkout")
    at.button(key="gw_create_submit").click().run()
    shown = [line for line in texts(at).split() if line.strip("`").startswith("ssk-")]
    assert len(shown) == 1
    token = shown[0].strip("`.")
    with get_engine().connect() as conn:
        stored = conn.execute(text("SELECT key_sha256, name, public_id FROM gateway_key")).one()
    assert stored[0] == hash_token(token) and stored[1] == "checkout"
    at.run()
    assert "ssk-" not in texts(at)  # shown once only
    at.button(key="gw_revoke").click().run()
    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT revoked_at FROM gateway_key")).scalar() is not None
    reader = run_page(PAGE, user=READER)
    assert not reader.exception and "gw_create_submit" not in [b.key for b in reader.button]


def test_activity_per_minute():
    make_org("org-p", name="Pages Org", owners=(OWNER,))
    now = datetime.now(UTC)
    add_usage(usage("org-p", now, source="gateway", input_tokens=5), usage("org-p", now, source="gateway"))
    with get_engine().begin() as conn:
        conn.execute(
            text(
                "INSERT INTO gateway_rejection (rejection_id, at, org_id, project_id, key_id, provider, model, reason) "
                "VALUES ('r1', :at, 'org-p', '', 'gk_1', 'openai', 'gpt-4o-mini', 'hard_limit_reached')"
            ),
            {"at": now.isoformat(" ", "microseconds")[:26] if conn.dialect.name == "sqlite" else now},
        )
    at = run_page(PAGE, user=OWNER)
    assert not at.exception
    assert "No requests" not in texts(at) and at.get("plotly_chart")
