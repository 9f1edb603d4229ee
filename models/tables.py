"""Every table of the schema, by domain: organizations, usage, rollups, bills and sources, audit,
sign-in, the inbox, budgets and alerts (logic lives in the domain packages beside this module)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from models.db import BigIntPK, UTCDateTime, utcnow

ENVIRONMENTS = ("prod", "staging")
ROLES = ("reader", "owner")

# Additive counters carried from raw usage into rollups, in one place so SQL and pricing agree.
USAGE_COUNTERS = (
    "requests",
    "input_tokens",  # every prompt token: uncached + cache reads + cache writes
    "cached_input_tokens",  # the cache-read part of input_tokens
    "cache_write_tokens",  # the cache-write part of input_tokens (all TTLs)
    "cache_write_1h_tokens",  # the 1-hour-TTL part of cache_write_tokens
    "output_tokens",  # reasoning tokens included, as providers bill them
    "reasoning_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
    "images",
    "audio_seconds",
    "audio_characters",
    "web_search_calls",
    "file_search_calls",
    "code_interpreter_sessions",
)
# What a usage row is attributed to; rollups keep all of them so any grouping reads a rollup.
USAGE_DIMENSIONS = (
    "provider",
    "project_id",
    "api_key_id",
    "user_id",
    "model",
    "service_tier",
    "batch",
    "context_band",
)


def _counter() -> Any:  # sqlmodel.Field is typed Any so it fits any annotation
    return Field(default=0, sa_type=BigInteger)


# --- organizations ---------------------------------------------------------------------------


class OrganizationBase(SQLModel):
    name: str = Field(max_length=200)
    environment: str = Field(default="prod", max_length=20)
    timezone: str = Field(default="UTC", max_length=64)
    currency: str = Field(default="USD", max_length=3)


class Organization(OrganizationBase, table=True):
    id: str = Field(primary_key=True, max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MemberBase(SQLModel):
    org_id: str = Field(foreign_key="organization.id", index=True, ondelete="CASCADE")
    email: str = Field(index=True, max_length=320)
    role: str = Field(default="reader", max_length=10)


class Member(MemberBase, table=True):
    __table_args__ = (UniqueConstraint("org_id", "email", name="uq_member_org_email"),)
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- usage -----------------------------------------------------------------------------------


class UsageDims(SQLModel):
    """Attribution of a usage row; empty string means 'not attributed' so keys stay unique."""

    org_id: str = Field(max_length=100)
    provider: str = Field(default="", max_length=40)
    project_id: str = Field(default="", max_length=200)
    api_key_id: str = Field(default="", max_length=200)
    user_id: str = Field(default="", max_length=200)
    model: str = Field(default="", max_length=200)
    service_tier: str = Field(default="", max_length=40)  # "" is the standard tier
    batch: bool = False
    # Largest price-tier threshold the request's prompt exceeded (0: none); selects long-context prices.
    context_band: int = Field(default=0, sa_type=BigInteger)


class UsageCounters(SQLModel):
    requests: int = _counter()
    input_tokens: int = _counter()
    cached_input_tokens: int = _counter()
    cache_write_tokens: int = _counter()
    cache_write_1h_tokens: int = _counter()
    output_tokens: int = _counter()
    reasoning_tokens: int = _counter()
    input_audio_tokens: int = _counter()
    output_audio_tokens: int = _counter()
    images: int = _counter()
    audio_seconds: int = _counter()
    audio_characters: int = _counter()
    web_search_calls: int = _counter()
    file_search_calls: int = _counter()
    code_interpreter_sessions: int = _counter()


class UsageBase(UsageDims, UsageCounters):
    # "log" for ingested request logs, "demo" for demo data, else the collector source's name.
    source: str = Field(default="log", max_length=100)
    # Endpoint family: completions, embeddings, images, moderations, audio_speeches, ...
    kind: str = Field(default="completions", max_length=40)
    bucket_start: datetime = Field(sa_type=UTCDateTime)
    bucket_width: int = 0  # seconds; 0 is a single request at bucket_start
    request_id: str = Field(default="", max_length=200)  # "" for provider buckets


BUCKET_KEY = (
    "org_id",
    "source",
    "kind",
    "provider",
    "project_id",
    "api_key_id",
    "user_id",
    "model",
    "service_tier",
    "batch",
    "context_band",
    "bucket_start",
    "bucket_width",
)
REQUEST_KEY = ("org_id", "request_id")


class Usage(UsageBase, table=True):
    """Raw usage: one provider bucket or one logged request."""

    __table_args__ = (
        # A provider bucket is identified by its grouping and time: a revised bucket replaces it.
        Index(
            "uq_usage_bucket",
            *BUCKET_KEY,
            unique=True,
            sqlite_where=text("request_id = ''"),
            postgresql_where=text("request_id = ''"),
        ),
        # A logged request is identified by its id within the org: re-ingest adds nothing.
        Index(
            "uq_usage_request",
            *REQUEST_KEY,
            unique=True,
            sqlite_where=text("request_id <> ''"),
            postgresql_where=text("request_id <> ''"),
        ),
        Index("ix_usage_org_time", "org_id", "bucket_start"),
    )
    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntPK)
    ingested_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Quarantine(SQLModel, table=True):
    """Input rejected by ingest or a collector, kept with where it came from and why."""

    __table_args__ = (UniqueConstraint("file", "line", "raw_sha", name="uq_quarantine_file_line"),)
    id: int | None = Field(default=None, primary_key=True)
    file: str = Field(index=True, max_length=1000)
    line: int = 0
    format: str = Field(default="", max_length=40)
    field: str = Field(default="", max_length=100)
    reason: str = Field(max_length=1000)
    raw: str = Field(default="", max_length=2000)
    raw_sha: str = Field(default="", max_length=64)
    org_id: str = Field(default="", max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- rollups ---------------------------------------------------------------------------------

ROLLUP_KEY = ("org_id",) + USAGE_DIMENSIONS


class RollupHourly(UsageDims, UsageCounters, table=True):
    """Usage summed per UTC hour; rebuilt for the hours a write touched."""

    __tablename__ = "rollup_hourly"
    __table_args__ = (
        UniqueConstraint("hour", *ROLLUP_KEY, name="uq_rollup_hourly"),
        Index("ix_rollup_hourly_org_hour", "org_id", "hour"),
    )
    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntPK)
    hour: datetime = Field(sa_type=UTCDateTime)


class RollupDaily(UsageDims, UsageCounters, table=True):
    """Usage summed per local day of the org, split by UTC date so dated prices stay exact."""

    __tablename__ = "rollup_daily"
    __table_args__ = (
        UniqueConstraint("day", "price_date", *ROLLUP_KEY, name="uq_rollup_daily"),
        Index("ix_rollup_daily_org_day", "org_id", "day"),
    )
    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntPK)
    day: date  # in the org's time zone
    price_date: date  # UTC date the usage happened on: what dated prices key on


# The daily rollup without api key and user: what every query that neither groups nor filters by
# them reads, so those pages cost days x projects x models, however many keys and end users there are.
PROJECT_DIMENSIONS = tuple(d for d in USAGE_DIMENSIONS if d not in ("api_key_id", "user_id"))
PROJECT_ROLLUP_KEY = ("org_id",) + PROJECT_DIMENSIONS


class ModelRollupDims(SQLModel):
    """The dimensions of rollup_daily_model: the price key and the org, nothing more."""

    org_id: str = Field(max_length=100)
    provider: str = Field(default="", max_length=40)
    model: str = Field(default="", max_length=200)
    service_tier: str = Field(default="", max_length=40)
    batch: bool = False
    context_band: int = Field(default=0, sa_type=BigInteger)


class ProjectRollupDims(ModelRollupDims):
    """The dimensions of rollup_daily_project (every dimension but api key and user)."""

    project_id: str = Field(default="", max_length=200)


class RollupDailyProject(ProjectRollupDims, UsageCounters, table=True):
    """rollup_daily summed over api keys and users; kept with it, in the same transactions."""

    __tablename__ = "rollup_daily_project"
    __table_args__ = (
        UniqueConstraint("day", "price_date", *PROJECT_ROLLUP_KEY, name="uq_rollup_daily_project"),
        Index("ix_rollup_daily_project_org_day", "org_id", "day"),
    )
    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntPK)
    day: date
    price_date: date


class RollupDirty(SQLModel, table=True):
    """A time range whose raw usage changed; written with the data, cleared once rolled up."""

    __tablename__ = "rollup_dirty"
    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntPK)
    org_id: str = Field(index=True, max_length=100)
    start: datetime = Field(sa_type=UTCDateTime)
    end: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RollupState(SQLModel, table=True):
    """Per org, the time zone the daily rollup was built in (a change forces a rebuild)."""

    __tablename__ = "rollup_state"
    org_id: str = Field(primary_key=True, max_length=100)
    timezone: str = Field(max_length=64)
    catalog_fingerprint: str = Field(default="", max_length=64)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- provider bills and collector sources ----------------------------------------------------


class BilledCost(SQLModel, table=True):
    """What a provider says it charged (cost APIs), kept apart from our estimates."""

    __tablename__ = "billed_cost"
    __table_args__ = (
        UniqueConstraint(
            "org_id",
            "source",
            "bucket_start",
            "project_id",
            "line_item",
            "model",
            "service_tier",
            name="uq_billed_cost",
        ),
        Index("ix_billed_org_time", "org_id", "bucket_start"),
    )
    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntPK)
    org_id: str = Field(max_length=100)
    source: str = Field(max_length=100)
    provider: str = Field(max_length=40)
    bucket_start: datetime = Field(sa_type=UTCDateTime)
    bucket_width: int = 86400
    project_id: str = Field(default="", max_length=200)
    line_item: str = Field(default="", max_length=300)
    model: str = Field(default="", max_length=200)
    service_tier: str = Field(default="", max_length=40)
    amount_micros: int = Field(default=0, sa_type=BigInteger)  # USD micro-dollars
    currency: str = Field(default="USD", max_length=3)
    ingested_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Source(SQLModel, table=True):
    """A configured collector for one org: which provider, where, and which env var holds the key."""

    __table_args__ = (UniqueConstraint("name", name="uq_source_name"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: str = Field(foreign_key="organization.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=100)
    provider: str = Field(max_length=40)
    key_env: str = Field(max_length=200)  # the variable's name, never its value
    base_url: str = Field(max_length=500)
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_run_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_success_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str = Field(default="", max_length=2000)
    rows_written: int = Field(default=0, sa_type=BigInteger)  # usage and billed rows, all runs
    run_requested_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_rows: int = Field(default=0, sa_type=BigInteger)  # rows written by the last run
    next_run_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # set by the worker


class SourceCursor(SQLModel, table=True):
    """How far one endpoint of one source has been collected; moves in the data's transaction."""

    __tablename__ = "source_cursor"
    __table_args__ = (UniqueConstraint("source_id", "endpoint", name="uq_cursor_source_endpoint"),)
    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="source.id", index=True, ondelete="CASCADE")
    endpoint: str = Field(max_length=100)
    collected_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_rows: int = Field(default=0, sa_type=BigInteger)  # rows the endpoint's last run wrote
    last_error: str = Field(default="", max_length=2000)  # "" when the endpoint's last run succeeded


# --- audit log -------------------------------------------------------------------------------


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntPK)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=320)
    org_id: str = Field(default="", index=True, max_length=100)
    action: str = Field(max_length=60)  # e.g. limit.set, credit.add, member.set, source.add, price.override
    entity: str = Field(default="", max_length=300)
    before: str = Field(default="", sa_type=Text)  # JSON
    after: str = Field(default="", sa_type=Text)  # JSON


# --- sign-in ---------------------------------------------------------------------------------


class User(SQLModel, table=True):
    """Someone who can sign in with a password (OIDC users need no row: membership is by email)."""

    __tablename__ = "app_user"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    password_hash: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    password_changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class UserSession(SQLModel, table=True):
    """A signed-in browser session: only the token's SHA-256 is kept."""

    __tablename__ = "user_session"
    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntPK)
    token_sha256: str = Field(max_length=64, unique=True)
    email: str = Field(max_length=320, index=True)
    method: str = Field(default="password", max_length=20)  # password | oidc
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SignInFailure(SQLModel, table=True):
    """One failed sign-in, counted per email and per client address for rate limiting."""

    __tablename__ = "signin_failure"
    __table_args__ = (Index("ix_signin_failure_key_at", "key", "at"),)
    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntPK)
    key: str = Field(max_length=400)  # "email:<address>" or "client:<ip>"
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- the worker's inbox ----------------------------------------------------------------------


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


# --- budgets ---------------------------------------------------------------------------------

ORG_WIDE = ""  # project_id of a limit that covers the whole organization


class BudgetLimitBase(SQLModel):
    org_id: str = Field(foreign_key="organization.id", index=True, ondelete="CASCADE", max_length=100)
    project_id: str = Field(default=ORG_WIDE, max_length=200)  # "" = the whole organization
    soft_micros: int | None = Field(default=None, sa_type=BigInteger)
    hard_micros: int | None = Field(default=None, sa_type=BigInteger)
    quota_micros: int | None = Field(default=None, sa_type=BigInteger)  # approved monthly usage limit
    thresholds: str = Field(default="50,80,100", max_length=200)  # percent of the soft limit
    # Strict: the gateway reserves each request's worst-case cost before forwarding it, so the hard
    # limit is never passed (one database round trip per request; see docs/gateway.md).
    strict: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})


class BudgetLimit(BudgetLimitBase, table=True):
    __tablename__ = "budget_limit"
    __table_args__ = (UniqueConstraint("org_id", "project_id", name="uq_budget_limit_org_project"),)
    id: int | None = Field(default=None, primary_key=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_by: str = Field(default="", max_length=320)


class CreditGrantBase(SQLModel):
    org_id: str = Field(foreign_key="organization.id", index=True, ondelete="CASCADE", max_length=100)
    amount_micros: int = Field(sa_type=BigInteger)
    granted_on: date  # first local day it applies to
    expires_on: date  # first local day it no longer applies to
    note: str = Field(default="", max_length=200)


class CreditGrant(CreditGrantBase, table=True):
    __tablename__ = "credit_grant"
    __table_args__ = (
        UniqueConstraint("org_id", "granted_on", "expires_on", "amount_micros", "note", name="uq_credit_grant"),
    )
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(default="", max_length=320)


# --- alerts ----------------------------------------------------------------------------------
# The outbox is two tables. `alert_event` holds one row per (org, project, rule, threshold, period),
# unique, written before anything is sent: whoever inserts it first owns the alert, so it fires once
# across restarts and concurrent workers. `alert_delivery` holds one row per event and recipient
# (or webhook), claimed atomically by the sender and kept with its attempts and last error.


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


# --- sign-in: member preferences, invitations, localized alert messages (issue 16 "Sessions") -------

LANGUAGES = ("en", "zh")
DISPLAY_CURRENCIES = ("USD", "CNY")


class UserPreference(SQLModel, table=True):
    """A member's language and display currency, by email (SSO members have no `User` row)."""

    __tablename__ = "user_preference"
    email: str = Field(primary_key=True, max_length=320)
    lang: str = Field(default="en", max_length=10)
    currency: str = Field(default="USD", max_length=3)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Invite(SQLModel, table=True):
    """A one-time link an owner sent so a member can set a password: only the token's SHA-256 is kept."""

    __tablename__ = "invite"
    id: int | None = Field(default=None, primary_key=True)
    token_sha256: str = Field(max_length=64, unique=True)
    email: str = Field(max_length=320, index=True)
    org_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=100)
    invited_by: str = Field(max_length=320)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # a newer invite replaced it


class AlertMessage(SQLModel, table=True):
    """An alert email rendered in one recipient's language and currency (when not English in USD)."""

    __tablename__ = "alert_message"
    __table_args__ = (UniqueConstraint("event_id", "recipient", name="uq_alert_message"),)
    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntPK)
    event_id: int = Field(foreign_key="alert_event.id", index=True, ondelete="CASCADE", sa_type=BigIntPK)
    recipient: str = Field(max_length=320)
    subject: str = Field(default="", max_length=300)
    body_text: str = Field(default="", sa_type=Text)
    body_html: str = Field(default="", sa_type=Text)


# --- rollups by API key, by user, and by month (issue 17) ------------------------------------
# Each page reads the smallest of these that holds what it groups and filters by (the choice is
# models.spend.rollups.ROLLUPS): a split by key does not pay for the users, one by user not for the
# keys, and a range of months reads a row per month instead of one per day.

KEY_DIMENSIONS = (*PROJECT_DIMENSIONS, "api_key_id")
USER_DIMENSIONS = (*PROJECT_DIMENSIONS, "user_id")
KEY_ROLLUP_KEY = ("org_id",) + KEY_DIMENSIONS
USER_ROLLUP_KEY = ("org_id",) + USER_DIMENSIONS


class RollupDailyKey(ProjectRollupDims, UsageCounters, table=True):
    """rollup_daily summed over users: what a split or filter by API key reads."""

    __tablename__ = "rollup_daily_key"
    __table_args__ = (
        UniqueConstraint("day", "price_date", *KEY_ROLLUP_KEY, name="uq_rollup_daily_key"),
        Index("ix_rollup_daily_key_org_day", "org_id", "day"),
    )
    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntPK)
    api_key_id: str = Field(default="", max_length=200)
    day: date
    price_date: date


class RollupDailyUser(ProjectRollupDims, UsageCounters, table=True):
    """rollup_daily summed over API keys: what a split or filter by user reads."""

    __tablename__ = "rollup_daily_user"
    __table_args__ = (
        UniqueConstraint("day", "price_date", *USER_ROLLUP_KEY, name="uq_rollup_daily_user"),
        Index("ix_rollup_daily_user_org_day", "org_id", "day"),
    )
    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntPK)
    user_id: str = Field(default="", max_length=200)
    day: date
    price_date: date


# The daily rollup without project, key and user: what the price needs and nothing more. Views that
# split by time or model only (the home page's days and models, a 90-day trend by model) read a row per
# day and price key, so their cost stops growing once every model, tier and batch mode has been used.
MODEL_DIMENSIONS = tuple(d for d in PROJECT_DIMENSIONS if d != "project_id")
MODEL_ROLLUP_KEY = ("org_id",) + MODEL_DIMENSIONS


class RollupDailyModel(ModelRollupDims, UsageCounters, table=True):
    """rollup_daily summed over projects, API keys and users: a row per day and price key."""

    __tablename__ = "rollup_daily_model"
    __table_args__ = (
        UniqueConstraint("day", "price_date", *MODEL_ROLLUP_KEY, name="uq_rollup_daily_model"),
        Index("ix_rollup_daily_model_org_day", "org_id", "day"),
    )
    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntPK)
    day: date
    price_date: date


class RollupMonthlyProject(ProjectRollupDims, UsageCounters, table=True):
    """rollup_daily_project summed per local month, with the days and UTC price dates it spans.

    One row per month and group, not per price date: a reader uses it only where the catalog's
    price is the same on every date from price_lo to price_hi, and for a part of a month only when
    day_lo..day_hi lies inside the range asked for; elsewhere it reads the daily rows.
    """

    __tablename__ = "rollup_monthly_project"
    __table_args__ = (
        UniqueConstraint("month", *PROJECT_ROLLUP_KEY, name="uq_rollup_monthly_project"),
        Index("ix_rollup_monthly_project_org_month", "org_id", "month"),
    )
    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntPK)
    month: date  # the first local day of the month
    day_lo: date  # the first and last local day with usage in the sums
    day_hi: date
    price_lo: date  # the first and last UTC date (price date) of that usage
    price_hi: date


class RollupMonthlyKeys(SQLModel, table=True):
    """Which API key x user pairs had usage in each local month of an org, with the first and last
    local day they did: what the explorer's key and user pickers read (a row per month and pair,
    where rollup_daily has one per day, pair and price key). No counters: nothing is priced from it.
    """

    __tablename__ = "rollup_monthly_keys"
    __table_args__ = (
        UniqueConstraint("month", "org_id", "api_key_id", "user_id", name="uq_rollup_monthly_keys"),
        Index("ix_rollup_monthly_keys_org_month", "org_id", "month"),
    )
    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntPK)
    org_id: str = Field(max_length=100)
    api_key_id: str = Field(default="", max_length=200)
    user_id: str = Field(default="", max_length=200)
    month: date  # the first local day of the month
    day_lo: date  # the first and last local day with usage of the pair
    day_hi: date


# --- gateway ---------------------------------------------------------------------------------
# Applications call providers through `spendsight gateway` with a gateway key; the gateway checks
# limits before forwarding and records usage into `usage` (source "gateway", api_key_id the key's id).


class GatewayKey(SQLModel, table=True):
    """A key applications send to the gateway: only the SHA-256 of the token is kept."""

    __tablename__ = "gateway_key"
    __table_args__ = (UniqueConstraint("key_sha256", name="uq_gateway_key_sha"),)
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(max_length=40, unique=True)  # "gk_..." : what usage rows and logs name
    org_id: str = Field(foreign_key="organization.id", index=True, ondelete="CASCADE", max_length=100)
    project_id: str = Field(default="", max_length=200)  # "" = the request picks (OpenAI-Project header)
    name: str = Field(default="", max_length=200)
    key_sha256: str = Field(max_length=64)
    prefix: str = Field(default="", max_length=20)  # the token's first characters, to tell keys apart
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(default="", max_length=320)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_by: str = Field(default="", max_length=320)


class GatewayUpstream(SQLModel, table=True):
    """Which provider key (by variable name) and base URL the gateway uses for one org."""

    __tablename__ = "gateway_upstream"
    __table_args__ = (UniqueConstraint("org_id", "provider", name="uq_gateway_upstream"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: str = Field(foreign_key="organization.id", index=True, ondelete="CASCADE", max_length=100)
    provider: str = Field(max_length=40)
    key_env: str = Field(max_length=200)  # the variable's name, never its value
    base_url: str = Field(max_length=500)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_by: str = Field(default="", max_length=320)


class GatewayRejection(SQLModel, table=True):
    """A request the gateway refused without forwarding: who, which scope, why."""

    __tablename__ = "gateway_rejection"
    __table_args__ = (
        UniqueConstraint("rejection_id", name="uq_gateway_rejection"),  # journal replay adds nothing twice
        Index("ix_gateway_rejection_org_at", "org_id", "at"),
    )
    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntPK)
    rejection_id: str = Field(max_length=40)
    at: datetime = Field(sa_type=UTCDateTime)
    org_id: str = Field(max_length=100)
    project_id: str = Field(default="", max_length=200)
    key_id: str = Field(default="", max_length=40)
    provider: str = Field(default="", max_length=40)
    model: str = Field(default="", max_length=200)
    reason: str = Field(max_length=40)  # hard_limit_reached | quota_reached | credit_exhausted


class GatewayBudget(SQLModel, table=True):
    """Strict limits' shared state per scope and month: reservations are taken with one conditional
    UPDATE (spent + reserved + cost <= hard), so replicas on one database never pass the limit."""

    __tablename__ = "gateway_budget"
    __table_args__ = (UniqueConstraint("org_id", "project_id", "period", name="uq_gateway_budget"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: str = Field(max_length=100)
    project_id: str = Field(default="", max_length=200)
    period: str = Field(max_length=7)  # YYYY-MM in the org's time zone
    spent_micros: int = Field(default=0, sa_type=BigInteger)  # recorded spend, as of the last refresh
    reserved_micros: int = Field(default=0, sa_type=BigInteger)  # requests in flight, worst case
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- provider-side action --------------------------------------------------------------------
# For traffic that bypasses the gateway, an owner may list provider API keys under a limit: when the
# limit's hard cap is reached the worker sets them inactive through the provider's Admin API, and back
# to active when spend is under the cap again (a new month, a raised limit). `state` is what Spendsight
# last set, so it only ever re-activates keys it deactivated itself.


class ProviderKeyLink(SQLModel, table=True):
    """An Anthropic API key that a limit switches off at its hard cap (opt-in, per limit scope)."""

    __tablename__ = "provider_key_link"
    __table_args__ = (UniqueConstraint("org_id", "project_id", "api_key_id", name="uq_provider_key_link"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: str = Field(foreign_key="organization.id", index=True, ondelete="CASCADE", max_length=100)
    project_id: str = Field(default=ORG_WIDE, max_length=200)  # the limit's scope ("" = the org's)
    source_id: int = Field(foreign_key="source.id", ondelete="CASCADE")  # whose admin key acts
    api_key_id: str = Field(max_length=100)  # apikey_... (never the key itself)
    state: str = Field(default="active", max_length=20)  # active | inactive (as Spendsight last set it)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(default="", max_length=320)


class ProviderKeyAction(SQLModel, table=True):
    """One attempt to switch a linked key: what, why, and how the Admin API answered (status only)."""

    __tablename__ = "provider_key_action"
    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntPK)
    link_id: int = Field(foreign_key="provider_key_link.id", index=True, ondelete="CASCADE")
    org_id: str = Field(index=True, max_length=100)
    action: str = Field(max_length=20)  # deactivate | reactivate
    reason: str = Field(default="", max_length=300)
    ok: bool = False
    error: str = Field(default="", max_length=500)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- key variables bound to orgs (issue 11) --------------------------------------------------
# A key variable (its name; values are never stored) belongs to the first org that names it, for
# sources, gateway upstreams and admin keys alike (models/access/policy.check_key_env). Another
# org gets a row only when the operator shares the variable from the CLI (`--shared-key`).


class KeyEnvBinding(SQLModel, table=True):
    """One org allowed to use one key variable; the first row for a name is its owner."""

    __tablename__ = "key_env_binding"
    __table_args__ = (
        UniqueConstraint("name", "org_id", name="uq_key_env_binding"),
        # One first owner per name, also when two orgs claim a variable at the same moment.
        Index(
            "uq_key_env_first_owner",
            "name",
            unique=True,
            sqlite_where=text("shared = 0"),
            postgresql_where=text("shared = false"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    org_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=100)
    shared: bool = False  # granted by the operator although another org had it first
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(default="", max_length=320)


# --- OTLP ingest tokens ----------------------------------------------------------------------


class IngestToken(SQLModel, table=True):
    """A bearer token an application sends with its OTLP spans: it names the one org they land in.

    Only the token's SHA-256 is kept (it is 256 random bits, so a fast hash is enough to make the
    stored value useless to whoever reads the database).
    """

    __tablename__ = "ingest_token"
    id: int | None = Field(default=None, primary_key=True)
    org_id: str = Field(foreign_key="organization.id", index=True, ondelete="CASCADE", max_length=100)
    token_sha256: str = Field(max_length=64, unique=True)
    name: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(default="", max_length=320)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# --- statements that stay true (issue 16) ----------------------------------------------------
# Limits and display rates are effective-dated so a past month reads what was in force then;
# a closed month's statement is a stored snapshot, and later corrections are dated restatements.


class BudgetLimitVersion(BudgetLimitBase, table=True):
    """One version of a limit, in force from `valid_from` until `valid_to` (None: still in force).

    Written in the same transaction as every change to `budget_limit`; a cleared limit closes its
    last version. The statement of a past month reads the version in force then."""

    __tablename__ = "budget_limit_version"
    __table_args__ = (
        UniqueConstraint("org_id", "project_id", "valid_from", name="uq_budget_limit_version"),
        Index("ix_budget_limit_version_scope", "org_id", "project_id", "valid_from"),
    )
    id: int | None = Field(default=None, primary_key=True)
    valid_from: datetime = Field(sa_type=UTCDateTime)
    valid_to: datetime | None = Field(default=None, sa_type=UTCDateTime)
    changed_by: str = Field(default="", max_length=320)


class FxRate(SQLModel, table=True):
    """A display-currency rate (units of `currency` per USD) in force from the day `since` (UTC)."""

    __tablename__ = "fx_rate"
    __table_args__ = (UniqueConstraint("currency", "since", name="uq_fx_rate_currency_since"),)
    id: int | None = Field(default=None, primary_key=True)
    currency: str = Field(max_length=3)
    since: date
    rate_millionths: int = Field(sa_type=BigInteger)  # 7.10 CNY/USD = 7_100_000 (exact, no float)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(default="", max_length=320)


class StatementSnapshot(SQLModel, table=True):
    """A month's statement as frozen at close (version 0) and each dated restatement after it (1, 2, ...)."""

    __tablename__ = "statement_snapshot"
    __table_args__ = (UniqueConstraint("org_id", "month", "version", name="uq_statement_snapshot"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: str = Field(foreign_key="organization.id", index=True, ondelete="CASCADE", max_length=100)
    month: str = Field(max_length=7)  # YYYY-MM
    version: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(default="", max_length=320)
    total_micros: int = Field(sa_type=BigInteger)
    billable_micros: int = Field(sa_type=BigInteger)
    reason: str = Field(default="", max_length=300)  # "closed", or what changed in a restatement
    body: str = Field(sa_type=Text)  # JSON: totals, billing, limits, line items (models.budgets.snapshots)


class StatementSubscription(SQLModel, table=True):
    """A member who gets the org's statement by email when a month closes."""

    __tablename__ = "statement_subscription"
    __table_args__ = (UniqueConstraint("org_id", "email", name="uq_statement_subscription"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: str = Field(foreign_key="organization.id", index=True, ondelete="CASCADE", max_length=100)
    email: str = Field(max_length=320)
    lang: str = Field(default="en", max_length=5)
    currency: str = Field(default="USD", max_length=3)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StatementDelivery(SQLModel, table=True):
    """One statement email per subscriber and month: the unique row makes it go out exactly once."""

    __tablename__ = "statement_delivery"
    __table_args__ = (UniqueConstraint("org_id", "month", "email", name="uq_statement_delivery"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: str = Field(index=True, max_length=100)
    month: str = Field(max_length=7)
    email: str = Field(max_length=320)
    status: str = Field(default="pending", max_length=20)  # pending | sending | sent | failed
    attempts: int = 0
    claimed_by: str = Field(default="", max_length=64)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_error: str = Field(default="", max_length=1000)
    message_id: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
