"""UI text in English and Chinese: `t("key")` looks up the session's language, falling back to English.

Each area keeps its strings in its own module (ui/strings_<area>.py) as {"en": {...}, "zh": {...}}
and registers them with `register`, so pages never hold literal UI text in two languages.
"""

from __future__ import annotations

import streamlit as st

LANGUAGES = {"en": "English", "zh": "中文"}
_STRINGS: dict[str, dict[str, str]] = {"en": {}, "zh": {}}


def register(table: dict[str, dict[str, str]]) -> None:
    for lang, entries in table.items():
        _STRINGS.setdefault(lang, {}).update(entries)


def lang() -> str:
    return st.session_state.get("lang", "en")


def t(key: str, **values) -> str:
    text = _STRINGS.get(lang(), {}).get(key) or _STRINGS["en"].get(key) or key
    return text.format(**values) if values else text
