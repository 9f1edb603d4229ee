"""Run one source: plan windows from the cursor, fetch each window whole, write it in one transaction.

A window is a time range [start, end) at one bucket width. Its pages are all fetched before anything
is written; then one transaction replaces what this source stored for that endpoint in the range
(any width, so a range is never stored at two widths), marks the range dirty for the rollups and
moves the endpoint's cursor. A failure part-way leaves every earlier window committed and the
cursor where the next run resumes.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Connection, text
from sqlmodel import Session, select

from collectors.base import RowDict, upsert_buckets
from collectors.http import AuthError, CollectError, Page, RetryPolicy, make_client, scrub
from collectors.parse import JSONObject
from models.access.policy import PolicyError
from models.db import bind_time, get_engine, insert_for, table_of, utcnow
from models.settings import SettingsError, get_settings
from models.sources import check_source_policy
from models.spend.rollups import mark_dirty, process_dirty
from models.tables import BUCKET_KEY, USAGE_COUNTERS, BilledCost, Source, SourceCursor
from models.units import DAY, HOUR, floor_day, floor_hour, usd_to_micros

log = logging.getLogger("spendsight.collect")

INITIAL_BACKFILL_DAYS = 30  # a source's first run reaches this far back (`spendsight collect --since` for more)
PROVIDERS = {"openai": "collectors.openai", "anthropic": "collectors.anthropic"}
BILLED_KEY = ("org_id", "source", "bucket_start", "project_id", "line_item", "model", "service_tier")


# --- what a provider package declares --------------------------------------------------------

# (result, context) -> usage/billed row, None to skip
Parse = Callable[[JSONObject, Mapping[str, object]], RowDict | None]


@dataclass(frozen=True)
class Endpoint:
    """One listing of a provider admin API and how to read it."""

    name: str  # cursor key; for usage also the usage `kind`
    path: str  # relative to the source's base URL
    widths: tuple[int, ...]  # bucket widths in seconds this collector uses (3600 and/or 86400)
    limits: dict[int, int]  # the API's `limit` maximum (buckets per page) per width
    query: Callable[[datetime, datetime, int, int], list[tuple[str, str]]]  # (start, end, width, limit)
    bucket_start: Callable[[Page], datetime]
    parse: Parse
    billed: bool = False  # rows go to billed_cost instead of usage


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    headers: Callable[[str], dict[str, str]]  # admin key -> request headers
    pages: Callable[..., Iterator[Page]]  # (client, url, query, policy, secret, what) -> pages
    endpoints: tuple[Endpoint, ...]


def provider_spec(provider: str) -> ProviderSpec:
    if provider not in PROVIDERS:
        raise CollectError(f"unknown provider {provider!r}; choose from {', '.join(PROVIDERS)}")
    spec: ProviderSpec = importlib.import_module(PROVIDERS[provider]).SPEC
    return spec


# --- results ---------------------------------------------------------------------------------


@dataclass
class EndpointResult:
    endpoint: str
    windows: int = 0
    buckets: int = 0
    rows: int = 0
    until: datetime | None = None
    error: str = ""

    def summary(self, source: str) -> str:
        until = self.until.strftime("%Y-%m-%dT%H:%MZ") if self.until else "-"
        line = f"{source} {self.endpoint}: windows={self.windows} buckets={self.buckets} rows={self.rows} until={until}"
        return line + (f" error: {self.error}" if self.error else "")


@dataclass
class SourceResult:
    source: str
    org_id: str
    endpoints: list[EndpointResult] = field(default_factory=list)
    error: str = ""  # a failure of the whole source (no key, key refused, unknown provider)
    skipped: bool = False  # another run of this source was in progress

    @property
    def ok(self) -> bool:
        return not self.error and not any(e.error for e in self.endpoints)

    @property
    def rows(self) -> int:
        return sum(e.rows for e in self.endpoints)

    def errors(self) -> str:
        parts = ([self.error] if self.error else []) + [e.error for e in self.endpoints if e.error]
        return "; ".join(parts)


# --- windows ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    width: int

    @property
    def buckets(self) -> int:
        return int((self.end - self.start).total_seconds()) // self.width


def plan_windows(
    endpoint: Endpoint, cursor: datetime | None, since: datetime | None, now: datetime, lookback: timedelta
) -> list[Window]:
    """Daily windows for backfill, hourly ones from the day the look-back window starts.

    Every run re-reads at least the look-back window (providers revise recent buckets). Every
    window starts at a UTC midnight, so a day is stored at one width only: an hourly window that
    began mid-day would leave that day's daily bucket beside its hours.
    """
    if since is not None:
        start = since
    elif cursor is not None:
        start = min(cursor, now - lookback)
    else:
        start = now - timedelta(days=INITIAL_BACKFILL_DAYS)
    if HOUR not in endpoint.widths:
        return _chunks(floor_day(start), floor_day(now) + timedelta(days=1), DAY, endpoint.limits[DAY])
    end = floor_hour(now) + timedelta(hours=1)
    split = floor_day(now - lookback)
    windows: list[Window] = []
    first_day = floor_day(start)
    if first_day < split and DAY in endpoint.widths:
        windows += _chunks(first_day, split, DAY, endpoint.limits[DAY])
    hourly_limit = endpoint.limits[HOUR] // 24 * 24 or endpoint.limits[HOUR]  # whole days per window
    return windows + _chunks(max(first_day, split), end, HOUR, hourly_limit)


def _chunks(start: datetime, end: datetime, width: int, limit: int) -> list[Window]:
    out = []
    step = timedelta(seconds=width * max(1, limit))
    while start < end:
        stop = min(end, start + step)
        out.append(Window(start, stop, width))
        start = stop
    return out


# --- running ---------------------------------------------------------------------------------

_running: dict[tuple[int, bool], threading.Lock] = {}
_running_guard = threading.Lock()


def _acquire(source_id: int, billed: bool | None, wait: bool) -> list[threading.Lock] | None:
    """This process's locks for the source's usage and/or cost endpoints; None if busy and not waiting."""
    groups = [False, True] if billed is None else [billed]
    with _running_guard:
        locks = [_running.setdefault((source_id, g), threading.Lock()) for g in groups]
    held: list[threading.Lock] = []
    for lock in locks:
        if not lock.acquire(blocking=wait):
            for other in held:
                other.release()
            return None
        held.append(lock)
    return held


def load_source(source_id: int | None = None, name: str | None = None) -> Source | None:
    with Session(get_engine(), expire_on_commit=False) as session:
        if source_id is not None:
            return session.get(Source, source_id)
        return session.exec(select(Source).where(Source.name == name)).first()


def run_source(
    source: Source,
    *,
    billed: bool | None = None,
    since: datetime | None = None,
    now: datetime | None = None,
    policy: RetryPolicy | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    wait: bool = True,
) -> SourceResult:
    """Collect one source: usage endpoints (billed=False), cost endpoints (True) or both (None).

    Never raises for provider trouble: errors are recorded on the source and returned.
    With wait=False a run of the same source already in progress in this process is not waited for.
    """
    assert source.id is not None  # a stored source (here and below)
    held = _acquire(source.id, billed, wait)
    if held is None:
        return SourceResult(source.name, source.org_id, skipped=True)
    try:
        result = _run(source, billed, since, now or utcnow(), policy or RetryPolicy.from_env(), progress)
    finally:
        for lock in held:
            lock.release()
    _record_run(source, result)
    process_dirty(source.org_id)
    return result


def _run(
    source: Source,
    billed: bool | None,
    since: datetime | None,
    now: datetime,
    policy: RetryPolicy,
    progress: Callable[[str, int, int], None] | None,
) -> SourceResult:
    result = SourceResult(source.name, source.org_id)
    secret = None
    try:
        spec = provider_spec(source.provider)
        _check_policy(source)  # before the key is read: a source stored earlier may name anything
        secret = get_settings().secret(source.key_env).get_secret_value()
    except (CollectError, SettingsError, PolicyError) as exc:
        result.error = scrub(str(exc), secret)
        return result
    assert source.id is not None
    lookback = timedelta(hours=get_settings().worker.lookback_hours)
    endpoints = [e for e in spec.endpoints if billed is None or e.billed == billed]
    cursors = _cursors(source.id)
    with make_client(spec.headers(secret), policy) as client:
        for endpoint in endpoints:
            outcome = EndpointResult(endpoint.name, until=cursors.get(endpoint.name))
            result.endpoints.append(outcome)
            windows = plan_windows(endpoint, cursors.get(endpoint.name), since, now, lookback)
            try:
                for i, window in enumerate(windows):
                    rows, buckets = _fetch_window(client, spec, source, endpoint, window, policy, secret)
                    until = min(window.end, now)
                    _write_window(source, endpoint, window, rows, until)
                    outcome.windows += 1
                    outcome.buckets += buckets
                    outcome.rows += len(rows)
                    outcome.until = max(outcome.until, until) if outcome.until else until
                    if progress:
                        progress(f"{source.name} {endpoint.name}", i + 1, len(windows))
            except AuthError as exc:
                outcome.error = scrub(str(exc), secret)
                break  # the same key is refused everywhere
            except CollectError as exc:
                outcome.error = scrub(str(exc), secret)
            except Exception as exc:  # a bug or a database failure: record it, keep the worker alive
                log.exception("%s %s failed", source.name, endpoint.name)
                outcome.error = scrub(f"{type(exc).__name__}: {exc}", secret)[:500]
            if outcome.error:
                log.warning("%s %s: %s", source.name, endpoint.name, outcome.error)
    return result


def _check_policy(source: Source) -> None:
    """The operator's policy for this source's key variable and base URL, as it stands now (a first
    run of a source stored before bindings existed binds its variable, in its own transaction)."""
    with Session(get_engine()) as session:
        check_source_policy(session, source)
        session.commit()


def _fetch_window(
    client: httpx.Client,
    spec: ProviderSpec,
    source: Source,
    endpoint: Endpoint,
    window: Window,
    policy: RetryPolicy,
    secret: str,
) -> tuple[list[RowDict], int]:
    """Every page of one window, parsed; raises before anything is written if any page fails."""
    url = source.base_url.rstrip("/") + endpoint.path
    limit = min(window.buckets, endpoint.limits[window.width])
    query = endpoint.query(window.start, window.end, window.width, limit)
    what = f"{endpoint.name} {window.start:%Y-%m-%dT%H:%MZ}..{window.end:%Y-%m-%dT%H:%MZ}"
    rows: list[RowDict] = []
    buckets = 0
    for page in spec.pages(client, url, query, policy, secret, what):
        for bucket in page["data"]:
            buckets += 1
            start = _bucket_start(endpoint, bucket, what)
            if not window.start <= start < window.end:
                raise CollectError(
                    f"{what}: the provider returned a bucket at {start:%Y-%m-%dT%H:%MZ}, outside the requested window"
                )
            context = {
                "org_id": source.org_id,
                "source": source.name,
                "provider": source.provider,
                "bucket_start": start,
                "bucket_width": window.width,
                "kind": endpoint.name,
            }
            for n, item in enumerate(bucket["results"]):
                if not isinstance(item, dict):
                    raise CollectError(f"{what}: bucket {start:%Y-%m-%dT%H:%MZ} result {n}: not an object")
                try:
                    row = endpoint.parse(item, context)
                except ValueError as exc:
                    raise CollectError(f"{what}: bucket {start:%Y-%m-%dT%H:%MZ} result {n}: {exc}") from None
                if row is not None:
                    rows.append(row)
    return rows, buckets


def _bucket_start(endpoint: Endpoint, bucket: Page, what: str) -> datetime:
    try:
        return endpoint.bucket_start(bucket)
    except (KeyError, TypeError, ValueError) as exc:
        raise CollectError(f"{what}: a bucket has no usable start time ({type(exc).__name__}: {exc})") from None


# --- writing ---------------------------------------------------------------------------------


def _write_window(source: Source, endpoint: Endpoint, window: Window, rows: list[RowDict], until: datetime) -> None:
    """Replace the window's rows and move the cursor, in one transaction."""
    assert source.id is not None
    with get_engine().begin() as conn:
        if conn.dialect.name == "postgresql":  # concurrent runs of one endpoint take turns
            conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                {"k": f"spendsight-collect:{source.id}:{endpoint.name}"},
            )
        params = {
            "org": source.org_id,
            "src": source.name,
            "a": bind_time(conn, window.start),
            "b": bind_time(conn, window.end),
        }
        if endpoint.billed:
            conn.execute(
                text(
                    "DELETE FROM billed_cost WHERE org_id = :org AND source = :src "
                    "AND bucket_start >= :a AND bucket_start < :b"
                ),
                params,
            )
            _insert_billed(conn, merge_billed(rows))
        else:
            conn.execute(
                text(
                    "DELETE FROM usage WHERE org_id = :org AND source = :src AND kind = :kind "
                    "AND request_id = '' AND bucket_start >= :a AND bucket_start < :b"
                ),
                params | {"kind": endpoint.name},
            )
            upsert_buckets(conn, merge_usage(rows))
            # The whole window: rows deleted without a replacement change the rollups too.
            mark_dirty(conn, {source.org_id: (window.start, window.end - timedelta(microseconds=1))})
        set_cursor(conn, source.id, endpoint.name, until, len(rows))


def merge_usage(rows: Sequence[Mapping[str, Any]]) -> list[RowDict]:
    """One row per natural key (e.g. image sizes we do not keep collapse into one), counters summed."""
    merged: dict[tuple[object, ...], RowDict] = {}
    for row in rows:
        key = tuple(row[k] for k in BUCKET_KEY)
        if key in merged:
            for counter in USAGE_COUNTERS:
                merged[key][counter] += row[counter]
        else:
            merged[key] = dict(row)
    return list(merged.values())


def merge_billed(rows: Sequence[Mapping[str, Any]]) -> list[RowDict]:
    """One row per billed key; amounts (Decimal USD) summed, then rounded once to micro-dollars."""
    merged: dict[tuple[object, ...], RowDict] = {}
    for row in rows:
        key = tuple(row[k] for k in BILLED_KEY)
        if key in merged:
            merged[key]["amount"] += row["amount"]
        else:
            merged[key] = dict(row)
    now = utcnow()
    out = []
    for row in merged.values():
        amount = row.pop("amount")
        row["amount_micros"] = usd_to_micros(amount)
        row["ingested_at"] = now
        out.append(row)
    return out


def _insert_billed(conn: Connection, rows: list[RowDict]) -> None:
    if not rows:
        return
    table = table_of(BilledCost)
    stmt = insert_for(conn, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(BILLED_KEY),
        set_={c: stmt.excluded[c] for c in ("amount_micros", "currency", "bucket_width", "ingested_at")},
    )
    conn.execute(stmt, rows)


def set_cursor(conn: Connection, source_id: int, endpoint: str, until: datetime, rows: int) -> None:
    """Move an endpoint's cursor forward (never back: a backfill re-reads old ranges) in the caller's transaction."""
    table = table_of(SourceCursor)
    current = conn.execute(
        text("SELECT collected_until FROM source_cursor WHERE source_id = :s AND endpoint = :e").columns(
            collected_until=table.c.collected_until.type
        ),
        {"s": source_id, "e": endpoint},
    ).first()
    if current is not None and current[0] is not None and current[0] > until:
        until = current[0]
    values = {
        "source_id": source_id,
        "endpoint": endpoint,
        "collected_until": until,
        "updated_at": utcnow(),
        "last_rows": rows,
        "last_error": "",
    }
    stmt = insert_for(conn, table).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["source_id", "endpoint"],
        set_={"collected_until": until, "updated_at": values["updated_at"], "last_error": ""},
    )
    conn.execute(stmt)


def _cursors(source_id: int) -> dict[str, datetime | None]:
    table = table_of(SourceCursor)
    with get_engine().connect() as conn:
        rows = conn.execute(table.select().where(table.c.source_id == source_id)).mappings().all()
    return {r["endpoint"]: r["collected_until"] for r in rows}


def _record_run(source: Source, result: SourceResult) -> None:
    """What the Sources page shows: last run, last success, rows, the (safe) error per source and endpoint."""
    now = utcnow()
    cursor = table_of(SourceCursor)
    with get_engine().begin() as conn:
        if result.skipped:
            return
        for outcome in result.endpoints:
            values = {"last_error": outcome.error[:2000], "updated_at": now}
            if outcome.windows or not outcome.error:
                values["last_rows"] = outcome.rows
            updated = conn.execute(
                cursor.update()
                .where(cursor.c.source_id == source.id, cursor.c.endpoint == outcome.endpoint)
                .values(**values)
            ).rowcount
            if not updated:
                conn.execute(
                    cursor.insert().values(
                        source_id=source.id, endpoint=outcome.endpoint, collected_until=None, last_rows=0, **values
                    )
                )
        table = table_of(Source)
        values = {
            "last_run_at": now,
            "last_error": result.errors()[:2000],
            "last_rows": result.rows,
            "rows_written": table.c.rows_written + result.rows,
        }
        if result.ok:
            values["last_success_at"] = now
        conn.execute(table.update().where(table.c.id == source.id).values(**values))
