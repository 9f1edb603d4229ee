"""UI text in English and Chinese: `t("key")` looks up the session's language, falling back to English.

The text lives in data files, one per language (ui/locales/en.toml, zh.toml), so translators never
edit Python: the key `explore.title` is `title` under `[explore]`. Both files are read once per process.
"""

from __future__ import annotations

import threading
import tomllib
from importlib import resources

import streamlit as st

LANGUAGES = {"en": "English", "zh": "中文"}
DEFAULT_LANG = "en"
SESSION_KEY = "lang"
LOCALES = resources.files("ui").joinpath("locales")  # installed with the package (pyproject package-data)
_strings: dict[str, dict[str, str]] | None = None
_load_lock = threading.Lock()  # Streamlit runs each session's script in its own thread


class LocaleError(ValueError):
    """A locale file that is not valid TOML or holds something other than text."""


def _flatten(table: dict[str, object], source: str, prefix: str = "") -> dict[str, str]:
    """{"explore": {"title": "..."}} -> {"explore.title": "..."}."""
    flat: dict[str, str] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            flat.update(_flatten(value, source, f"{key}."))
        elif isinstance(value, str):
            flat[key] = value
        else:
            raise LocaleError(f"{source}: {key}: expected text in quotes, got {type(value).__name__}")
    return flat


def _load(lang_code: str) -> dict[str, str]:
    source = f"ui/locales/{lang_code}.toml"
    text = LOCALES.joinpath(f"{lang_code}.toml").read_text(encoding="utf-8")
    try:
        return _flatten(tomllib.loads(text), source)
    except tomllib.TOMLDecodeError as exc:  # the message names the line and column
        raise LocaleError(f"{source}: {exc}") from None


def strings() -> dict[str, dict[str, str]]:
    """Every language's {key: text}, read from the locale files on first use."""
    global _strings
    if _strings is None:
        with _load_lock:
            if _strings is None:
                _strings = {lang_code: _load(lang_code) for lang_code in LANGUAGES}
    return _strings


def lang() -> str:
    try:
        value = st.session_state.get(SESSION_KEY, DEFAULT_LANG)
    except Exception:  # outside a Streamlit session (CLI, tests of models)
        value = DEFAULT_LANG
    return value if value in LANGUAGES else DEFAULT_LANG


def t(key: str, **values: object) -> str:
    tables = strings()
    text = tables.get(lang(), {}).get(key) or tables[DEFAULT_LANG].get(key) or key
    return text.format(**values) if values else text


def missing(lang_code: str = "zh", prefix: str = "") -> list[str]:
    """English keys (starting with `prefix`) that have no translation in `lang_code`."""
    tables = strings()
    other = tables.get(lang_code, {})
    return sorted(k for k in tables[DEFAULT_LANG] if k.startswith(prefix) and not other.get(k))


def keys(lang_code: str = "en") -> dict[str, str]:
    return dict(strings().get(lang_code, {}))
