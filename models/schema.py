"""The schema: create every table (all declared in models.tables) and fill rollups newer tables start from."""

from __future__ import annotations

from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from models import tables  # noqa: F401  (importing it registers every table on SQLModel.metadata)
from models.budgets.limits import backfill_versions
from models.db import get_engine
from models.spend.rollups import fill_new_rollups


def init_db(engine: Engine | None = None) -> Engine:
    """Create missing tables; safe to run on every start."""
    engine = engine or get_engine()
    SQLModel.metadata.create_all(engine)
    add_missing_columns(engine)
    fill_new_rollups(engine)  # tables added after the database was made start from its sums
    with Session(engine) as session:  # limits set before their history was kept get a first version
        if backfill_versions(session):
            session.commit()
    return engine


def add_missing_columns(engine: Engine) -> list[str]:
    """Add columns a table gained after the database was made (create_all only makes new tables);
    only columns with a server default qualify, so existing rows get a value. Returns what was added."""
    added = []
    inspector = inspect(engine)
    with engine.begin() as conn:
        for table in SQLModel.metadata.sorted_tables:
            if not inspector.has_table(table.name):
                continue
            have = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in have or column.server_default is None:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                default = column.server_default.arg  # type: ignore[attr-defined]
                default_sql = default.text if hasattr(default, "text") else str(default)
                conn.exec_driver_sql(
                    f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind} NOT NULL DEFAULT {default_sql}'
                )
                added.append(f"{table.name}.{column.name}")
    return added
