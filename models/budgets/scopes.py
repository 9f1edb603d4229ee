"""Which projects of an org have ever had usage: a limit naming any other project watches nothing."""

from __future__ import annotations

from sqlalchemy import text

from models.db import get_engine


def projects_with_usage(org_id: str) -> set[str]:
    """Every project id the org's usage was ever attributed to (the small per-project rollup)."""
    with get_engine().connect() as conn:
        rows = conn.execute(
            text("SELECT DISTINCT project_id FROM rollup_daily_project WHERE org_id = :org"), {"org": org_id}
        )
        return {str(r[0]) for r in rows}
