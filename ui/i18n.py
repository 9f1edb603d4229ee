"""UI text in English and Chinese: `t("key")` looks up the session's language, falling back to English.

Each area keeps its strings in its own module (ui/strings_<area>.py) as {"en": {...}, "zh": {...}}
and registers them with `register` (every ui/strings_*.py module is also imported on first use, so a
page never misses a table), so pages never hold literal UI text in two languages.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading

import streamlit as st

import ui

LANGUAGES = {"en": "English", "zh": "中文"}
DEFAULT_LANG = "en"
SESSION_KEY = "lang"
_STRINGS: dict[str, dict[str, str]] = {"en": {}, "zh": {}}
_loaded = False
_load_lock = threading.Lock()


def register(table: dict[str, dict[str, str]]) -> None:
    for lang_code, entries in table.items():
        _STRINGS.setdefault(lang_code, {}).update(entries)


def load_all() -> None:
    """Import every ui/strings_*.py module once (each registers its table on import)."""
    global _loaded
    if _loaded:
        return
    with _load_lock:
        if _loaded:
            return

        for info in pkgutil.iter_modules(ui.__path__):
            if info.name.startswith("strings_"):
                module = importlib.import_module(f"ui.{info.name}")
                table = getattr(module, "STRINGS", None)
                if isinstance(table, dict):
                    register(table)
        _loaded = True


def lang() -> str:
    try:
        value = st.session_state.get(SESSION_KEY, DEFAULT_LANG)
    except Exception:  # outside a Streamlit session (CLI, tests of models)
        value = DEFAULT_LANG
    return value if value in LANGUAGES else DEFAULT_LANG


def t(key: str, **values) -> str:
    load_all()
    text = _STRINGS.get(lang(), {}).get(key) or _STRINGS["en"].get(key) or key
    return text.format(**values) if values else text


def missing(lang_code: str = "zh", prefix: str = "") -> list[str]:
    """English keys (starting with `prefix`) that have no translation in `lang_code`."""
    load_all()
    other = _STRINGS.get(lang_code, {})
    return sorted(k for k in _STRINGS["en"] if k.startswith(prefix) and not other.get(k))


def keys(lang_code: str = "en") -> dict[str, str]:
    load_all()
    return dict(_STRINGS.get(lang_code, {}))
