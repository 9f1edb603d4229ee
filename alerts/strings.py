"""The words of what Spendsight sends and serves outside the dashboard (alert and invitation emails,
the sign-in pages), in English and Chinese, read from TOML data files like the dashboard's ui/locales.

alerts/ may not import ui/, so these strings live here; gateway/ loads its own folder with the same
`Strings` class. Money is shown in the reader's display currency (USD is the stored truth).
"""

from __future__ import annotations

import threading
import tomllib
from decimal import Decimal
from importlib import resources
from importlib.resources.abc import Traversable

LANGUAGES = ("en", "zh")
DEFAULT_LANG = "en"
SYMBOLS = {"USD": "$", "CNY": "¥"}


class Strings:
    """{lang: {dotted.key: text}} from `<folder>/<lang>.toml`, read on first use."""

    def __init__(self, folder: Traversable, name: str) -> None:
        self.folder = folder
        self.name = name  # for error messages: "alerts/locales"
        self._tables: dict[str, dict[str, str]] | None = None
        self._lock = threading.Lock()

    def tables(self) -> dict[str, dict[str, str]]:
        if self._tables is None:
            with self._lock:
                if self._tables is None:
                    self._tables = {code: self._load(code) for code in LANGUAGES}
        return self._tables

    def _load(self, code: str) -> dict[str, str]:
        source = f"{self.name}/{code}.toml"
        try:
            data = tomllib.loads(self.folder.joinpath(f"{code}.toml").read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{source}: {exc}") from None
        return _flatten(data, source)

    def __call__(self, lang: str, key: str, **values: object) -> str:
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
    flat: dict[str, str] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            flat.update(_flatten(value, source, f"{key}."))
        elif isinstance(value, str):
            flat[key] = value
        else:
            raise ValueError(f"{source}: {key}: expected text in quotes, got {type(value).__name__}")
    return flat


def money(amount_usd: object, currency: str = "USD", rate: Decimal = Decimal(1)) -> str:
    """$1,234.56 or ¥8,765.43: a USD amount shown in a display currency at `rate` units per USD."""
    value = Decimal(str(amount_usd)) * (rate if currency != "USD" else Decimal(1))
    sign = "-" if value < 0 else ""
    return f"{sign}{SYMBOLS.get(currency, currency + ' ')}{abs(value):,.2f}"


def pick_lang(accept_language: str | None) -> str:
    """The first of our languages an Accept-Language header asks for (zh-CN, zh-Hans, ... are zh)."""
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()
        for lang in LANGUAGES:
            if code == lang or code.startswith(lang + "-"):
                return lang
    return DEFAULT_LANG


ALERTS = Strings(resources.files("alerts").joinpath("locales"), "alerts/locales")
