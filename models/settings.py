"""The one settings object: environment, `.env` and `.streamlit/secrets.toml`."""

from __future__ import annotations

import os
import tomllib
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Values people paste from docs and templates; a key like this is a configuration mistake.
PLACEHOLDER_SECRETS = {"changethis", "changeme", "your-key-here", "sk-...", "xxx", "secret", "todo"}


class SettingsError(ValueError):
    """A setting or secret is missing or unusable."""


class Settings(BaseSettings):
    """Everything configurable, read once per process."""

    model_config = SettingsConfigDict(
        env_file=".env", env_ignore_empty=True, extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(Path("data"), validation_alias="SPENDSIGHT_DATA_DIR")
    database_url: str | None = Field(None, validation_alias="DATABASE_URL")
    secrets_file: Path = Field(Path(".streamlit/secrets.toml"), validation_alias="SPENDSIGHT_SECRETS_FILE")
    public_url: str = Field("http://127.0.0.1:8501", validation_alias="SPENDSIGHT_PUBLIC_URL")

    # Display currency: stored amounts stay USD; CNY is shown at this rate.
    cny_per_usd: Decimal = Field(Decimal("7.10"), validation_alias="SPENDSIGHT_CNY_PER_USD")

    # Worker cadence.
    collect_interval_seconds: int = Field(60, validation_alias="SPENDSIGHT_COLLECT_INTERVAL_SECONDS")
    cost_interval_seconds: int = Field(3600, validation_alias="SPENDSIGHT_COST_INTERVAL_SECONDS")
    alert_interval_seconds: int = Field(60, validation_alias="SPENDSIGHT_ALERT_INTERVAL_SECONDS")
    lookback_hours: int = Field(48, validation_alias="SPENDSIGHT_LOOKBACK_HOURS")
    # How often a standby worker tries to take the leader lock (a dead leader is replaced this fast).
    worker_poll_seconds: float = Field(10, validation_alias="SPENDSIGHT_WORKER_POLL_SECONDS")
    inbox_interval_seconds: int = Field(5, validation_alias="SPENDSIGHT_INBOX_INTERVAL_SECONDS")
    # Ingest: JSONL files this large are parsed by several processes (0 workers: one per core).
    ingest_workers: int = Field(0, validation_alias="SPENDSIGHT_INGEST_WORKERS")
    ingest_parallel_min_bytes: int = Field(64 << 20, validation_alias="SPENDSIGHT_INGEST_PARALLEL_MIN_BYTES")

    # Email.
    smtp_host: str | None = Field(None, validation_alias="SMTP_HOST")
    smtp_port: int = Field(25, validation_alias="SMTP_PORT")
    smtp_username: str | None = Field(None, validation_alias="SMTP_USERNAME")
    smtp_password: SecretStr | None = Field(None, validation_alias="SMTP_PASSWORD")
    smtp_starttls: bool = Field(False, validation_alias="SMTP_STARTTLS")
    smtp_ssl: bool = Field(False, validation_alias="SMTP_SSL")
    smtp_from: str = Field("spendsight@localhost", validation_alias="SMTP_FROM")
    smtp_timeout_seconds: float = Field(10.0, validation_alias="SMTP_TIMEOUT_SECONDS")

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
                return "postgresql+psycopg://" + url[len(prefix):]
        return url

    @property
    def prices_file(self) -> Path:
        return self.data_dir / "prices.toml"

    def secret(self, name: str) -> SecretStr:
        """A named secret from the environment or the secrets file; never logged, never stored."""
        value = os.environ.get(name) or _secrets_from_file(self.secrets_file).get(name)
        if not value:
            raise SettingsError(
                f"secret {name} is not set: export {name}=... or add it to {self.secrets_file}"
            )
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
