"""How far the worker has read each file in the inbox folder."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from models.db import UTCDateTime, utcnow


class InboxFile(SQLModel, table=True):
    """One tailed log file: the byte offset and line number after its last complete line."""

    __tablename__ = "inbox_file"
    path: str = Field(primary_key=True, max_length=1000)
    org_id: str = Field(max_length=100)
    offset: int = Field(default=0, sa_type=BigInteger)
    line: int = Field(default=0, sa_type=BigInteger)
    head_sha: str = Field(default="", max_length=64)  # of the first line: a rotated file starts over
    ingested: int = Field(default=0, sa_type=BigInteger)
    quarantined: int = Field(default=0, sa_type=BigInteger)
    last_error: str = Field(default="", max_length=1000)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
