"""Which projects of an org have ever had usage: a limit naming any other project watches nothing."""

from __future__ import annotations

from sqlalchemy import text

from models.budgets.limits import limits
from models.db import get_engine


def projects_with_usage(org_id: str) -> set[str]:
    """Every project id the org's usage was ever attributed to (the small per-project rollup)."""
    with get_engine().connect() as conn:
        rows = conn.execute(
            text("SELECT DISTINCT project_id FROM rollup_daily_project WHERE org_id = :org"), {"org": org_id}
        )
        return {str(r[0]) for r in rows}


def unused_limit_projects(org_id: str) -> list[str]:
    """Projects that have a limit but never any usage (a typo, or a project not live yet)."""
    seen = projects_with_usage(org_id)
    return sorted(li.project_id for li in limits(org_id) if li.project_id and li.project_id not in seen)
