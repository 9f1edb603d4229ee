"""Settings: database URL, secrets from env or secrets.toml, placeholders refused, keys never echoed."""

import pytest

from models.settings import SettingsError, get_settings, reset_settings


def test_default_database_is_sqlite_in_data_dir(env, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    reset_settings()
    assert get_settings().db_url == f"sqlite:///{env / 'spendsight.db'}"


def test_postgres_urls_use_psycopg(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h:5432/db")
    reset_settings()
    assert get_settings().db_url == "postgresql+psycopg://u@h:5432/db"


def test_secret_from_env_then_secrets_file(tmp_path, monkeypatch):
    (tmp_path / "secrets.toml").write_text('OPENAI_ADMIN_KEY = "sk-admin-from-file"\n')
    settings = get_settings()
    assert settings.secret("OPENAI_ADMIN_KEY").get_secret_value() == "sk-admin-from-file"
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-from-env")
    secret = settings.secret("OPENAI_ADMIN_KEY")
    assert secret.get_secret_value() == "sk-admin-from-env"
    assert "sk-admin" not in repr(secret) and "sk-admin" not in str(secret)


def test_missing_and_placeholder_secrets_are_refused(monkeypatch):
    with pytest.raises(SettingsError, match="ANTHROPIC_ADMIN_KEY is not set"):
        get_settings().secret("ANTHROPIC_ADMIN_KEY")
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", "changethis")
    with pytest.raises(SettingsError, match="placeholder"):
        get_settings().secret("ANTHROPIC_ADMIN_KEY")


DOTENV = {
    "SPENDSIGHT_HTTP_TIMEOUT_SECONDS": ("7.5", lambda s: s.http.timeout_seconds, 7.5),
    "SPENDSIGHT_RETRY_ATTEMPTS": ("2", lambda s: s.http.retry_attempts, 2),
    "SMTP_HOST": ("mail.example.com", lambda s: s.smtp.host, "mail.example.com"),
    "SMTP_FROM": ("alerts@example.com", lambda s: s.smtp.sender, "alerts@example.com"),
    "SPENDSIGHT_WORKER_POLL_SECONDS": ("3", lambda s: s.worker.poll_seconds, 3),
    "SPENDSIGHT_INBOX_INTERVAL_SECONDS": ("9", lambda s: s.worker.inbox_interval_seconds, 9),
    "SPENDSIGHT_GATEWAY_PORT": ("9911", lambda s: s.gateway.port, 9911),
    "SPENDSIGHT_CNY_PER_USD": ("7.25", lambda s: str(s.cny_per_usd), "7.25"),
}


def test_every_group_reads_the_dotenv_file(tmp_path, monkeypatch):
    """`.env` in the working directory sets the top-level fields and every group's (HTTP, SMTP, worker,
    gateway) alike; a variable in the environment still wins over the file."""
    (tmp_path / ".env").write_text("".join(f"{name}={value}\n" for name, (value, _, _) in DOTENV.items()))
    for name in DOTENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    reset_settings()
    settings = get_settings()
    assert {name: read(settings) for name, (_, read, _) in DOTENV.items()} == {
        name: expected for name, (_, _, expected) in DOTENV.items()
    }
    monkeypatch.setenv("SPENDSIGHT_RETRY_ATTEMPTS", "4")
    reset_settings()
    assert get_settings().http.retry_attempts == 4
