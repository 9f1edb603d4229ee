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
