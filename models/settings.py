"""The one settings object: environment, `.env` and `.streamlit/secrets.toml`."""

from __future__ import annotations

import os
import tomllib
from decimal import Decimal
from functools import cached_property, lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Values people paste from docs and templates; a key like this is a configuration mistake.
PLACEHOLDER_SECRETS = {"changethis", "changeme", "your-key-here", "sk-...", "xxx", "secret", "todo"}


class SettingsError(ValueError):
    """A setting or secret is missing or unusable."""


# Each provider's official API root (what its SDK uses by default): the one place it is written.
PROVIDER_BASE_URLS = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com/v1"}

# Every group reads the environment and `.env` the same way; empty values count as unset.
_ENV: SettingsConfigDict = {"env_file": ".env", "env_ignore_empty": True, "extra": "ignore", "populate_by_name": True}


class SmtpSettings(BaseSettings):
    """Alert email delivery (SMTP_*)."""

    model_config = SettingsConfigDict(env_prefix="SMTP_", **_ENV)

    host: str | None = None
    port: int = 25
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    ssl: bool = False
    sender: str = Field("spendsight@localhost", validation_alias="SMTP_FROM")
    timeout_seconds: float = 10.0


class HttpSettings(BaseSettings):
    """Provider API requests: timeout and retries (tests and slow links turn them)."""

    model_config = SettingsConfigDict(env_prefix="SPENDSIGHT_", **_ENV)

    timeout_seconds: float = Field(30.0, validation_alias="SPENDSIGHT_HTTP_TIMEOUT_SECONDS")
    retry_attempts: int = 6
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 60.0
    retry_budget_seconds: float = 300.0  # seconds of sleeping allowed for one request before giving up


class WorkerSettings(BaseSettings):
    """The worker's cadence (SPENDSIGHT_*_SECONDS)."""

    model_config = SettingsConfigDict(env_prefix="SPENDSIGHT_", **_ENV)

    collect_interval_seconds: int = 60
    cost_interval_seconds: int = 3600
    alert_interval_seconds: int = 60
    inbox_interval_seconds: int = 5
    lookback_hours: int = 48  # providers revise recent buckets: re-read this far back
    # How often a standby worker tries to take the leader lock (a dead leader is replaced this fast).
    poll_seconds: float = Field(10, validation_alias="SPENDSIGHT_WORKER_POLL_SECONDS")


class IngestSettings(BaseSettings):
    """Request-log ingest: JSONL files this large are parsed by several processes."""

    model_config = SettingsConfigDict(env_prefix="SPENDSIGHT_INGEST_", **_ENV)

    workers: int = 0  # 0: one per core
    parallel_min_bytes: int = 64 << 20


class AuthSettings(BaseSettings):
    """The sign-in front route (gateway/signin.py) and the session cookie it sets (SPENDSIGHT_AUTH_*).

    The cookie is host-only and ports do not separate cookies, so the front route and the dashboard
    must be served under the same host name (e.g. both on 127.0.0.1, or both behind one proxy).
    """

    model_config = SettingsConfigDict(env_prefix="SPENDSIGHT_AUTH_", **_ENV)

    # Where browsers reach the front route (sign-in, sign-out, invites); links in pages and emails use it.
    url: str = "http://127.0.0.1:8788"
    # Secure cookie flag: "auto" sets it when the request (or the URL above) is https.
    cookie_secure: str = "auto"
    # Believe X-Forwarded-Proto / X-Forwarded-For from the proxy in front (only when there is one).
    trust_proxy: bool = False
    invite_hours: int = 72  # how long an invitation link works

    @field_validator("cookie_secure", mode="after")
    @classmethod
    def _secure_choice(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("auto", "true", "false"):
            raise ValueError("SPENDSIGHT_AUTH_COOKIE_SECURE must be auto, true or false")
        return value

    @field_validator("url", mode="after")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("SPENDSIGHT_AUTH_URL must start with http:// or https://")
        return value.rstrip("/")


class GatewaySettings(BaseSettings):
    """The gateway in the request path (SPENDSIGHT_GATEWAY_*): where it listens, how often it refreshes
    spend and limits, how it batches usage writes, how long it waits for a provider."""

    model_config = SettingsConfigDict(env_prefix="SPENDSIGHT_GATEWAY_", **_ENV)

    host: str = "127.0.0.1"
    port: int = 8788
    # Processes serving the one port (uvicorn's workers): each keeps its own spend state, queue and
    # journal, as separate replicas on one database do (docs/gateway.md, "Several processes").
    workers: int = 1
    refresh_seconds: float = 2.0  # spend, limits and keys re-read from the database (enforcement lag)
    flush_seconds: float = 0.5  # usage writes batched at least this often
    # Records waiting for the writer (about 1.4 KB each in memory); beyond it they go to the journal file,
    # so memory stays bounded however far a burst outruns the database.
    queue_size: int = 10_000
    batch_size: int = 5_000
    connect_timeout_seconds: float = 10.0
    upstream_timeout_seconds: float = 600.0  # between bytes from the provider (long generations stream)
    max_connections: int = 512  # the shared upstream connection pool
    max_body_bytes: int = 32 << 20


class PolicySettings(BaseSettings):
    """The operator's trust boundary (docs/security.md): who creates orgs, which key variables and hosts
    a member may name. Comma-separated lists; empty means the strict default."""

    model_config = SettingsConfigDict(env_prefix="SPENDSIGHT_", **_ENV)

    org_creators: str = ""  # emails that may create orgs on the page; empty: only the CLI
    key_envs: str = "OPENAI_*KEY*,ANTHROPIC_*KEY*"  # names or shell patterns a key variable may have
    allowed_base_urls: str = ""  # URL prefixes besides each provider's official API root
    allowed_webhook_hosts: str = ""  # empty: any host resolving only to public addresses
    # Some OIDC providers never send `email_verified`; only then may the operator trust a bare email.
    oidc_trust_unverified_email: bool = False


class OtlpSettings(BaseSettings):
    """The OTLP/HTTP traces receiver (SPENDSIGHT_OTLP_*): body limit and where attribution is read."""

    model_config = SettingsConfigDict(env_prefix="SPENDSIGHT_OTLP_", **_ENV)

    # The spec's recommended limit, applied to the body as sent and again after gunzip.
    max_body_bytes: int = 64 << 20
    # Attribute names, comma-separated, looked up on the span first, then on its resource.
    project_attributes: str = "service.name"
    user_attributes: str = "enduser.id"

    @property
    def project_keys(self) -> tuple[str, ...]:
        return _names(self.project_attributes)

    @property
    def user_keys(self) -> tuple[str, ...]:
        return _names(self.user_attributes)


def _names(value: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in value.split(",") if name.strip())


class StatementSettings(BaseSettings):
    """When a month's statement closes, how far back corrections are looked for (SPENDSIGHT_STATEMENT_*)."""

    model_config = SettingsConfigDict(env_prefix="SPENDSIGHT_STATEMENT_", **_ENV)

    # The worker closes a month this many days after it ends (in the org's zone): late logs and
    # provider revisions of the last days usually arrive by then.
    close_after_days: int = 3
    restate_months: int = 3  # closed months checked for later corrections on each run
    interval_seconds: int = 3600


class Settings(BaseSettings):
    """Everything configurable, read once per process: top-level paths, then one group per concern."""

    model_config = SettingsConfigDict(env_prefix="SPENDSIGHT_", **_ENV)

    data_dir: Path = Path("data")
    database_url: str | None = Field(None, validation_alias="DATABASE_URL")  # the conventional name, unprefixed
    secrets_file: Path = Path(".streamlit/secrets.toml")
    public_url: str = "http://127.0.0.1:8501"
    # Display currency: stored amounts stay USD; CNY is shown at this rate.
    cny_per_usd: Decimal = Decimal("7.10")

    # The groups, each reading its own variables when first used. Properties, not fields: a field
    # named `smtp` would also be looked up as a variable `SMTP` (and fail on any value it held).
    @cached_property
    def smtp(self) -> SmtpSettings:
        return SmtpSettings()

    @cached_property
    def http(self) -> HttpSettings:
        return HttpSettings()

    @cached_property
    def worker(self) -> WorkerSettings:
        return WorkerSettings()

    @cached_property
    def ingest(self) -> IngestSettings:
        return IngestSettings()

    @cached_property
    def auth(self) -> AuthSettings:
        """The sign-in front route; the dashboard it sends people back to is `public_url`."""
        return AuthSettings()

    @cached_property
    def gateway(self) -> GatewaySettings:
        return GatewaySettings()

    @cached_property
    def policy(self) -> PolicySettings:
        return PolicySettings()

    @cached_property
    def otlp(self) -> OtlpSettings:
        return OtlpSettings()

    @cached_property
    def statement(self) -> StatementSettings:
        return StatementSettings()

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def db_url(self) -> str:
        """SQLAlchemy URL: `DATABASE_URL`, or the embedded SQLite file in the data dir."""
        if not self.database_url:
            return f"sqlite:///{self.data_dir / 'spendsight.db'}"
        url = self.database_url
        # Accept the common libpq spellings and use psycopg 3 for them.
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @property
    def prices_file(self) -> Path:
        return self.data_dir / "prices.toml"

    def secret(self, name: str) -> SecretStr:
        """A named secret from the environment or the secrets file; never logged, never stored."""
        value = os.environ.get(name) or _secrets_from_file(self.secrets_file).get(name)
        if not value:
            raise SettingsError(f"secret {name} is not set: export {name}=... or add it to {self.secrets_file}")
        if value.strip().lower() in PLACEHOLDER_SECRETS:
            raise SettingsError(f"secret {name} holds a placeholder value; set the real key")
        return SecretStr(value)

    def has_secret(self, name: str) -> bool:
        try:
            self.secret(name)
        except SettingsError:
            return False
        return True


def _secrets_from_file(path: Path) -> dict[str, str]:
    """Top-level string values of a Streamlit secrets file (missing file: empty)."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: invalid TOML: {exc}") from None
    return {k: v for k, v in data.items() if isinstance(v, str)}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests and the CLI's --data-dir use this)."""
    get_settings.cache_clear()
