"""Model comparison: every price comes from models.prices (Catalog.resolve + Price.cost, the same code
that prices stored usage), so a comparison and the spend it is compared with cannot disagree.

Four modes:
- reprice(): a real workload's exact token mix (per batch flag and context band) on candidate models;
- what_if(): a traffic profile, expected and worst-case monthly cost with the generation bound
  `generated tokens per request <= max_tokens x max(n, best_of)`;
- count_tokens() / call_cost(): a prompt's tokens (tiktoken for OpenAI encodings, labelled estimates
  otherwise) and the cost of one call;
- parse_scores() / frontier(): the cost/quality frontier of a user's `model,score` CSV.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import importlib.util
import io
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import pandas as pd
import tiktoken
from sqlalchemy import BindParameter, bindparam, text
from tiktoken.model import encoding_name_for_model

from models.db import get_engine
from models.pricing.catalog import Catalog, genai_models, get_catalog
from models.spend.queries import FILTER_COLUMNS, SpendQuery, spend
from models.spend.rollups import daily_table
from models.tables import USAGE_COUNTERS

ZERO = Decimal(0)
THOUSAND = Decimal(1000)
# A short list of widely used models to start a comparison with (any catalog model can be added).
POPULAR = (
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4.1"),
    ("openai", "gpt-4.1-mini"),
    ("openai", "gpt-4.1-nano"),
    ("openai", "gpt-5"),
    ("openai", "gpt-5-mini"),
    ("openai", "o4-mini"),
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-haiku-4-5"),
    ("google", "gemini-2.5-pro"),
    ("google", "gemini-2.5-flash"),
    ("google", "gemini-2.5-flash-lite"),
    ("deepseek", "deepseek-chat"),
    ("mistral", "mistral-small-latest"),
)


class CompareError(ValueError):
    """Input the comparison cannot use; the message names the field (and line, for files)."""


Candidate = tuple[str, str]  # (provider, model)


def catalog_models(catalog: Catalog | None = None) -> list[Candidate]:
    """Every model the catalog can price: genai-prices' models plus exact-name overrides."""
    catalog = catalog or get_catalog()
    seen = dict.fromkeys((p, m) for p, m, _ in genai_models())
    for entry in catalog.overrides:
        if entry.exact and entry.provider != "*":
            seen.setdefault((entry.provider, entry.model))
    return sorted(seen, key=lambda c: (c[0], c[1]))


def default_candidates(catalog: Catalog | None = None, at: date | None = None) -> list[Candidate]:
    catalog = catalog or get_catalog()
    at = at or datetime.now(UTC).date()
    return [c for c in POPULAR if catalog.resolve(*c, at) is not None]


# --- reprice a real workload -----------------------------------------------------------------


@dataclass
class WorkloadPart:
    """Usage of one current model with one batch flag and context band: the unit prices apply to."""

    provider: str
    model: str
    service_tier: str
    batch: bool
    band: int
    counters: dict[str, int]


@dataclass
class Workload:
    start: date
    end: date
    parts: list[WorkloadPart] = field(default_factory=list)
    actual_cost: Decimal = ZERO  # what it cost at the prices of its own days (the explorer's number)

    def total(self, counter: str) -> int:
        return sum(p.counters.get(counter, 0) for p in self.parts)

    @property
    def requests(self) -> int:
        return self.total("requests")

    @property
    def batch_share(self) -> Decimal:
        total = self.requests
        batch = sum(p.counters["requests"] for p in self.parts if p.batch)
        return Decimal(batch) / Decimal(total) if total else ZERO

    def mix(self) -> dict[str, int]:
        """Input split into uncached / cache reads / cache writes, and output, over the whole workload."""
        inputs, cached, writes = (
            self.total("input_tokens"),
            self.total("cached_input_tokens"),
            self.total("cache_write_tokens"),
        )
        return {
            "requests": self.requests,
            "uncached_input_tokens": inputs - cached - writes,
            "cached_input_tokens": cached,
            "cache_write_tokens": writes,
            "output_tokens": self.total("output_tokens"),
            "reasoning_tokens": self.total("reasoning_tokens"),
        }

    @property
    def models(self) -> list[Candidate]:
        return sorted({(p.provider, p.model) for p in self.parts})


def workload(
    org_ids: Sequence[str],
    start: date,
    end: date,
    filters: Mapping[str, Iterable[str]] | None = None,
    catalog: Catalog | None = None,
) -> Workload:
    """The exact token mix of the usage matching `filters` in [start, end) (days in each org's zone)."""
    filters = {k: tuple(str(v) for v in vals) for k, vals in (filters or {}).items() if vals}
    for name in filters:
        if name not in FILTER_COLUMNS:
            raise CompareError(f"filter {name!r}: choose from {', '.join(FILTER_COLUMNS)}")
    result = Workload(start, end)
    if not org_ids:
        return result
    where = ["org_id IN :orgs", "day >= :start", "day < :end"]
    params: dict[str, object] = {"orgs": list(org_ids), "start": start, "end": end}
    binds: list[BindParameter[Any]] = [bindparam("orgs", expanding=True)]
    for i, (name, values) in enumerate(sorted(filters.items())):
        column = FILTER_COLUMNS[name]
        params[f"f{i}"] = [v in ("1", "true", "True") for v in values] if column == "batch" else list(values)
        where.append(f"{column} IN :f{i}")
        binds.append(bindparam(f"f{i}", expanding=True))
    keys = "provider, model, service_tier, batch, context_band"
    table = daily_table(FILTER_COLUMNS[name] for name in filters)  # the smallest that holds the filters
    sql = (
        f"SELECT {keys}, {', '.join(f'SUM({c}) AS {c}' for c in USAGE_COUNTERS)} FROM {table} "
        f"WHERE {' AND '.join(where)} GROUP BY {keys} ORDER BY {keys}"
    )
    with get_engine().connect() as conn:
        for rec in conn.execute(text(sql).bindparams(*binds), params).mappings():
            result.parts.append(
                WorkloadPart(
                    rec["provider"],
                    rec["model"],
                    rec["service_tier"],
                    bool(rec["batch"]),
                    int(rec["context_band"] or 0),
                    {c: int(rec[c] or 0) for c in USAGE_COUNTERS},
                )
            )
    rows = spend(SpendQuery.make(org_ids, start, end, filters=filters), catalog)
    result.actual_cost = rows[0].cost if rows else ZERO
    return result


@dataclass
class Option:
    """One model's cost for the compared usage (None where the catalog has no price for it)."""

    provider: str
    model: str
    cost: Decimal | None
    requests: Decimal
    current: bool = False
    notes: tuple[str, ...] = ()

    @property
    def per_1k_requests(self) -> Decimal | None:
        if self.cost is None or not self.requests:
            return None
        return self.cost / Decimal(self.requests) * THOUSAND


def reprice(
    work: Workload, candidates: Sequence[Candidate], at: date | None = None, catalog: Catalog | None = None
) -> tuple[Option, list[Option]]:
    """(today, options): the workload at `at`'s prices on its own models, and on each candidate."""
    catalog = catalog or get_catalog()
    at = at or datetime.now(UTC).date()
    requests = Decimal(work.requests)
    today_cost: Decimal | None
    today_cost = ZERO  # (apart from the declaration, so mypy narrows it to Decimal in the loop)
    for part in work.parts:
        price = catalog.resolve(part.provider, part.model, at, part.service_tier, part.batch, part.band)
        if price is None:
            today_cost = None
            break
        today_cost += price.cost(part.counters)
    label = ", ".join(m for _, m in work.models)
    today = Option("", label, today_cost, requests, current=True)
    options = []
    current = set(work.models)
    for provider, model in dict.fromkeys(candidates):
        cost: Decimal | None
        cost = ZERO  # (as today_cost)
        notes: list[str] = []
        for part in work.parts:
            price = catalog.resolve(provider, model, at, "", part.batch, part.band)
            if price is None:
                cost = None
                break
            cost += price.cost(part.counters)
            notes += [n for n in price.notes if n not in notes]
        options.append(Option(provider, model, cost, requests, (provider, model) in current, tuple(notes)))
    options.sort(key=lambda o: (o.cost is None, o.cost if o.cost is not None else ZERO, o.model))
    return today, options


# --- reprice model by model ------------------------------------------------------------------

KINDS = ("chat", "reasoning", "embedding")


def model_kind(model: str) -> str:
    """What a model is for, from its name: embeddings and reasoning models are only ever compared with
    their own kind (the usage table has no endpoint per rollup row, and a name is what a candidate has)."""
    name = model.lower().split("/")[-1]
    if "embed" in name:
        return "embedding"
    if (
        (len(name) > 1 and name[0] == "o" and name[1].isdigit())  # o1, o3, o4-mini
        or (name.startswith("gpt-5") and "chat" not in name)
        or any(word in name for word in ("reasoner", "thinking", "-r1"))
    ):
        return "reasoning"
    return "chat"


@dataclass
class ModelSwitch:
    """One model in use: what its own usage costs at today's prices, and on the cheapest candidate of its kind."""

    provider: str
    model: str
    kind: str
    cost: Decimal | None  # its usage at today's prices (None: no price)
    best_provider: str = ""
    best_model: str = ""  # "" when no candidate of its kind is cheaper, or none prices it
    best_cost: Decimal | None = None
    options: dict[Candidate, Decimal | None] = field(default_factory=dict)  # same-kind candidates only

    @property
    def saving(self) -> Decimal | None:
        if self.cost is None or self.best_cost is None:
            return None
        return self.cost - self.best_cost


def _parts_cost(
    catalog: Catalog, parts: Sequence[WorkloadPart], at: date, on: Candidate | None = None
) -> tuple[Decimal | None, list[str]]:
    total, notes = ZERO, []
    for part in parts:
        provider, model = on or (part.provider, part.model)
        price = catalog.resolve(provider, model, at, "" if on else part.service_tier, part.batch, part.band)
        if price is None:
            return None, []
        total += price.cost(part.counters)
        notes += [n for n in price.notes if n not in notes]
    return total, notes


def reprice_by_model(
    work: Workload, candidates: Sequence[Candidate], at: date | None = None, catalog: Catalog | None = None
) -> list[ModelSwitch]:
    """Each model in use, its usage moved only to candidates of its own kind (chat to chat, embeddings
    to embeddings, reasoning to reasoning), with the cheapest such move; largest spend first."""
    catalog = catalog or get_catalog()
    at = at or datetime.now(UTC).date()
    out = []
    for provider, model in work.models:
        parts = [p for p in work.parts if (p.provider, p.model) == (provider, model)]
        kind = model_kind(model)
        cost, _ = _parts_cost(catalog, parts, at)
        row = ModelSwitch(provider, model, kind, cost)
        for candidate in dict.fromkeys(candidates):
            if model_kind(candidate[1]) != kind or candidate == (provider, model):
                continue
            option, _ = _parts_cost(catalog, parts, at, candidate)
            row.options[candidate] = option
            if option is not None and cost is not None and option < cost:
                if row.best_cost is None or option < row.best_cost:
                    row.best_provider, row.best_model, row.best_cost = candidate[0], candidate[1], option
        out.append(row)
    out.sort(key=lambda r: (r.cost is None, -(r.cost or ZERO), r.model))
    return out


# --- what-if ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """A traffic profile. Tokens are per request; completion tokens are per generated choice."""

    requests_per_day: Decimal
    prompt_tokens: int
    completion_tokens: int
    cache_hit_rate: Decimal = ZERO  # share of prompt tokens read from the provider's cache
    batch_share: Decimal = ZERO  # share of requests sent through the batch API
    max_tokens: int | None = None
    n: int = 1
    best_of: int | None = None  # None: not sent (the provider then generates n)
    days: int = 30

    @classmethod
    def make(
        cls,
        requests_per_day: object,
        prompt_tokens: object,
        completion_tokens: object,
        cache_hit_rate: object = 0,
        batch_share: object = 0,
        max_tokens: object = None,
        n: object = 1,
        best_of: object = None,
        days: object = 30,
    ) -> Profile:
        def number(value: object, name: str, lo: int = 0, hi: int | None = None, whole: bool = False) -> Decimal:
            try:
                result = Decimal(str(value))
            except (InvalidOperation, ValueError):
                raise CompareError(f"{name}: expected a number, got {value!r}") from None
            if not result.is_finite() or result < lo or (hi is not None and result > hi):
                bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
                raise CompareError(f"{name}: must be {bound}, got {value!r}")
            if whole and result != result.to_integral_value():
                raise CompareError(f"{name}: must be a whole number, got {value!r}")
            return result

        choices = int(number(n, "n", 1, whole=True))
        best = None if best_of is None else int(number(best_of, "best_of", 1, whole=True))
        if best is not None and best < choices:  # as OpenAI refuses it: best_of must be >= n
            raise CompareError(f"best_of ({best}) must be at least n ({choices}): the provider refuses best_of < n")
        return cls(
            requests_per_day=number(requests_per_day, "requests per day"),
            prompt_tokens=int(number(prompt_tokens, "prompt tokens", whole=True)),
            completion_tokens=int(number(completion_tokens, "completion tokens", whole=True)),
            cache_hit_rate=number(cache_hit_rate, "cache-hit rate", 0, 1),
            batch_share=number(batch_share, "batch share", 0, 1),
            # 0 (or blank) is "no limit", as the page's field says; a bound is at least 1 token
            max_tokens=None
            if max_tokens in (None, "") or number(max_tokens, "max_tokens", whole=True) == 0
            else int(number(max_tokens, "max_tokens", 1, whole=True)),
            n=choices,
            best_of=best,
            days=int(number(days, "days per month", 1, 31, whole=True)),
        )

    @property
    def choices(self) -> int:
        """Completions generated per request: max(n, best_of) (best_of are all generated and billed)."""
        return max(self.n, self.best_of or self.n)

    @property
    def expected_output(self) -> Decimal:
        per_choice = self.completion_tokens if self.max_tokens is None else min(self.completion_tokens, self.max_tokens)
        return Decimal(per_choice * self.choices)

    @property
    def worst_output(self) -> Decimal | None:
        """The generation bound: max_tokens x max(n, best_of) per request (None without max_tokens)."""
        return None if self.max_tokens is None else Decimal(self.max_tokens * self.choices)

    @property
    def monthly_requests(self) -> Decimal:
        return self.requests_per_day * self.days

    def counters(self, worst: bool = False) -> dict[str, Decimal]:
        """Monthly counters: expected, or worst case (the bound on output and no prompt token cached)."""
        requests = self.monthly_requests
        output = self.worst_output if worst else self.expected_output
        cached = ZERO if worst else Decimal(self.prompt_tokens) * self.cache_hit_rate
        return {
            "requests": requests,
            "input_tokens": Decimal(self.prompt_tokens) * requests,
            "cached_input_tokens": cached * requests,
            "output_tokens": (output or ZERO) * requests,
        }


@dataclass
class WhatIfRow:
    provider: str
    model: str
    expected: Decimal | None
    worst: Decimal | None
    per_1k_requests: Decimal | None
    notes: tuple[str, ...] = ()


def _split_cost(
    catalog: Catalog, candidate: Candidate, at: date, counters: Mapping[str, Decimal], batch_share: Decimal, band: int
) -> tuple[Decimal | None, list[str]]:
    """Cost of `counters` with `batch_share` of them at the batch price."""
    total, notes = ZERO, []
    for batch, share in ((False, 1 - batch_share), (True, batch_share)):
        if not share:
            continue
        price = catalog.resolve(*candidate, at, "", batch, band)
        if price is None:
            return None, []
        total += price.cost({k: v * share for k, v in counters.items()})
        notes += [n for n in price.notes if n not in notes]
    return total, notes


def what_if(
    profile: Profile, candidates: Sequence[Candidate], at: date | None = None, catalog: Catalog | None = None
) -> list[WhatIfRow]:
    """Expected and worst-case monthly cost of `profile` on each candidate, cheapest first."""
    catalog = catalog or get_catalog()
    at = at or datetime.now(UTC).date()
    band = catalog.band(profile.prompt_tokens)
    rows = []
    for candidate in dict.fromkeys(candidates):
        expected, notes = _split_cost(catalog, candidate, at, profile.counters(), profile.batch_share, band)
        worst = None
        if expected is not None and profile.worst_output is not None:
            worst, _ = _split_cost(catalog, candidate, at, profile.counters(worst=True), profile.batch_share, band)
        per_1k = (
            expected / profile.monthly_requests * THOUSAND
            if expected is not None and profile.monthly_requests
            else None
        )
        rows.append(WhatIfRow(*candidate, expected, worst, per_1k, tuple(notes)))
    rows.sort(key=lambda r: (r.expected is None, r.expected or ZERO, r.model))
    return rows


# --- token estimate --------------------------------------------------------------------------


class _EncodingSpec(TypedDict):
    sha256: str
    pat_str: str
    special_tokens: dict[str, int]


# The two OpenAI encodings in use, as tiktoken defines them; the rank files ship in bpe-openai's wheel
# and are checked against tiktoken's published sha256 before use (tiktoken itself would download them).
_ENCODINGS: dict[str, _EncodingSpec] = {
    "cl100k_base": {
        "sha256": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        "pat_str": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",  # noqa: E501 (tiktoken's pattern, verbatim)
        "special_tokens": {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    },
    "o200k_base": {
        "sha256": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        "pat_str": "|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        "special_tokens": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    },
}
_encoders: dict[str, tiktoken.Encoding | None] = {}
_encoder_lock = threading.Lock()
CHARS_PER_TOKEN = 4  # the usual rule of thumb, used only when no encoding file is installed


def _rank_file(name: str) -> Path | None:
    spec = importlib.util.find_spec("bpe_openai")  # locate the data without importing the extension
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / f"{name}.tiktoken.gz"
    return path if path.exists() else None


def encoding(name: str) -> tiktoken.Encoding | None:
    """A tiktoken Encoding built offline from the shipped rank file, or None when it is not installed."""
    with _encoder_lock:
        if name in _encoders:
            return _encoders[name]
        spec = _ENCODINGS[name]
        path = _rank_file(name)
        enc = None
        if path is not None:
            data = gzip.decompress(path.read_bytes())
            if hashlib.sha256(data).hexdigest() != spec["sha256"]:
                raise CompareError(f"{path}: not tiktoken's {name} (sha256 differs); reinstall bpe-openai")
            ranks = {
                base64.b64decode(tok): int(rank) for tok, rank in (line.split() for line in data.splitlines() if line)
            }
            enc = tiktoken.Encoding(
                name, pat_str=spec["pat_str"], mergeable_ranks=ranks, special_tokens=spec["special_tokens"]
            )
        _encoders[name] = enc
        return enc


def encoding_for(provider: str, model: str) -> str:
    """The OpenAI encoding a model uses (o200k_base for models tiktoken does not know)."""
    try:
        name = encoding_name_for_model(model)
    except KeyError:  # a model tiktoken does not know
        name = "o200k_base"
    return name if name in _ENCODINGS else "o200k_base"


@dataclass(frozen=True)
class TokenCount:
    provider: str
    model: str
    tokens: int
    method: str  # "tiktoken o200k_base", or how the estimate was made
    exact: bool


def count_tokens(prompt: str, provider: str, model: str) -> TokenCount:
    """Prompt tokens for a model: exact with tiktoken for OpenAI models, an estimate for the rest."""
    name = encoding_for(provider, model) if provider == "openai" else "o200k_base"
    enc = encoding(name)
    if enc is None:
        approx = math.ceil(len(prompt) / CHARS_PER_TOKEN) if prompt else 0
        return TokenCount(provider, model, approx, f"≈ characters / {CHARS_PER_TOKEN}", False)
    tokens = len(enc.encode(prompt, disallowed_special=()))
    if provider == "openai":
        return TokenCount(provider, model, tokens, f"tiktoken {name}", True)
    return TokenCount(provider, model, tokens, f"≈ tiktoken {name}", False)


def call_cost(
    candidate: Candidate, prompt_tokens: int, output_tokens: int, at: date | None = None, catalog: Catalog | None = None
) -> Decimal | None:
    """The cost of one call with these token counts (None when the catalog has no price)."""
    catalog = catalog or get_catalog()
    at = at or datetime.now(UTC).date()
    price = catalog.resolve(*candidate, at, "", False, catalog.band(prompt_tokens))
    if price is None:
        return None
    return price.cost({"requests": 1, "input_tokens": prompt_tokens, "output_tokens": output_tokens})


# --- cost vs quality -------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    provider: str
    model: str
    score: Decimal
    line: int


def parse_scores(content: str | bytes, catalog: Catalog | None = None, source: str = "scores.csv") -> list[Score]:
    """Read `model,score` (optionally `provider`) rows; every problem names the line and the field."""
    catalog = catalog or get_catalog()
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise CompareError(f"{source}: not UTF-8 text; save the file as CSV (UTF-8)") from None
    reader = csv.reader(io.StringIO(content.lstrip("\ufeff")))
    rows = [(i, row) for i, row in enumerate(reader, start=1) if any(cell.strip() for cell in row)]
    if not rows:
        raise CompareError(f"{source}: the file is empty; expected a header `model,score` and one row per model")
    header_line, header = rows[0]
    columns = [c.strip().lower() for c in header]
    for required in ("model", "score"):
        if required not in columns:
            raise CompareError(
                f"{source} line {header_line}: the header must name the columns model and score "
                f"(found {', '.join(columns) or 'nothing'})"
            )
    known = set(catalog_models(catalog))
    scores, errors = [], []
    seen: dict[Candidate, int] = {}
    for line, row in rows[1:]:
        cells = dict(zip(columns, (c.strip() for c in row)))
        if len(row) > len(columns):
            errors.append(f"line {line}: {len(row)} fields but the header has {len(columns)}")
            continue
        model = cells.get("model", "")
        if not model:
            errors.append(f"line {line} field 'model': empty")
            continue
        raw = cells.get("score", "")
        try:
            score = Decimal(raw)
            if not score.is_finite():
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            errors.append(f"line {line} field 'score': expected a number, got {raw!r}")
            continue
        provider = cells.get("provider", "").lower() or catalog.infer_provider(model)
        if not provider or ((provider, model) not in known and catalog.resolve(provider, model, date.today()) is None):
            errors.append(
                f"line {line} field 'model': {model!r} is not in the price catalog"
                + ("" if cells.get("provider") else " (add a provider column if the name is ambiguous)")
            )
            continue
        if (provider, model) in seen:
            errors.append(f"line {line} field 'model': {model!r} is already on line {seen[(provider, model)]}")
            continue
        seen[(provider, model)] = line
        scores.append(Score(provider, model, score, line))
    if errors:
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        raise CompareError(f"{source}: " + "; ".join(errors[:10]) + more)
    if not scores:
        raise CompareError(f"{source}: no rows after the header; add one `model,score` row per model")
    return scores


class _Point(TypedDict):
    model: str
    provider: str
    score: Decimal
    cost_per_1k: Decimal | None
    dominated: NotRequired[bool]


def frontier(
    scores: Sequence[Score], profile: Profile, at: date | None = None, catalog: Catalog | None = None
) -> pd.DataFrame:
    """model, provider, score, cost_per_1k (Decimal, the profile's expected cost per 1,000 requests) and
    dominated: True when another model costs no more and scores at least as well, one of them strictly."""
    rows = what_if(profile, [(s.provider, s.model) for s in scores], at, catalog)
    cost = {(r.provider, r.model): r.per_1k_requests for r in rows}
    records: list[_Point] = [
        {"model": s.model, "provider": s.provider, "score": s.score, "cost_per_1k": cost[(s.provider, s.model)]}
        for s in scores
    ]
    for record in records:
        c, q = record["cost_per_1k"], record["score"]
        record["dominated"] = c is None or any(
            other is not record
            and other["cost_per_1k"] is not None
            and other["cost_per_1k"] <= c
            and other["score"] >= q
            and (other["cost_per_1k"] < c or other["score"] > q)
            for other in records
        )
    frame = pd.DataFrame(records, columns=["model", "provider", "score", "cost_per_1k", "dominated"])
    return frame.sort_values(["dominated", "score"], ascending=[True, False], kind="stable").reset_index(drop=True)
