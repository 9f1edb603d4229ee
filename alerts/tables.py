"""Alert tables: who else gets which alert, the optional webhook, and the outbox.

The outbox is two tables. `alert_event` holds one row per (org, project, rule, threshold, period),
unique, written before anything is sent: whoever inserts it first owns the alert, so it fires once
across restarts and concurrent workers. `alert_delivery` holds one row per event and recipient
(or webhook), claimed atomically by the sender and kept with its attempts and last error.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.db import BigIntPK, UTCDateTime, utcnow

RULES = ("threshold", "forecast_soft", "forecast_hard", "hard_limit", "credit_low", "credit_expiring", "spike")
TEST_RULE = "test"
ALL_RULES = "*"  # a recipient for every rule
STATUSES = ("pending", "sending", "sent", "failed", "skipped")


class AlertRecipient(SQLModel, table=True):
    """An extra address for one rule (or every rule, "*"), besides the org's owners."""

    __tablename__ = "alert_recipient"
    __table_args__ = (UniqueConstraint("org_id", "rule", "email", name="uq_alert_recipient"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: str = Field(foreign_key="organization.id", index=True, ondelete="CASCADE", max_length=100)
    rule: str = Field(default=ALL_RULES, max_length=40)
    email: str = Field(max_length=320)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(default="", max_length=320)


class AlertWebhook(SQLModel, table=True):
    """A Slack-compatible incoming webhook that gets every alert of the org."""

    __tablename__ = "alert_webhook"
    org_id: str = Field(foreign_key="organization.id", primary_key=True, ondelete="CASCADE", max_length=100)
    url: str = Field(max_length=1000)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_by: str = Field(default="", max_length=320)


class AlertEvent(SQLModel, table=True):
    """An alert that fired; its content is rendered once, so retries send the same message."""

    __tablename__ = "alert_event"
    __table_args__ = (
        UniqueConstraint("org_id", "project_id", "rule", "threshold", "period", name="uq_alert_event"),
        Index("ix_alert_event_org_created", "org_id", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntPK)
    org_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=100)
    project_id: str = Field(default="", max_length=200)  # "" = the whole organization
    rule: str = Field(max_length=40)
    threshold: int = 0  # percent for threshold rules, days for credit rules, 0 otherwise
    period: str = Field(max_length=40)  # YYYY-MM, YYYY-MM-DD (spike), grant-<id> (credit), or a time (test)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    state: str = Field(default="fired", max_length=20)  # fired | superseded (a higher one fired with it)
    summary: str = Field(default="", max_length=500)
    subject: str = Field(default="", max_length=300)
    body_text: str = Field(default="", sa_type=Text)
    body_html: str = Field(default="", sa_type=Text)
    facts: str = Field(default="", sa_type=Text)  # JSON: the numbers the message was written from


class AlertDelivery(SQLModel, table=True):
    """One message of an event to one recipient (or the webhook): pending until sent or given up."""

    __tablename__ = "alert_delivery"
    __table_args__ = (
        UniqueConstraint("event_id", "channel", "recipient", name="uq_alert_delivery"),
        Index("ix_alert_delivery_status_next", "status", "next_attempt_at"),
    )
    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntPK)
    event_id: int = Field(foreign_key="alert_event.id", index=True, ondelete="CASCADE", sa_type=BigIntPK)
    org_id: str = Field(index=True, max_length=100)
    channel: str = Field(max_length=20)  # email | webhook
    recipient: str = Field(max_length=320)  # an address, or "webhook"
    status: str = Field(default="pending", max_length=20)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)  # while a sender holds it
    claimed_by: str = Field(default="", max_length=64)
    last_error: str = Field(default="", max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    message_id: str = Field(default="", max_length=200)
