"""What commands share that needs the database: the schema, an org check, alerts after new usage."""

from __future__ import annotations

from collections.abc import Iterable

import alerts
from cli.common import refused
from models.access.orgs import get_org
from models.db import session_scope
from models.schema import init_db
from models.validation import ValidationError


def ensure_db() -> None:
    """Create missing tables (idempotent); commands then use sessions."""
    init_db()


def org_exists(org: str) -> None:
    with refused(ValidationError):
        with session_scope() as session:
            get_org(session, org)


def after_usage(org_ids: Iterable[str]) -> None:
    """After new usage: evaluate alerts for the orgs it touched and send what is due."""
    if org_ids:
        alerts.after_usage(sorted(org_ids))
