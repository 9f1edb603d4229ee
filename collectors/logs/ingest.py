"""Request-log ingest: stream files in batches into usage; idempotent per request id."""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from collectors.base import (
    COL,
    USAGE_TABLE,
    Record,
    Rejection,
    blank_record,
    ensure_orgs,
    hourly_sums,
    insert_prepared,
    mark_hours_dirty,
    prepare_records,
    printable_path,
    quarantine,
)
from collectors.logs.client import (
    Item,
    Lines,
    Unreadable,
    UsageError,
    check_readable,
    detect_format,
    parse_map,
    read_csv,
    read_jsonl,
)
from collectors.logs.fast import FastPath
from collectors.logs.formats import CONTROL, Reject, clean_text
from collectors.logs.parallel import Helpers, splittable, workers
from collectors.logs.settings import BATCH_ROWS, EARLIEST, FORMATS, LATEST, MAX_RAW_CHARS
from models.access.orgs import validate_org_id
from models.db import get_engine, sqlite_writer_lock
from models.pricing.catalog import Catalog, get_catalog, normalize_tier
from models.spend.rollups import add_prepared, prepare_increments, process_dirty
from models.tables import USAGE_COUNTERS
from models.validation import ValidationError

__all__ = ["Defaults", "IngestResult", "UsageError", "ingest", "ingest_lines", "parse_map", "FORMATS"]


@dataclass
class IngestResult:
    read: int = 0
    ingested: int = 0
    duplicate: int = 0
    quarantined: int = 0
    orgs_created: list[str] = field(default_factory=list)
    orgs_touched: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)  # first few quarantine reasons, for the terminal
    dirty: list[int] = field(default_factory=list)  # rollup marks this ingest wrote

    def summary(self) -> str:
        return f"read={self.read} ingested={self.ingested} duplicate={self.duplicate} quarantined={self.quarantined}"


@dataclass
class Defaults:
    """What the command line supplies for lines that do not say it themselves."""

    org: str | None = None
    project: str | None = None
    model: str | None = None
    at: datetime | None = None


def ingest(
    paths: Iterable[Path],
    fmt: str = "auto",
    defaults: Defaults | None = None,
    mapping: dict[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
    on_file: Callable[[Path, int], None] | None = None,
    helpers: Helpers | None = None,
) -> IngestResult:
    """Ingest every file; raises UsageError before reading anything if the request is unusable.

    Big JSONL files are read in parallel with `helpers` (collectors.logs.parallel), started here if the
    caller did not start them earlier.
    """
    defaults = _check(fmt, defaults, mapping)
    paths = [Path(p) for p in paths]
    for path in paths:
        try:
            found = path.is_file()
        except OSError as exc:  # a name too long, a loop of links: no such file either
            raise UsageError(f"{printable_path(path)[:200]}: {exc.strerror}") from None
        if not found:
            raise UsageError(f"{printable_path(path)[:200]}: no such file")
        check_readable(path)  # every file, before anything is stored
    result = IngestResult()
    own = None
    try:
        for path in paths:
            if on_file:
                on_file(path, path.stat().st_size)
            if splittable(path, fmt) and (helpers is not None or workers() > 1):
                if helpers is None:
                    helpers = own = Helpers(workers() - 1)
                helpers.ingest(path, fmt, defaults, result, on_bytes=progress)
            else:
                ingest_lines(Lines(path, sized=progress), fmt, defaults, mapping, result)
    finally:
        failures = own.close() if own else []
    if failures:
        raise RuntimeError(f"a parallel ingest process failed: {failures[0]}")
    process_dirty()
    return result


def _check(fmt: str, defaults: Defaults | None, mapping: dict[str, str] | None) -> Defaults:
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    defaults = defaults or Defaults()
    try:
        if defaults.org:
            defaults.org = validate_org_id(defaults.org)
        # Checked once here, as each line's own values are in _to_record: a value the column cannot
        # hold would fail every batch, far from the option that caused it.
        if defaults.project:
            defaults.project = clean_text(defaults.project, "--project", _LIMITS["project_id"])
        if defaults.model:
            defaults.model = clean_text(defaults.model, "--model", _LIMITS["model"])
    except ValidationError as exc:
        raise UsageError(str(exc)) from None
    except Reject as exc:
        raise UsageError(exc.reason) from None
    if defaults.at is not None and not EARLIEST <= defaults.at < LATEST:
        raise UsageError(f"--at {defaults.at.isoformat()} is outside {EARLIEST.year}-{LATEST.year}")
    if mapping and fmt not in ("csv", "auto"):
        raise UsageError("--map only applies to --format csv")
    return defaults


def ingest_lines(
    lines: Lines, fmt: str, defaults: Defaults, mapping: dict[str, str] | None, result: IngestResult
) -> None:
    """Ingest one file from `lines.position` on; rollups are left dirty for the caller to process."""
    path = lines.path
    file_fmt = detect_format(path) if fmt == "auto" else fmt
    items: Iterable[Item | Record]
    if file_fmt in ("litellm-csv", "csv"):
        items = read_csv(lines, file_fmt, mapping or {})
    else:
        provider = {"openai-jsonl": "openai", "anthropic-jsonl": "anthropic"}.get(file_fmt)
        items = read_jsonl(lines, provider, FastPath(defaults.org, defaults.project, get_catalog(), provider))
    with _few_collections():
        _ingest_items(path, file_fmt, items, defaults, result)
    process_dirty(ids=result.dirty)  # this file's own rollups, in this process (parallel parts overlap here)
    result.dirty.clear()


@contextmanager
def _few_collections() -> Iterator[None]:
    """Collect garbage less often while a file streams through.

    Every record is a fresh list, so the collector runs every few hundred lines and, each time its
    older generations fill, walks every object the imports left (SQLAlchemy above all): 7.6 us a
    line became 6.6 with what exists frozen and a collection every 20,000 allocations, the same as
    with the collector off. Batches hold no reference cycles, and memory stays bounded by the batch
    (bench/memory.py).
    """
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(20_000, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _ingest_items(
    path: Path, fmt: str, items: Iterable[Item | Record], defaults: Defaults, result: IngestResult
) -> None:
    catalog = get_catalog()
    rows: list[Record] = []
    rejects: list[Rejection] = []
    zones: dict[str, str] = {}  # each org's time zone as last seen, for the rollup increments
    name = printable_path(path)
    try:
        for item in items:
            result.read += 1
            if type(item) is list:  # a finished record from the fast path
                rows.append(item)
            else:
                assert isinstance(item, Item)
                if item.reject is None:
                    try:
                        rows.append(_to_record(item, fmt, defaults, catalog))
                    except _Missing as missing:
                        item.reject = missing.reject
                if item.reject is not None:
                    _reject(rejects, result, name, fmt, defaults, item.line, item.reject, item.raw)
            if len(rows) >= BATCH_ROWS:
                _flush(rows, rejects, result, zones)
                rows, rejects = [], []
    except Unreadable as exc:  # the lines before it stand; the unreadable rest is one quarantined entry
        _reject(rejects, result, name, fmt, defaults, exc.line, Reject("file", str(exc)), "")
    _flush(rows, rejects, result, zones)


def _reject(
    rejects: list[Rejection],
    result: IngestResult,
    name: str,
    fmt: str,
    defaults: Defaults,
    line: int,
    reject: Reject,
    raw: str,
) -> None:
    rejects.append(
        {
            "file": name,
            "line": line,
            "format": fmt,
            "field": reject.field,
            "reason": reject.reason,
            "raw": raw.rstrip("\r\n")[:MAX_RAW_CHARS],
            "org_id": defaults.org or "",
        }
    )
    if len(result.problems) < 5:
        result.problems.append(f"{name}:{line}: {reject.field}: {reject.reason}")


class _Missing(Exception):
    def __init__(self, reject: Reject) -> None:
        self.reject = reject


_ORG, _PROVIDER, _SOURCE, _KIND = COL["org_id"], COL["provider"], COL["source"], COL["kind"]
_PROJECT, _KEY, _USER, _MODEL = COL["project_id"], COL["api_key_id"], COL["user_id"], COL["model"]
_TIER, _BATCH, _BAND, _START = COL["service_tier"], COL["batch"], COL["context_band"], COL["bucket_start"]
_WIDTH, _REQUEST, _REQUESTS = COL["bucket_width"], COL["request_id"], COL["requests"]
_COUNTERS = {name: COL[name] for name in USAGE_COUNTERS if name != "requests"}


def _to_record(item: Item, fmt: str, defaults: Defaults, catalog: Catalog) -> Record:
    """A parsed line as a usage record, attributed with the command line's defaults where it is silent."""
    rec = item.record
    assert rec is not None  # an item with neither a reject nor a ready record holds a parsed one
    get = rec.get  # this runs once per line: local lookups are measurably faster here
    org = get("org") or defaults.org
    if not org:
        raise _Missing(Reject("org", "no organization: pass --org or give `org` in the line's wrapper"))
    if org != defaults.org:
        try:
            org = validate_org_id(org)
        except ValidationError as exc:
            raise _Missing(Reject("org", str(exc))) from None
    timestamp = get("timestamp") or defaults.at
    if timestamp is None:
        raise _Missing(Reject("timestamp", "no time: the line has none; pass --at or give `timestamp` in a wrapper"))
    model = get("model") or defaults.model or ""
    if not model:
        raise _Missing(Reject("model", "no model: the line has none; pass --model"))
    request_id = get("request_id") or ""
    if not request_id:
        # No id in the line: its content and line number identify it, so a grown log re-ingests cleanly.
        digest = hashlib.sha1(item.raw.rstrip("\r\n").encode("utf-8", "replace")).hexdigest()[:20]
        request_id = f"line:{digest}:{item.line}"
    record = blank_record()
    for key, value in rec.items():
        index = _COUNTERS.get(key)
        if index is not None and value:
            record[index] = value
    record[_ORG] = org
    record[_PROVIDER] = get("provider") or catalog.infer_provider(model)
    record[_SOURCE] = "log"
    record[_KIND] = get("kind", "completions")
    record[_PROJECT] = get("project") or defaults.project or ""
    record[_KEY] = get("api_key_id", "")
    record[_USER] = get("user", "")
    record[_MODEL] = model
    record[_TIER] = normalize_tier(get("service_tier"))
    record[_BATCH] = bool(get("batch", False))
    record[_BAND] = catalog.band(get("input_tokens", 0))
    record[_START] = timestamp
    record[_WIDTH] = 0
    record[_REQUEST] = request_id[:200]
    record[_REQUESTS] = get("requests", 1)
    for index, column, limit in _TEXT_COLUMNS:
        value = record[index]
        if len(value) > limit or (not value.isprintable() and CONTROL.search(value)):
            reason = f"longer than {limit} characters" if len(value) > limit else "contains control characters"
            raise _Missing(Reject(column, f"{column} {reason}"))
    return record


# Every text column a line fills, with its length: a value that does not fit is the line's fault,
# quarantined here, instead of failing its whole batch in the database (PostgreSQL refuses NUL too).
_LIMITS: dict[str, int] = {
    c.name: getattr(c.type, "length", 0) for c in USAGE_TABLE.columns if getattr(c.type, "length", None)
}
_TEXT_COLUMNS = tuple(
    (COL[name], name, _LIMITS[name])
    for name in (
        "org_id",
        "provider",
        "kind",
        "project_id",
        "api_key_id",
        "user_id",
        "model",
        "service_tier",
        "request_id",
    )
)


def _flush(records: list[Record], rejects: list[Rejection], result: IngestResult, zones: dict[str, str]) -> None:
    """One transaction per batch: rows, their rollups (or dirty marks) and quarantined lines together.

    Everything that needs no database (driver rows, hourly sums, the rollup rows they add to, for
    each org's time zone as last seen in `zones`) is prepared before the write lock, because
    parallel ingest processes take turns holding it.
    """
    if not records and not rejects:
        return
    engine = get_engine()
    sums = hourly_sums(records)
    increments = prepare_increments(engine.dialect.name, sums, zones)
    prepared = prepare_records(engine.dialect.name, records)  # in place: after the sums
    with sqlite_writer_lock(engine), engine.begin() as conn:
        if records:
            orgs = {r[_ORG] for r in records}
            result.orgs_created += ensure_orgs(conn, orgs)
            inserted = insert_prepared(conn, prepared)
            result.ingested += inserted
            result.duplicate += len(records) - inserted
            if inserted == len(records):
                zones.update(add_prepared(conn, increments))  # all new: add their sums, no rebuild needed
            elif inserted:
                result.dirty += mark_hours_dirty(conn, sums)  # some were duplicates: rebuild those hours
            if inserted:
                result.orgs_touched.update(orgs)
        if rejects:
            quarantine(conn, rejects)
            result.quarantined += len(rejects)
