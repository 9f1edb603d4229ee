"""UI text in English and Chinese: `t("key")` looks up the session's language, falling back to English.

The text lives in data files, one per language (ui/locales/en.toml, zh.toml), read by the shared
loader models.locales (the emails and the sign-in pages use it too): the key `explore.title` is
`title` under `[explore]`. Both files are read once per process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from importlib import resources

import streamlit as st

from models.locales import DEFAULT_LANG, LocaleError, Strings

__all__ = ["DEFAULT_LANG", "LANGUAGES", "LocaleError", "STRINGS", "keys", "lang", "language", "missing", "strings", "t"]

LANGUAGES = {"en": "English", "zh": "中文"}
SESSION_KEY = "lang"
# installed with the package (pyproject package-data)
STRINGS = Strings(resources.files("ui").joinpath("locales"), "ui/locales")
_forced: ContextVar[str | None] = ContextVar("ui_lang", default=None)


def strings() -> dict[str, dict[str, str]]:
    """Every language's {key: text}, read from the locale files on first use."""
    return STRINGS.tables()


def lang() -> str:
    value = _forced.get()
    if value is None:
        try:
            value = st.session_state.get(SESSION_KEY, DEFAULT_LANG)
        except Exception:  # outside a Streamlit session (CLI, tests of models)
            value = DEFAULT_LANG
    return value if value in LANGUAGES else DEFAULT_LANG


@contextmanager
def language(code: str) -> Iterator[None]:
    """Text in `code` inside the block, whatever the session says (a chart or export made for one reader)."""
    token = _forced.set(code)
    try:
        yield
    finally:
        _forced.reset(token)


def t(key: str, /, **values: object) -> str:
    return STRINGS(lang(), key, **values)


def missing(lang_code: str = "zh", prefix: str = "") -> list[str]:
    """English keys (starting with `prefix`) that have no translation in `lang_code`."""
    tables = strings()
    other = tables.get(lang_code, {})
    return sorted(k for k in tables[DEFAULT_LANG] if k.startswith(prefix) and not other.get(k))


def keys(lang_code: str = "en") -> dict[str, str]:
    return dict(strings().get(lang_code, {}))
