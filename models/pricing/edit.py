"""The effective price catalog as a table, and owner-only, audited edits of `$SPENDSIGHT_DATA_DIR/prices.toml`.

Edits are textual (comments and the rest of the file stay as they are), the whole new file is
validated with models.prices.parse_prices before it replaces the old one (atomically), and an audit
row is written for every organization, since a price change re-prices every organization's history.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

import pandas as pd
from sqlmodel import Session, select

from models.access.audit import record
from models.access.roles import Actor, PermissionDenied, require_owner
from models.db import private_dir, session_scope
from models.numbers import parse_decimal
from models.pricing.catalog import (
    Catalog,
    PriceFileError,
    default_prices_text,
    genai_models,
    get_catalog,
    parse_prices,
    reset_catalog,
)
from models.settings import get_settings
from models.spend.compare import catalog_models
from models.tables import Organization
from models.validation import ValidationError

# The prices the page edits, USD per million tokens; any other genai-prices key works in the file.
EDITABLE_KEYS = ("input_mtok", "cache_read_mtok", "cache_write_mtok", "output_mtok")
TABLE_KEYS = EDITABLE_KEYS
_HEADER = re.compile(r"^[ \t]*\[")
_OVERRIDE = re.compile(r"^[ \t]*\[\[[ \t]*override[ \t]*\]\]")


# --- reading ---------------------------------------------------------------------------------


def catalog_table(at: date, catalog: Catalog | None = None) -> pd.DataFrame:
    """provider, model, name, input/cache read/cache write/output USD per million tokens, origin, notes:
    the price each model would get for usage on `at` (standard tier, no batch, short context)."""
    catalog = catalog or get_catalog()
    names = {(p, m): n for p, m, n in genai_models()}
    records = []
    for provider, model in catalog_models(catalog):
        price = catalog.resolve(provider, model, at)
        if price is None:
            continue
        record: dict[str, object] = {"provider": provider, "model": model, "name": names.get((provider, model), model)}
        record.update({k: price.per_mtok(k) for k in TABLE_KEYS})
        record.update(origin=price.origin, notes="; ".join(price.notes))
        records.append(record)
    return pd.DataFrame(records, columns=["provider", "model", "name", *TABLE_KEYS, "origin", "notes"])


def search(
    frame: pd.DataFrame, query: str, providers: Sequence[str] = (), only_overrides: bool = False
) -> pd.DataFrame:
    """Rows whose provider, model or name contains every word of `query` (case-insensitive), from any of
    `providers` (all when empty), only overridden prices if asked."""
    mask = pd.Series(True, index=frame.index)
    words = [w for w in (query or "").lower().split() if w]
    if words:
        haystack = (frame["provider"] + " " + frame["model"] + " " + frame["name"]).str.lower()
        for word in words:
            mask &= haystack.str.contains(word, regex=False)
    if providers:
        mask &= frame["provider"].isin(list(providers))
    if only_overrides:
        mask &= frame["origin"] == "override"
    return frame[mask]


def read_text() -> str:
    """The prices file as it is on disk (the shipped defaults when there is none yet)."""
    path = get_settings().prices_file
    return path.read_text() if path.exists() else default_prices_text()


def overrides(text: str | None = None) -> pd.DataFrame:
    """The file's [[override]] entries: line, provider, model, since, prices, note."""
    text = read_text() if text is None else text
    catalog = parse_prices(text, str(get_settings().prices_file))
    return pd.DataFrame(
        [
            {
                "line": o.line,
                "provider": o.provider,
                "model": o.model,
                "since": o.since,
                "prices": ", ".join(f"{k} = {v}" for k, v in o.prices.items()),
                "note": o.note,
            }
            for o in catalog.overrides
        ],
        columns=["line", "provider", "model", "since", "prices", "note"],
    )


# --- editing ---------------------------------------------------------------------------------


def _blocks(text: str) -> list[tuple[int, int]]:
    """(first line index, end index) of each [[override]] block, trailing comments and blanks excluded."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if _OVERRIDE.match(line)]
    out = []
    for start in starts:
        end = next((j for j in range(start + 1, len(lines)) if _HEADER.match(lines[j])), len(lines))
        while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
            end -= 1
        out.append((start, end))
    return out


def render_override(
    provider: str, model: str, prices: Mapping[str, object], since: date | None = None, note: str = ""
) -> str:
    lines = ["[[override]]", f"provider = {json.dumps(provider)}", f"model = {json.dumps(model)}"]
    if since is not None:
        lines.append(f"since = {since.isoformat()}")
    for key, value in prices.items():
        if value is None or value == "":
            continue
        lines.append(f"{key} = {_number(value, key)}")
    if note:
        lines.append(f"note = {json.dumps(note, ensure_ascii=False)}")
    return "\n".join(lines) + "\n"


def _number(value: object, key: str) -> str:
    number = parse_decimal(value, key)  # the one money parser: a decimal comma is refused, not misread
    if number < 0:
        raise ValidationError(f"{key}: expected a non-negative number, got {value!r}")
    text = format(number.normalize(), "f")
    return text if "." in text else text + ".0"


def with_override(
    text: str, provider: str, model: str, prices: Mapping[str, object], since: date | None = None, note: str = ""
) -> str:
    """`text` with the override for (provider, model, since) added, or replaced when it exists."""
    provider = (provider or "").strip().lower()
    model = (model or "").strip()
    if not provider:
        raise ValidationError("provider: required (e.g. openai)")
    if not model:
        raise ValidationError("model: required (an exact name, or a glob such as ft:gpt-4o-mini:*)")
    if not any(v not in (None, "") for v in prices.values()):
        raise ValidationError("prices: give at least one price (e.g. input_mtok = 2.5)")
    block = render_override(provider, model, prices, since, note)
    current = parse_prices(text)
    lines = text.splitlines()
    for entry, (start, end) in zip(current.overrides, _blocks(text)):
        if (entry.provider, entry.model, entry.since) == (provider, model, since):
            return "\n".join(lines[:start] + block.rstrip("\n").split("\n") + lines[end:]) + "\n"
    return text.rstrip("\n") + "\n\n" + block


def without_override(text: str, line: int) -> str:
    """`text` without the [[override]] whose header is on `line` (1-based)."""
    lines = text.splitlines()
    for start, end in _blocks(text):
        if start + 1 == line:
            while end < len(lines) and not lines[end].strip():
                end += 1  # and the blank lines after it
            return "\n".join(lines[:start] + lines[end:]).rstrip("\n") + "\n"
    raise ValidationError(f"line {line}: there is no [[override]] entry starting on that line")


def _require_price_owner(session: Session, actor: Actor) -> list[str]:
    """Prices apply to every organization: only an owner of all of them (or the CLI) may change them."""
    org_ids = list(session.exec(select(Organization.id).order_by(Organization.id)))
    if actor.system:
        return org_ids
    if not org_ids:
        raise PermissionDenied(f"{actor.label} cannot change prices: there are no organizations to own")
    for org_id in org_ids:
        require_owner(session, actor, org_id)
    return org_ids


def save_text(
    actor: Actor,
    new_text: str,
    action: str = "price.edit",
    entity: str = "prices.toml",
    before: object = None,
    after: object = None,
) -> Catalog:
    """Replace prices.toml with `new_text` after checking the actor and validating the whole file.

    Raises PermissionDenied, or PriceFileError naming the line and field; nothing is written then."""
    path = get_settings().prices_file
    with session_scope() as session:
        org_ids = _require_price_owner(session, actor)
        catalog = parse_prices(new_text, str(path))  # validate before anything changes
        old_text = read_text()
        for org_id in org_ids or [""]:
            record(
                session,
                actor,
                action,
                org_id,
                entity,
                before if before is not None else {"sha": _digest(old_text)},
                after if after is not None else {"sha": _digest(new_text)},
            )
        session.flush()
        _write_atomic(path, new_text)
    reset_catalog()
    return catalog


def set_override(
    actor: Actor, provider: str, model: str, prices: Mapping[str, object], since: date | None = None, note: str = ""
) -> Catalog:
    """Add or replace one [[override]] entry (owner-only, audited as price.override)."""
    text = read_text()
    new_text = with_override(text, provider, model, prices, since, note)
    entity = f"{provider.strip().lower()}/{model.strip()}" + (f" since {since}" if since else "")
    after = {k: str(v) for k, v in prices.items() if v not in (None, "")} | ({"note": note} if note else {})
    old = [
        o
        for o in parse_prices(text).overrides
        if (o.provider, o.model, o.since) == (provider.strip().lower(), model.strip(), since)
    ]
    before = {k: str(v) for k, v in old[0].prices.items()} if old else {}
    return save_text(actor, new_text, "price.override", entity, before, after)


def remove_override(actor: Actor, line: int) -> Catalog:
    """Remove the [[override]] entry starting on `line` (owner-only, audited as price.override.remove)."""
    text = read_text()
    entry = next((o for o in parse_prices(text).overrides if o.line == line), None)
    if entry is None:
        raise ValidationError(f"line {line}: there is no [[override]] entry starting on that line")
    entity = f"{entry.provider}/{entry.model}" + (f" since {entry.since}" if entry.since else "")
    return save_text(
        actor,
        without_override(text, line),
        "price.override.remove",
        entity,
        {k: str(v) for k, v in entry.prices.items()},
        {},
    )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _write_atomic(path: Path, text: str) -> None:
    private_dir(path.parent)
    # mkstemp creates the file 0600, like every file in the data dir.
    fd, tmp = tempfile.mkstemp(prefix=".prices-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = [
    "PriceFileError",
    "PermissionDenied",
    "ValidationError",
    "catalog_table",
    "search",
    "read_text",
    "overrides",
    "with_override",
    "without_override",
    "save_text",
    "set_override",
    "remove_override",
]
