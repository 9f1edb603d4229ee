"""Dated price catalog: genai-prices' bundled data, the user's `prices.toml` overrides, multipliers."""

from __future__ import annotations

import fnmatch
import hashlib
import re
import threading
import tomllib
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache
from importlib import resources
from importlib.metadata import version as _pkg_version
from pathlib import Path
from typing import Any

from genai_prices.data_snapshot import get_snapshot
from genai_prices.types import ModelInfo, ModelPrice, StartDateConstraint, TieredPrices, Usage
from genai_prices.units import (
    _get_registry,  # the registry is the only list of valid price keys
)

from models.settings import get_settings

# Price keys genai-prices does not have but Spendsight prices: USD per unit.
EXTRA_PRICE_KEYS = {"image_each": "images", "session_each": "code_interpreter_sessions"}
# Our counters and the genai-prices usage key each one feeds.
COUNTER_USAGE_KEYS = {
    "input_tokens": "input_tokens",
    "cached_input_tokens": "cache_read_tokens",
    "cache_write_tokens": "cache_write_tokens",
    "cache_write_1h_tokens": "cache_write_1h_tokens",
    "output_tokens": "output_tokens",
    "reasoning_tokens": "output_reasoning_tokens",
    "input_audio_tokens": "input_audio_tokens",
    "output_audio_tokens": "output_audio_tokens",
    "audio_seconds": "audio_seconds",
    "audio_characters": "input_characters",
    "web_search_calls": "web_searches",
    "file_search_calls": "storage_searches",
}
DEFAULT_PRICES_FILE = "prices_default.toml"
NORMALIZED_TIERS = {"": "", "default": "", "standard": "", "auto": "", "none": ""}


class PriceFileError(ValueError):
    """prices.toml is unusable; the message names the file, line and field."""


def normalize_tier(tier: str | None) -> str:
    if not tier:
        return ""
    tier = tier.strip().lower()
    return NORMALIZED_TIERS.get(tier, tier)


@dataclass(frozen=True)
class Override:
    provider: str
    model: str  # exact name or glob
    since: date | None
    prices: dict[str, Decimal]
    batch_multiplier: Decimal | None = None
    note: str = ""
    line: int = 0

    def matches(self, provider: str, model: str) -> bool:
        if self.provider not in ("*", provider):
            return False
        return self.model == model or fnmatch.fnmatchcase(model, self.model)

    @property
    def exact(self) -> bool:
        return not any(ch in self.model for ch in "*?[")


@dataclass(frozen=True)
class Discount:
    provider: str
    model: str
    percent: Decimal
    since: date | None
    until: date | None
    line: int = 0

    def applies(self, provider: str, model: str, day: date) -> bool:
        if self.provider not in ("*", provider) or not fnmatch.fnmatchcase(model, self.model):
            return False
        return (self.since is None or day >= self.since) and (self.until is None or day < self.until)


@dataclass(frozen=True, eq=False)
class Price:
    """Unit prices for one model at one moment, with where they came from."""

    provider: str
    model_id: str
    origin: str  # "genai-prices" or "override"
    model_price: ModelPrice  # flat (tier resolved) and with multipliers/discounts applied
    extra: dict[str, Decimal]  # EXTRA_PRICE_KEYS and requests_kcount, per unit
    notes: tuple[str, ...] = ()

    def per_mtok(self, key: str) -> Decimal | None:
        value = getattr(self.model_price, key, None)
        return value if isinstance(value, Decimal) else None

    @cached_property
    def coefficients(self) -> dict[str, Decimal]:
        """USD per one unit of each counter.

        A flat price is linear in usage, so genai-prices' own calculation, probed once per
        counter on top of a large base usage, gives exact per-unit coefficients (cache reads come
        out as cache price minus input price, because input_tokens already counts them).
        """
        base = {"input_tokens": 10**12, "cache_write_tokens": 10**11, "output_tokens": 10**12}
        base_cost = self._genai_cost(base)
        step = 10**6
        coefficients: dict[str, Decimal] = {}
        for counter, usage_key in COUNTER_USAGE_KEYS.items():
            probe = dict(base)
            probe[usage_key] = probe.get(usage_key, 0) + step
            delta = (self._genai_cost(probe) - base_cost) / step
            if delta:
                coefficients[counter] = delta
        if self.extra.get("requests_kcount"):
            coefficients["requests"] = self.extra["requests_kcount"] / 1000
        for key, counter in EXTRA_PRICE_KEYS.items():
            if self.extra.get(key):
                coefficients[counter] = self.extra[key]
        return coefficients

    def _genai_cost(self, usage: dict[str, int]) -> Decimal:
        return self.model_price.calc_price(Usage(**usage))["total_price"]

    def cost(self, counts: Mapping[str, int | Decimal]) -> Decimal:
        """Exact USD for these counters, summed over any number of requests."""
        total = Decimal(0)
        for counter, coefficient in self.coefficients.items():
            value = counts.get(counter)
            if value:
                total += coefficient * value
        return total


@dataclass
class Catalog:
    """Resolves (provider, model, time, tier, batch, band) to a Price, or None when unpriced."""

    overrides: list[Override] = field(default_factory=list)
    discounts: list[Discount] = field(default_factory=list)
    batch_multipliers: dict[str, Decimal] = field(default_factory=dict)
    tier_multipliers: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    fingerprint: str = ""
    path: str = ""

    def __post_init__(self) -> None:
        self._cache: dict[tuple[str, str, datetime, str, bool, int], Price | None] = {}
        self._changes: dict[tuple[str, str], tuple[date, ...]] = {}
        self._lock = threading.Lock()

    def steady(self, provider: str, model: str, first: date, last: date) -> bool:
        """Whether resolve() prices this model alike on every date from `first` to `last` (any tier,
        batch or band): no dated change takes effect after `first` and on or before `last`.

        What a month rollup row needs to be priced once at its first date. Conservative: a date
        counts when a price could change on it, whether or not the price differs."""
        if last <= first:
            return True
        key = (provider, model)
        changes = self._changes.get(key)
        if changes is None:
            changes = self._changes[key] = self._change_dates(provider, model)
        return not any(first < day <= last for day in changes)

    def steady_price(
        self, provider: str, model: str, first: date, last: date, service_tier: str, batch: bool, band: int
    ) -> bool:
        """Whether resolve() gives this model, tier, batch mode and band the same unit prices on
        every date from `first` to `last`: steady() for the model, or, where one of its prices may
        change in between, the same coefficients on `first` and on each such date (the price holds
        from one change date to the next). A change of batch prices leaves other rows steady."""
        if self.steady(provider, model, first, last):
            return True
        base = self.resolve(provider, model, first, service_tier, batch, band)
        for day in self._changes[(provider, model)]:
            if first < day <= last:
                price = self.resolve(provider, model, day, service_tier, batch, band)
                if (price is None) != (base is None):
                    return False
                if price is not None and base is not None and price.coefficients != base.coefficients:
                    return False
        return True

    @cached_property
    def change_dates(self) -> tuple[date, ...]:
        """Every date on which some price may change: _change_dates of every model at once (any
        override, discount or genai-prices start date). From one of these dates to the day before
        the next, resolve() prices each model, tier, batch mode and band alike, so usage of those
        dates can be summed before it is priced."""
        days: set[date | None] = {o.since for o in self.overrides}
        for discount in self.discounts:
            days |= {discount.since, discount.until}
        for provider in get_snapshot().providers:
            for info in provider.models:
                conditions = [] if isinstance(info.prices, ModelPrice) else [c.constraint for c in info.prices]
                conditions += [v.constraint for v in info.price_variants or ()]
                days |= {c.start_date for c in conditions if isinstance(c, StartDateConstraint)}
        return tuple(sorted(d for d in days if d is not None))

    def _change_dates(self, provider: str, model: str) -> tuple[date, ...]:
        """The dates on which a price of this model may change (resolve() prices at midnight UTC, so
        genai-prices' time-of-day prices never change from one date to the next)."""
        days: set[date | None] = {o.since for o in self.overrides if o.matches(provider, model)}
        for discount in self.discounts:  # by model only: resolve() matches them on genai-prices' provider
            if fnmatch.fnmatchcase(model, discount.model):
                days |= {discount.since, discount.until}
        found = _genai_model(provider, model)
        if found is not None:
            info = found[1]
            conditions = [] if isinstance(info.prices, ModelPrice) else [c.constraint for c in info.prices]
            conditions += [v.constraint for v in info.price_variants or ()]
            days |= {c.start_date for c in conditions if isinstance(c, StartDateConstraint)}
        return tuple(sorted(d for d in days if d is not None))

    # --- lookup ----------------------------------------------------------------------------

    def resolve(
        self,
        provider: str,
        model: str,
        at: datetime | date,
        service_tier: str = "",
        batch: bool = False,
        band: int = 0,
    ) -> Price | None:
        if isinstance(at, datetime):
            at = at.astimezone(UTC)
        else:
            at = datetime.combine(at, time(), UTC)
        key = (provider, model, at, normalize_tier(service_tier), bool(batch), band)
        try:
            return self._cache[key]
        except KeyError:
            pass
        price = self._resolve(*key)
        with self._lock:
            self._cache[key] = price
        return price

    def _resolve(self, provider: str, model: str, at: datetime, tier: str, batch: bool, band: int) -> Price | None:
        day = at.date()
        notes: list[str] = []
        override = self._override(provider, model, day)
        if override is not None:
            base = ModelPrice(**{k: v for k, v in override.prices.items() if _is_genai_key(k)})
            extra = {k: v for k, v in override.prices.items() if not _is_genai_key(k)}
            origin, model_id = "override", override.model
            notes.append(f"{self.path or 'prices.toml'} line {override.line}")
            batch_mult = override.batch_multiplier
            tier_done = batch_done = False
        else:
            found = _genai_model(provider, model)
            if found is None:
                return None
            provider, info = found
            context = {}
            standard = info.get_prices(at)
            batch_done = tier_done = False
            if batch and _has_variant(info, at, "processing", "batch"):
                context["processing"] = "batch"
                batch_done = True
            if tier and _has_variant(info, at, "service_tier", tier):
                context["service_tier"] = tier
                tier_done = True
            base = info.get_prices(at, context) if context else standard
            base = _strip(base)
            extra = {}
            origin, model_id = "genai-prices", info.id
            batch_mult = None
            if batch_done:
                notes.append("batch price from genai-prices")
            if tier_done:
                notes.append(f"{tier} tier price from genai-prices")
            kcount = getattr(base, "requests_kcount", None)
            if isinstance(kcount, Decimal):  # (a flat price: genai-prices never tiers it)
                extra["requests_kcount"] = kcount
                base = _without(base, "requests_kcount")
        base = _flatten_tiers(base, band)
        factor = Decimal(1)  # batch and tier multipliers: token prices only, not tool calls
        if batch and not batch_done:
            mult = batch_mult if batch_mult is not None else self.batch_multipliers.get(provider)
            if mult is not None:
                factor *= mult
                notes.append(f"batch x{mult}")
            else:
                notes.append("batch: no discount known for this provider")
        if tier and not tier_done:
            mult = self.tier_multipliers.get(provider, {}).get(tier)
            if mult is not None:
                factor *= mult
                notes.append(f"{tier} tier x{mult}")
            else:
                notes.append(f"{tier} tier: priced as standard")
        if factor != 1:
            base = _scale(base, factor, tokens_only=True)
        discount = Decimal(1)
        for entry in self.discounts:
            if entry.applies(provider, model, day):
                discount *= (Decimal(100) - entry.percent) / Decimal(100)
                notes.append(f"negotiated discount {entry.percent}%")
        if discount != 1:
            base = _scale(base, discount)
            extra = {k: v * discount for k, v in extra.items()}
        return Price(provider, model_id, origin, base, extra, tuple(notes))

    def _override(self, provider: str, model: str, day: date) -> Override | None:
        best: Override | None = None
        for entry in self.overrides:
            if not entry.matches(provider, model) or (entry.since is not None and entry.since > day):
                continue
            rank = (entry.exact, entry.since or date.min)
            if best is None or rank >= (best.exact, best.since or date.min):
                best = entry
        return best

    def infer_provider(self, model: str) -> str:
        """The provider a bare model name belongs to ('' when nobody knows it)."""
        for entry in self.overrides:
            if entry.provider != "*" and (entry.model == model or fnmatch.fnmatchcase(model, entry.model)):
                return entry.provider
        found = _genai_model(None, model)
        return found[0] if found else ""

    @property
    def thresholds(self) -> tuple[int, ...]:
        return _tier_thresholds()

    def band(self, input_tokens: int) -> int:
        """Largest tier threshold the prompt exceeds: rows in one band share one long-context price."""
        thresholds = self.thresholds
        i = bisect_left(thresholds, input_tokens)  # thresholds[:i] are all below input_tokens
        return thresholds[i - 1] if i else 0


# --- genai-prices helpers --------------------------------------------------------------------


def _is_genai_key(key: str) -> bool:
    try:
        _get_registry().unit_for_price_key(key)
    except KeyError:
        return False
    return True


@lru_cache(maxsize=4096)
def _genai_model(provider: str | None, model: str) -> tuple[str, ModelInfo] | None:
    snapshot = get_snapshot()
    candidates = [provider] if provider else [None]
    for provider_id in candidates:
        try:
            found_provider, info = snapshot.find_provider_model(model, None, provider_id, None)
        except LookupError:
            continue
        return found_provider.id, info
    return None


def _has_variant(info: ModelInfo, at: datetime, key: str, value: str) -> bool:
    for variant in info.price_variants or ():
        if variant.when.get(key) == value and len(variant.when) == 1:
            if variant.constraint is None or variant.constraint.active(at):
                return True
    return False


def _items(price: ModelPrice) -> dict[str, Any]:  # its set fields: Decimal or TieredPrices
    return {k: v for k, v in price.__dict__.items() if not k.startswith("_") and v is not None}


def _strip(price: ModelPrice) -> ModelPrice:
    return ModelPrice(**_items(price))


def _without(price: ModelPrice, key: str) -> ModelPrice:
    return ModelPrice(**{k: v for k, v in _items(price).items() if k != key})


def _flatten_tiers(price: ModelPrice, band: int) -> ModelPrice:
    flat = {}
    for key, value in _items(price).items():
        if isinstance(value, TieredPrices):
            chosen = value.base
            for tier in value.tiers:
                if band >= tier.start:
                    chosen = tier.price
            value = chosen
        flat[key] = value
    return ModelPrice(**flat)


def _scale(price: ModelPrice, factor: Decimal, tokens_only: bool = False) -> ModelPrice:
    return ModelPrice(
        **{k: v * factor if (k.endswith("_mtok") or not tokens_only) else v for k, v in _items(price).items()}
    )


@lru_cache(maxsize=1)
def _tier_thresholds() -> tuple[int, ...]:
    starts: set[int] = set()
    for provider in get_snapshot().providers:
        for info in provider.models:
            prices = [info.prices] if isinstance(info.prices, ModelPrice) else [c.prices for c in info.prices]
            prices += [v.prices for v in info.price_variants or ()]
            for price in prices:
                for value in _items(price).values():
                    if isinstance(value, TieredPrices):
                        starts.update(t.start for t in value.tiers)
    return tuple(sorted(starts))


def genai_models() -> list[tuple[str, str, str]]:
    """(provider id, model id, display name) for every model in the bundled genai-prices data."""
    return [(p.id, m.id, m.name or m.id) for p in get_snapshot().providers for m in p.models]


# --- loading prices.toml ---------------------------------------------------------------------


def _decimal(value: object, where: str) -> Decimal:
    if isinstance(value, bool):
        raise PriceFileError(f"{where}: expected a number, got {value!r}")
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise PriceFileError(f"{where}: expected a number, got {value!r}") from None
    if not result.is_finite() or result < 0:
        raise PriceFileError(f"{where}: expected a non-negative number, got {value!r}")
    return result


def _date(value: object, where: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise PriceFileError(f"{where}: expected a date YYYY-MM-DD, got {value!r}") from None


def _table_lines(text: str, header: str) -> list[int]:
    pattern = re.compile(r"^[ \t]*\[\[[ \t]*" + re.escape(header) + r"[ \t]*\]\]", re.M)
    return [text.count("\n", 0, m.start()) + 1 for m in pattern.finditer(text)]


OVERRIDE_META = {"provider", "model", "since", "note", "batch_multiplier"}


def parse_prices(text: str, path: str = "prices.toml") -> Catalog:
    """Parse a prices file; errors name the file, the entry's line and the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PriceFileError(f"{path}: invalid TOML: {exc}") from None
    unknown = set(data) - {"override", "discount", "multipliers"}
    if unknown:
        raise PriceFileError(f"{path}: unknown section(s) {sorted(unknown)}; expected override, discount, multipliers")
    override_lines = _table_lines(text, "override")
    overrides = []
    for i, entry in enumerate(data.get("override", [])):
        line = override_lines[i] if i < len(override_lines) else 0
        where = f"{path} line {line} [[override]]"
        for required in ("provider", "model"):
            if not isinstance(entry.get(required), str) or not entry[required].strip():
                raise PriceFileError(f"{where}: field '{required}' is required (a string)")
        prices = {}
        for key, value in entry.items():
            if key in OVERRIDE_META:
                continue
            if not (_is_genai_key(key) or key in EXTRA_PRICE_KEYS):
                raise PriceFileError(
                    f"{where} field '{key}': unknown price key (e.g. input_mtok, output_mtok, "
                    f"cache_read_mtok, cache_write_mtok, requests_kcount, image_each)"
                )
            prices[key] = _decimal(value, f"{where} field '{key}'")
        if not prices:
            raise PriceFileError(f"{where}: no prices given (e.g. input_mtok = 2.5)")
        batch_mult = entry.get("batch_multiplier")
        overrides.append(
            Override(
                provider=entry["provider"].strip().lower(),
                model=entry["model"].strip(),
                since=_date(entry.get("since"), f"{where} field 'since'"),
                prices=prices,
                batch_multiplier=None
                if batch_mult is None
                else _decimal(batch_mult, f"{where} field 'batch_multiplier'"),
                note=str(entry.get("note", "")),
                line=line,
            )
        )
    discount_lines = _table_lines(text, "discount")
    discounts = []
    for i, entry in enumerate(data.get("discount", [])):
        line = discount_lines[i] if i < len(discount_lines) else 0
        where = f"{path} line {line} [[discount]]"
        if "percent" not in entry:
            raise PriceFileError(f"{where}: field 'percent' is required")
        percent = _decimal(entry["percent"], f"{where} field 'percent'")
        if percent > 100:
            raise PriceFileError(f"{where} field 'percent': must be at most 100, got {percent}")
        discounts.append(
            Discount(
                provider=str(entry.get("provider", "*")).lower(),
                model=str(entry.get("model", "*")),
                percent=percent,
                since=_date(entry.get("since"), f"{where} field 'since'"),
                until=_date(entry.get("until"), f"{where} field 'until'"),
                line=line,
            )
        )
    mult = data.get("multipliers", {})
    batch = {p: _decimal(v, f"{path} [multipliers.batch] field '{p}'") for p, v in mult.get("batch", {}).items()}
    tiers = {
        p: {normalize_tier(t): _decimal(v, f"{path} [multipliers.service_tier.{p}] field '{t}'") for t, v in m.items()}
        for p, m in mult.get("service_tier", {}).items()
    }
    fingerprint = hashlib.sha256((text + _pkg_version("genai-prices")).encode()).hexdigest()[:16]
    return Catalog(overrides, discounts, batch, tiers, fingerprint, path)


def default_prices_text() -> str:
    return resources.files("models.pricing").joinpath(DEFAULT_PRICES_FILE).read_text()


def load_catalog(path: Path | None) -> Catalog:
    """The catalog from `path`, or the shipped defaults when there is no file."""
    if path is not None and path.exists():
        return parse_prices(path.read_text(), str(path))
    return parse_prices(default_prices_text(), DEFAULT_PRICES_FILE)


_current: tuple[tuple[str, int | None, int | None], Catalog] | None = None
_current_lock = threading.Lock()


def get_catalog() -> Catalog:
    """The catalog for the configured data dir, re-read when prices.toml changes on disk."""
    global _current

    path = get_settings().prices_file
    try:
        stat = path.stat()
        stamp: tuple[str, int | None, int | None] = (str(path), stat.st_mtime_ns, stat.st_size)
    except FileNotFoundError:
        stamp = (str(path), None, None)
    with _current_lock:
        if _current is None or _current[0] != stamp:
            _current = (stamp, load_catalog(path))
        return _current[1]


def reset_catalog() -> None:
    global _current
    with _current_lock:
        _current = None
