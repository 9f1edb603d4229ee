"""The schema: create every table (all declared in models.tables) and fill rollups newer tables start from."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from models import tables  # noqa: F401  (importing it registers every table on SQLModel.metadata)
from models.db import get_engine
from models.spend.rollups import fill_new_rollups


def init_db(engine: Engine | None = None) -> Engine:
    """Create missing tables; safe to run on every start."""
    engine = engine or get_engine()
    SQLModel.metadata.create_all(engine)
    fill_new_rollups(engine)  # tables added after the database was made start from its sums
    return engine
