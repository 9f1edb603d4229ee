"""Text in English and Chinese read from TOML data files, one per language: the one loader behind the
dashboard (ui/locales), the emails (alerts/locales) and the gateway's sign-in pages (gateway/locales).

A key `explore.title` is `title` under `[explore]`, so translators never edit Python. Each folder is
read once per process, on first use, under a lock (Streamlit runs every session in its own thread).
"""

from __future__ import annotations

import threading
import tomllib
from importlib.resources.abc import Traversable

LANGUAGES = ("en", "zh")
DEFAULT_LANG = "en"


class LocaleError(ValueError):
    """A locale file that is not valid TOML or holds something other than text."""


class Strings:
    """{lang: {dotted.key: text}} from `<folder>/<lang>.toml`, read on first use."""

    def __init__(self, folder: Traversable, name: str) -> None:
        self.folder = folder
        self.name = name  # for error messages: "alerts/locales"
        self._tables: dict[str, dict[str, str]] | None = None
        self._lock = threading.Lock()

    def tables(self) -> dict[str, dict[str, str]]:
        """Every language's {key: text}."""
        if self._tables is None:
            with self._lock:
                if self._tables is None:
                    self._tables = {code: self.load(code) for code in LANGUAGES}
        return self._tables

    def load(self, code: str) -> dict[str, str]:
        """One language's file, flattened; a broken file raises LocaleError naming file, line and key."""
        source = f"{self.name}/{code}.toml"
        try:
            data = tomllib.loads(self.folder.joinpath(f"{code}.toml").read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:  # the message names the line and column
            raise LocaleError(f"{source}: {exc}") from None
        return _flatten(data, source)

    def __call__(self, lang: str, key: str, /, **values: object) -> str:
        """The text of `key` in `lang`, else English, else the key itself; formatted with `values`."""
        tables = self.tables()
        text = tables.get(lang, {}).get(key) or tables[DEFAULT_LANG].get(key) or key
        return text.format(**values) if values else text

    def words(self, lang: str, prefix: str) -> dict[str, str]:
        """Every text under `prefix.` (English where a translation is missing), for a template."""
        tables = self.tables()
        start = prefix + "."
        base = {k[len(start) :]: v for k, v in tables[DEFAULT_LANG].items() if k.startswith(start)}
        own = {k[len(start) :]: v for k, v in tables.get(lang, {}).items() if k.startswith(start)}
        return base | own


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


def pick_lang(accept_language: str | None) -> str:
    """The first of our languages an Accept-Language header asks for (zh-CN, zh-Hans, ... are zh)."""
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()
        for lang in LANGUAGES:
            if code == lang or code.startswith(lang + "-"):
                return lang
    return DEFAULT_LANG
