"""A real HTTP server on 127.0.0.1 speaking the OpenAI and Anthropic admin usage/cost JSON.

Usage is generated per hour and group from a seed, so any bucket width is the sum of the hours
in it (as at the providers); a response aggregates by the `group_by` asked for and leaves the
other dimensions null. Listings page by buckets (`limit`, `has_more`, `next_page`), the `limit`
maxima are enforced, keys are checked, recent hours can be revised, and faults (429 with
Retry-After, 500, slow responses, truncated bodies, invalid JSON, resets, malformed pages) are
injected on a seeded schedule. `truth_*` methods say what a correct collector must end up with.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from models.settings import reset_settings

OPENAI_KEY = "sk-admin-TESTKEY-openai-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-admin01-TESTKEY-anthropic-0123456789"
HOUR, DAY = 3600, 86400
WIDTHS = {"1h": HOUR, "1d": DAY}
LIMITS = {"1h": (24, 168), "1d": (7, 31)}  # (default, max) buckets per page
COST_LIMITS = {"openai": (7, 180), "anthropic": (7, 31)}

# --- the data -----------------------------------------------------------------------------

OPENAI_MODELS = ("gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06")
OPENAI_GROUPS = (
    {
        "project_id": "proj_a",
        "user_id": "user-1",
        "api_key_id": "key_1",
        "model": OPENAI_MODELS[0],
        "batch": False,
        "service_tier": "default",
    },
    {
        "project_id": "proj_a",
        "user_id": "user-2",
        "api_key_id": "key_2",
        "model": OPENAI_MODELS[1],
        "batch": False,
        "service_tier": "default",
    },
    {
        "project_id": "proj_b",
        "user_id": None,
        "api_key_id": "key_3",
        "model": OPENAI_MODELS[0],
        "batch": True,
        "service_tier": "default",
    },
    {
        "project_id": "proj_b",
        "user_id": "user-1",
        "api_key_id": "key_3",
        "model": OPENAI_MODELS[1],
        "batch": False,
        "service_tier": "flex",
    },
)
# OpenAI usage endpoint -> (result object, group_by fields allowed, counters)
OPENAI_USAGE = {
    "completions": (
        "organization.usage.completions.result",
        ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier"),
        None,
    ),
    "embeddings": (
        "organization.usage.embeddings.result",
        ("project_id", "user_id", "api_key_id", "model"),
        ("input_tokens", "num_model_requests"),
    ),
    "moderations": (
        "organization.usage.moderations.result",
        ("project_id", "user_id", "api_key_id", "model"),
        ("input_tokens", "num_model_requests"),
    ),
    "images": (
        "organization.usage.images.result",
        ("project_id", "user_id", "api_key_id", "model", "size", "source"),
        ("images", "num_model_requests"),
    ),
    "audio_speeches": (
        "organization.usage.audio_speeches.result",
        ("project_id", "user_id", "api_key_id", "model"),
        ("characters", "num_model_requests"),
    ),
    "audio_transcriptions": (
        "organization.usage.audio_transcriptions.result",
        ("project_id", "user_id", "api_key_id", "model"),
        ("seconds", "num_model_requests"),
    ),
    "vector_stores": ("organization.usage.vector_stores.result", ("project_id",), ("usage_bytes",)),
    "code_interpreter_sessions": (
        "organization.usage.code_interpreter_sessions.result",
        ("project_id",),
        ("num_sessions",),
    ),
    "web_search_calls": (
        "organization.usage.web_searches.result",
        ("project_id", "user_id", "api_key_id", "model", "context_level"),
        ("num_model_requests", "num_requests"),
    ),
    "file_search_calls": (
        "organization.usage.file_searches.result",
        ("project_id", "user_id", "api_key_id", "vector_store_id"),
        ("num_requests",),
    ),
}
OTHER_MODELS = {
    "embeddings": "text-embedding-3-small",
    "moderations": "omni-moderation-latest",
    "images": "dall-e-3",
    "audio_speeches": "tts-1",
    "audio_transcriptions": "whisper-1",
    "web_search_calls": OPENAI_MODELS[0],
}
ANTHROPIC_GROUPS = (
    {
        "api_key_id": "apikey_01",
        "workspace_id": None,
        "model": "claude-sonnet-4-5",
        "service_tier": "standard",
        "context_window": "0-200k",
    },
    {
        "api_key_id": "apikey_02",
        "workspace_id": "wrkspc_a",
        "model": "claude-sonnet-4-5",
        "service_tier": "batch",
        "context_window": "0-200k",
    },
    {
        "api_key_id": "apikey_02",
        "workspace_id": "wrkspc_a",
        "model": "claude-sonnet-4-5",
        "service_tier": "standard",
        "context_window": "200k-1M",
    },
    {
        "api_key_id": None,
        "workspace_id": "wrkspc_b",
        "model": "claude-3-5-haiku-20241022",
        "service_tier": "priority",
        "context_window": "0-200k",
    },
)
ANTHROPIC_DIMS = (
    "api_key_id",
    "workspace_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
    "account_id",
    "service_account_id",
)
OPENAI_COST_ITEMS = (
    ("proj_a", "gpt-4o-mini-2024-07-18, input"),
    ("proj_a", "gpt-4o-2024-08-06, output"),
    ("proj_b", "gpt-4o-mini-2024-07-18, input"),
    ("proj_b", "fine-tuning training"),
    (None, "web search"),
)
ANTHROPIC_COST_ITEMS = (
    (None, "Claude Sonnet 4.5 Usage - Input Tokens", "claude-sonnet-4-5", "standard", "uncached_input_tokens"),
    ("wrkspc_a", "Claude Sonnet 4.5 Usage - Output Tokens", "claude-sonnet-4-5", "batch", "output_tokens"),
    (
        "wrkspc_b",
        "Claude Haiku 3.5 Usage - Input Tokens",
        "claude-3-5-haiku-20241022",
        "standard",
        "uncached_input_tokens",
    ),
)


def _rng(*parts) -> random.Random:
    return random.Random(":".join(str(p) for p in parts))


@dataclass
class Faults:
    """A seeded schedule of injected faults; at most `max_consecutive` in a row for one query."""

    seed: int = 1
    rate: float = 0.3
    kinds: tuple[str, ...] = ("429", "500", "slow", "truncated", "badjson", "reset", "shape")
    max_consecutive: int = 2
    retry_after: str = "0"
    slow_seconds: float = 1.3  # past the 1 s client timeout fixture_server sets
    injected: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._streak: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def pick(self, query_key: str) -> str | None:
        with self._lock:
            if self._streak[query_key] < self.max_consecutive and self._rng.random() < self.rate:
                self._streak[query_key] += 1
                kind = self._rng.choice(self.kinds)
                self.injected[kind] += 1
                return kind
            self._streak[query_key] = 0
            return None


class ProviderServer:
    """Both providers' admin APIs under /v1, with data for the hours [data_start, data_end)."""

    def __init__(
        self, seed: int = 7, days: int = 10, data_end: datetime | None = None, page_buckets: int | None = None
    ) -> None:
        end = data_end or (datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1))
        self.data_end = end
        self.data_start = end - timedelta(days=days)
        self.seed = seed
        self.page_buckets = page_buckets  # serve fewer buckets per page than asked (forces pagination)
        self.faults: Faults | None = None
        # (path, query) -> a status to serve instead of data, or None: outages of chosen listings
        self.outages: list[Callable[[str, dict], int | None]] = []
        self.mutate: Callable[[str, dict], None] | None = None  # edits a response body before it is sent
        self.revisions: dict[int, int] = defaultdict(int)  # hour (unix) -> revision number
        self.requests: list[dict] = []
        self._cache: dict[tuple, list[dict]] = {}  # generated hours (read-only once made)
        self._lock = threading.Lock()
        self._httpd = None
        self._thread = None

    # --- lifecycle ---

    def start(self) -> ProviderServer:
        server = self

        class Handler(_Handler):
            provider = server

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="provider-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=10)
            self._httpd = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # --- data ---

    def hours(self, start: datetime | None = None, end: datetime | None = None) -> range:
        a = int(max(start or self.data_start, self.data_start).timestamp())
        b = int(min(end or self.data_end, self.data_end).timestamp())
        return range(a, max(a, b), HOUR)

    def revise(self, hours: int = 3) -> None:
        """Change the last `hours` hours of every listing, as providers revise recent buckets."""
        last = int(self.data_end.timestamp()) - HOUR
        for h in range(last - (hours - 1) * HOUR, last + HOUR, HOUR):
            self.revisions[h] += 1

    def openai_hour(self, kind: str, hour: int) -> list[dict]:
        """Full-dimension results of one endpoint for one hour (the unit every bucket sums)."""
        key = ("openai", kind, hour, self.revisions[hour])
        if key not in self._cache:
            self._cache[key] = self._openai_hour(kind, hour)
        return self._cache[key]

    def _openai_hour(self, kind: str, hour: int) -> list[dict]:
        out = []
        for gi, group in enumerate(OPENAI_GROUPS):
            rng = _rng(self.seed, "openai", kind, hour, gi, self.revisions[hour])
            if rng.random() < 0.3:
                continue
            dims = dict(group)
            n = rng.randint(1, 40)
            if kind == "completions":
                inp = n * rng.randint(100, 3000)
                cached = inp * rng.randint(0, 60) // 100
                write = (inp - cached) * rng.randint(0, 20) // 100
                audio = rng.choice((0, 0, 0, n * 20))
                values = {
                    "input_tokens": inp,
                    "input_cached_tokens": cached,
                    "input_cache_write_tokens": write,
                    "input_uncached_tokens": inp - cached - write,
                    "output_tokens": n * rng.randint(10, 700),
                    "input_audio_tokens": audio,
                    "output_audio_tokens": audio // 2,
                    "num_model_requests": n,
                }
            else:
                dims["model"] = OTHER_MODELS.get(kind, dims["model"])
                counters = OPENAI_USAGE[kind][2]
                per_request = {
                    "num_model_requests": (1, 1),
                    "num_requests": (1, 3),
                    "num_sessions": (1, 2),
                    "images": (1, 4),
                }
                values = {c: n * rng.randint(*per_request.get(c, (1, 500))) for c in counters}
                if kind == "images":
                    dims["size"], dims["source"] = rng.choice(("1024x1024", "1024x1792")), "image.generation"
                if kind == "web_search_calls":
                    dims["context_level"] = "medium"
                if kind == "file_search_calls":
                    dims.pop("model")
                    dims["vector_store_id"] = f"vs_{gi % 2}"
            out.append(dims | values)
        return out

    def anthropic_hour(self, hour: int) -> list[dict]:
        key = ("anthropic", hour, self.revisions[hour])
        if key not in self._cache:
            self._cache[key] = self._anthropic_hour(hour)
        return self._cache[key]

    def _anthropic_hour(self, hour: int) -> list[dict]:
        out = []
        for gi, group in enumerate(ANTHROPIC_GROUPS):
            rng = _rng(self.seed, "anthropic", hour, gi, self.revisions[hour])
            if rng.random() < 0.3:
                continue
            n = rng.randint(1, 30)
            out.append(
                dict(group)
                | {
                    "inference_geo": "global",
                    "account_id": None,
                    "service_account_id": None,
                    "uncached_input_tokens": n * rng.randint(50, 2000),
                    "cache_read_input_tokens": n * rng.randint(0, 900),
                    "cache_creation": {
                        "ephemeral_5m_input_tokens": n * rng.randint(0, 300),
                        "ephemeral_1h_input_tokens": n * rng.choice((0, 0, 150)),
                    },
                    "output_tokens": n * rng.randint(20, 600),
                    "server_tool_use": {"web_search_requests": rng.choice((0, 0, 1, 3))},
                }
            )
        return out

    def openai_cost_day(self, day: int) -> list[dict]:
        out = []
        for i, (project, item) in enumerate(OPENAI_COST_ITEMS):
            rng = _rng(self.seed, "openai-cost", day, i, self._day_revision(day))
            out.append(
                {"project_id": project, "line_item": item, "value": Decimal(rng.randint(0, 9_000_000)) / 1_000_000}
            )
        return out

    def anthropic_cost_day(self, day: int) -> list[dict]:
        out = []
        for i, (workspace, description, model, tier, token_type) in enumerate(ANTHROPIC_COST_ITEMS):
            rng = _rng(self.seed, "anthropic-cost", day, i, self._day_revision(day))
            out.append(
                {
                    "workspace_id": workspace,
                    "description": description,
                    "model": model,
                    "service_tier": tier,
                    "token_type": token_type,
                    "cents": Decimal(rng.randint(0, 90_000_000)) / 100_000,
                }
            )
        return out

    def _day_revision(self, day: int) -> int:
        return sum(self.revisions[h] for h in range(day, day + DAY, HOUR))

    def days(self) -> range:
        first = int(self.data_start.timestamp()) // DAY * DAY
        return range(first, int(self.data_end.timestamp()), DAY)

    # --- what a collector should end up with ---

    def truth_openai(self, kind: str, start: datetime | None = None, end: datetime | None = None) -> dict[str, int]:
        sums: dict[str, int] = defaultdict(int)
        for h in self.hours(start, end):
            for row in self.openai_hour(kind, h):
                for k, v in row.items():
                    if isinstance(v, int) and not isinstance(v, bool):
                        sums[k] += v
        return dict(sums)

    def truth_anthropic(self) -> dict[str, int]:
        sums: dict[str, int] = defaultdict(int)
        for h in self.hours():
            for row in self.anthropic_hour(h):
                for k in ("uncached_input_tokens", "cache_read_input_tokens", "output_tokens"):
                    sums[k] += row[k]
                for k, v in row["cache_creation"].items():
                    sums[k] += v
                sums["web_search_requests"] += row["server_tool_use"]["web_search_requests"]
        return dict(sums)

    def truth_hourly_rows(self, provider: str) -> list[tuple[int, dict]]:
        """(hour, full-dimension result) for every generated hour: to price what was used."""
        if provider == "anthropic":
            return [(h, r) for h in self.hours() for r in self.anthropic_hour(h)]
        return [(h, r) for h in self.hours() for r in self.openai_hour("completions", h)]

    def truth_billed(self, provider: str, first_day: datetime | None = None) -> Decimal:
        total = Decimal(0)
        for day in self.days():
            if first_day and day < first_day.timestamp():
                continue
            if provider == "openai":
                total += sum(r["value"] for r in self.openai_cost_day(day))
            else:
                total += sum(r["cents"] for r in self.anthropic_cost_day(day)) / 100
        return total

    # --- serving ---

    def log(self, entry: dict) -> None:
        with self._lock:
            self.requests.append(entry)

    def handle(self, path: str, query: dict[str, list[str]], headers) -> tuple[int, dict, dict]:
        """(status, headers, JSON body) for a request; raises nothing."""
        if not path.startswith("/v1/"):
            return 404, {}, {"error": {"message": f"no route {path}"}}
        route = path[3:]
        if route.startswith("/organization/"):
            if headers.get("authorization") != f"Bearer {OPENAI_KEY}":
                given = (headers.get("authorization") or "").removeprefix("Bearer ")
                # Like the real API, the message echoes part of the key it refused.
                return (
                    401,
                    {},
                    {
                        "error": {
                            "message": f"Incorrect API key provided: {given[:8]}***{given[-4:]}",
                            "type": "invalid_request_error",
                            "code": "invalid_api_key",
                        }
                    },
                )
            if route == "/organization/costs":
                return self._listing(query, "openai", None, cost=True)
            kind = route.removeprefix("/organization/usage/")
            if kind in OPENAI_USAGE:
                return self._listing(query, "openai", kind)
        if route.startswith("/organizations/"):
            if headers.get("x-api-key") != ANTHROPIC_KEY:
                return (
                    401,
                    {},
                    {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}},
                )
            if headers.get("anthropic-version") != "2023-06-01":
                return (
                    400,
                    {},
                    {
                        "type": "error",
                        "error": {"type": "invalid_request_error", "message": "anthropic-version header is required"},
                    },
                )
            if route == "/organizations/usage_report/messages":
                return self._listing(query, "anthropic", "messages")
            if route == "/organizations/cost_report":
                return self._listing(query, "anthropic", None, cost=True)
        return 404, {}, {"error": {"message": f"no route {path}"}}

    def _listing(self, query, provider: str, kind: str | None, cost: bool = False):
        def one(name, default=None):
            return (query.get(name) or [default])[0]

        def bad(message):
            return 400, {}, {"error": {"message": message, "type": "invalid_request_error"}}

        width_name = one("bucket_width", "1d")
        if width_name not in WIDTHS or (cost and width_name != "1d"):
            return bad(f"invalid bucket_width {width_name!r}")
        width = WIDTHS[width_name]
        try:
            if provider == "openai":
                start = int(one("start_time"))
                end = int(one("end_time")) if one("end_time") else int(self.data_end.timestamp())
            else:
                start = int(_parse_time(one("starting_at")).timestamp())
                end = (
                    int(_parse_time(one("ending_at")).timestamp())
                    if one("ending_at")
                    else int(self.data_end.timestamp())
                )
        except (TypeError, ValueError):
            return bad("start time is required")
        default, maximum = COST_LIMITS[provider] if cost else LIMITS[width_name]
        limit = int(one("limit", default))
        if not 1 <= limit <= maximum:
            return bad(f"limit {limit} is out of range for bucket_width={width_name} (max {maximum})")
        group_by = query.get("group_by[]" if provider == "anthropic" else "group_by", [])
        start -= start % width
        page = one("page")
        first = int(base64.urlsafe_b64decode(page).decode()) if page else start
        count = min(limit, self.page_buckets or limit)
        starts = list(range(first, end, width))[:count]
        data = [self._bucket(provider, kind, cost, b, width, group_by) for b in starts]
        nxt = starts[-1] + width if starts else end
        has_more = nxt < end
        token = base64.urlsafe_b64encode(str(nxt).encode()).decode() if has_more else None
        body = {"data": data, "has_more": has_more, "next_page": token}
        if provider == "openai":
            body = {"object": "page"} | body
        return 200, {}, body

    def _bucket(self, provider, kind, cost, start, width, group_by) -> dict:
        hours = [
            h for h in range(start, start + width, HOUR) if self.data_start.timestamp() <= h < self.data_end.timestamp()
        ]
        if cost:
            days = [start] if hours else []
            rows = [
                r
                for d in days
                for r in (self.openai_cost_day(d) if provider == "openai" else self.anthropic_cost_day(d))
            ]
            results = _cost_results(provider, rows, group_by)
        elif provider == "openai":
            results = _openai_results(kind, [r for h in hours for r in self.openai_hour(kind, h)], group_by)
        else:
            results = _anthropic_results([r for h in hours for r in self.anthropic_hour(h)], group_by)
        if provider == "openai":
            return {"object": "bucket", "start_time": start, "end_time": start + width, "results": results}
        return {"starting_at": _rfc3339(start), "ending_at": _rfc3339(start + width), "results": results}


def _rfc3339(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _openai_results(kind: str, rows: list[dict], group_by: list[str]) -> list[dict]:
    obj, allowed, _ = OPENAI_USAGE[kind]
    keys = [g for g in group_by if g in allowed]
    groups: dict[tuple, dict] = {}
    for row in rows:
        key = tuple(row.get(k) for k in keys)
        acc = groups.setdefault(key, {"object": obj} | {d: None for d in allowed} | dict(zip(keys, key)))
        for k, v in row.items():
            if isinstance(v, int) and not isinstance(v, bool):
                acc[k] = acc.get(k, 0) + v
    return list(groups.values())


def _anthropic_results(rows: list[dict], group_by: list[str]) -> list[dict]:
    keys = [g for g in group_by if g in ANTHROPIC_DIMS]
    groups: dict[tuple, dict] = {}
    for row in rows:
        key = tuple(row.get(k) for k in keys)
        acc = groups.get(key)
        if acc is None:
            acc = groups[key] = (
                {d: None for d in ANTHROPIC_DIMS}
                | dict(zip(keys, key))
                | {
                    "uncached_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "output_tokens": 0,
                    "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
                    "server_tool_use": {"web_search_requests": 0},
                }
            )
        for k in ("uncached_input_tokens", "cache_read_input_tokens", "output_tokens"):
            acc[k] += row[k]
        for k, v in row["cache_creation"].items():
            acc["cache_creation"][k] += v
        acc["server_tool_use"]["web_search_requests"] += row["server_tool_use"]["web_search_requests"]
    return list(groups.values())


def _cost_results(provider: str, rows: list[dict], group_by: list[str]) -> list[dict]:
    out: dict[tuple, dict] = {}
    if provider == "openai":
        keys = [g for g in group_by if g in ("project_id", "line_item")]
        for row in rows:
            key = tuple(row[k] for k in keys)
            acc = out.setdefault(
                key,
                {
                    "object": "organization.costs.result",
                    "amount": Decimal(0),
                    "line_item": None,
                    "project_id": None,
                    "api_key_id": None,
                    "quantity": None,
                    "quantity_unit": None,
                }
                | dict(zip(keys, key)),
            )
            acc["amount"] += row["value"]
        return [r | {"amount": {"value": float(r["amount"]), "currency": "usd"}} for r in out.values()]
    keys = [g for g in group_by if g in ("workspace_id", "description")]
    for row in rows:
        key = tuple(row[k] for k in keys)
        described = "description" in keys
        acc = out.setdefault(
            key,
            {
                "amount": Decimal(0),
                "currency": "USD",
                "workspace_id": None,
                "description": None,
                "cost_type": "tokens" if described else None,
                "model": row["model"] if described else None,
                "service_tier": row["service_tier"] if described else None,
                "token_type": row["token_type"] if described else None,
                "context_window": None,
                "inference_geo": None,
            }
            | dict(zip(keys, key)),
        )
        acc["amount"] += row["cents"]
    return [r | {"amount": str(r["amount"])} for r in out.values()]


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for handlers, so no socket outlives a test
    block_on_close = True

    def handle_error(self, request, client_address) -> None:
        pass  # a client that timed out and hung up is expected here


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no delayed-ACK stall
    provider: ProviderServer

    def log_message(self, format, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        server = self.provider
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in self.headers.items()}
        entry = {"path": parts.path, "query": query, "fault": None}
        server.log(entry)
        for outage in list(server.outages):
            status = outage(parts.path, query)
            if status:
                entry["fault"] = str(status)
                return self._send(status, {}, {"error": {"message": "outage"}})
        status, extra, body = server.handle(parts.path, query, headers)
        if server.mutate and status == 200:
            server.mutate(parts.path, body)
        fault = server.faults.pick(self.path) if server.faults and status == 200 else None
        entry["fault"] = fault
        if fault == "429":
            return self._send(
                429,
                {"Retry-After": server.faults.retry_after},
                {"error": {"message": "rate limited", "type": "rate_limit_error"}},
            )
        if fault == "500":
            return self._send(500, {}, {"error": {"message": "internal error", "type": "server_error"}})
        if fault == "reset":
            self.close_connection = True
            return
        if fault == "slow":
            time.sleep(server.faults.slow_seconds)
        if fault == "shape":
            body = {"object": "page", "data": body["data"], "has_more": True, "next_page": None}
        raw = json.dumps(body).encode()
        if fault == "truncated":  # promises the whole body, sends half, hangs up
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self._write(raw[: len(raw) // 2])
            self.close_connection = True
            return
        if fault == "badjson":  # a complete response whose JSON is cut short
            raw = raw[: max(1, len(raw) // 3)]
        self._send_raw(status, extra, raw)

    def _send(self, status: int, headers: dict, body: dict) -> None:
        self._send_raw(status, headers, json.dumps(body).encode())

    def _send_raw(self, status: int, headers: dict, raw: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self._write(raw)
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _write(self, raw: bytes) -> None:
        try:
            self.wfile.write(raw)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def fixture_server(monkeypatch, **options) -> ProviderServer:
    """Start a server and point the key variables and fast retry settings at it (stop it yourself)."""
    monkeypatch.setenv("OPENAI_ADMIN_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("SPENDSIGHT_RETRY_BASE_SECONDS", "0")
    monkeypatch.setenv("SPENDSIGHT_RETRY_BUDGET_SECONDS", "30")
    monkeypatch.setenv("SPENDSIGHT_HTTP_TIMEOUT_SECONDS", "1.0")
    server = ProviderServer(**options).start()
    # The operator's allowance for this stand-in of the providers' hosts (models/access/policy.py).
    monkeypatch.setenv("SPENDSIGHT_ALLOWED_BASE_URLS", server.base_url)
    reset_settings()
    return server


@pytest.fixture
def provider(monkeypatch):
    """A running provider server (10 days of data ending this hour), keys and fast retries set."""
    server = fixture_server(monkeypatch)
    yield server
    server.stop()
