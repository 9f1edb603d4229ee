"""Delivery rows taken as leases and settled after the send: the alert outbox and the monthly
statement emails share this, so a claim, a dead sender's row coming back and the retry schedule
behave the same for both (each table has status, claimed_by, lease_until, attempts, next_attempt_at,
last_error and sent_at).

A claim marks rows `sending` under a fresh token for LEASE; a sender that dies leaves them to
`release_stale`, which puts them back to pending (the same Message-ID is reused, so a receiver can
drop a repeat). `finish` records sent, failed (permanent, or MAX_ATTEMPTS) or pending with backoff.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, update

from alerts import mail
from models.db import get_engine

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 20


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at an hour: about 14 hours before MAX_ATTEMPTS gives up."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def release_stale(table: Table, now: datetime) -> int:
    """Rows whose sender died mid-send go back to pending."""
    with get_engine().begin() as conn:
        return conn.execute(
            update(table)
            .where(table.c.status == "sending", table.c.lease_until < now)
            .values(
                status="pending",
                claimed_by="",
                lease_until=None,
                last_error="interrupted while sending; will try again",
            )
        ).rowcount


def claim(table: Table, ids: list[int], now: datetime) -> str:
    """Atomically take those of `ids` still pending; returns the token the caller's rows now carry."""
    token = uuid.uuid4().hex
    if ids:
        with get_engine().begin() as conn:
            conn.execute(
                update(table)
                .where(table.c.id.in_(bindparam("ids", expanding=True)), table.c.status == "pending")
                .values(status="sending", claimed_by=token, lease_until=now + LEASE, attempts=table.c.attempts + 1),
                {"ids": ids},
            )
    return token


def finish(table: Table, row: Mapping[str, Any], token: str, now: datetime, failure: mail.SendFailure | None) -> str:
    """Record how one send ended (only if the row is still this caller's); returns the new status."""
    values: dict[str, Any]  # column -> new value
    if failure is None:
        values = {"status": "sent", "sent_at": now, "last_error": "", "lease_until": None}
    elif failure.permanent or row["attempts"] >= MAX_ATTEMPTS:
        reason = failure.reason if failure.permanent else f"gave up after {row['attempts']} attempts: {failure.reason}"
        values = {"status": "failed", "last_error": reason[:1000], "lease_until": None}
    else:
        values = {
            "status": "pending",
            "last_error": failure.reason[:1000],
            "lease_until": None,
            "next_attempt_at": now + backoff(row["attempts"]),
        }
    with get_engine().begin() as conn:
        conn.execute(update(table).where(table.c.id == row["id"], table.c.claimed_by == token).values(**values))
    return str(values["status"])
