"""The schema: create every table (all declared in models.tables) and fill rollups newer tables start from."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from models import tables  # noqa: F401  (importing it registers every table on SQLModel.metadata)
from models.budgets.limits import backfill_versions
from models.db import get_engine
from models.spend.rollups import fill_project_rollup


def init_db(engine: Engine | None = None) -> Engine:
    """Create missing tables; safe to run on every start."""
    engine = engine or get_engine()
    SQLModel.metadata.create_all(engine)
    fill_project_rollup(engine)  # a table added after the database was made starts from its sums
    with Session(engine) as session:  # limits set before their history was kept get a first version
        if backfill_versions(session):
            session.commit()
    return engine
