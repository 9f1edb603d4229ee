"""Read-only views of configured collector sources for pages and the CLI (changes: collectors/sources.py)."""

from __future__ import annotations

from sqlmodel import select

from models.db import session_scope
from models.settings import get_settings
from models.tables import Source, SourceCursor

STATUS_COLUMNS = ("name", "provider", "enabled", "key_env", "key_set", "base_url", "last_run_at", "last_success_at",
                  "last_rows", "rows_written", "last_error", "next_run_at", "run_requested_at")


def source_status(org_id: str) -> list[dict]:
    """One dict per source of the org. `key_set` says whether the key variable is set, never its value."""
    settings = get_settings()
    with session_scope() as session:
        sources = list(session.exec(select(Source).where(Source.org_id == org_id).order_by(Source.name)))
        out = []
        for s in sources:
            row = {c: getattr(s, c) for c in STATUS_COLUMNS if c != "key_set"}
            row["key_set"] = settings.has_secret(s.key_env)
            out.append(row)
        return out


def endpoint_status(org_id: str) -> list[dict]:
    """Per source and endpoint: how far it is collected, the last run's rows and error."""
    with session_scope() as session:
        query = (select(Source.name, SourceCursor.endpoint, SourceCursor.collected_until, SourceCursor.last_rows,
                        SourceCursor.last_error, SourceCursor.updated_at)
                 .join(SourceCursor, SourceCursor.source_id == Source.id)
                 .where(Source.org_id == org_id).order_by(Source.name, SourceCursor.endpoint))
        return [{"source": r[0], "endpoint": r[1], "collected_until": r[2], "last_rows": r[3], "last_error": r[4],
                 "updated_at": r[5]} for r in session.exec(query)]
