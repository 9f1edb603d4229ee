"""The OTLP/HTTP traces receiver: `POST /v1/traces` as Starlette routes, answered per the OTLP spec.

`routes()` is mounted by `spendsight otlp` on its own and by the gateway's server beside its routes.
Order of checks: the bearer token (401) before anything is read, then Content-Type and
Content-Encoding (415), the size as sent and once inflated (413), the decoding (400). A request that
fails any check stores nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from sqlalchemy.exc import OperationalError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collectors.otlp.decode import PROTOBUF, BodyError, check_coding, decode, encoding_of, gunzip, to_json
from collectors.otlp.spans import Mapped, map_request
from collectors.otlp.store import Stored, store
from models.access.tokens import org_for_token
from models.db import get_engine
from models.pricing.catalog import get_catalog
from models.settings import OtlpSettings, get_settings

log = logging.getLogger("spendsight.otlp")
_T = TypeVar("_T")
PATH = "/v1/traces"
MAX_MESSAGE = 1000  # characters of the partial-success message: the spec asks servers to keep it small


@dataclass
class Totals:
    """What this receiver has seen since it started (logged per request, read by tests and the bench)."""

    requests: int = 0
    spans: int = 0
    stored: int = 0
    duplicate: int = 0
    rejected: int = 0
    ignored: int = 0  # spans without GenAI usage: not errors, not stored


class Receiver:
    """Answers `POST /v1/traces`. `one_of_several`: this process is one of `spendsight otlp --workers N`
    sharing a port. Then a request is worked on in the event loop itself, so a busy process accepts no
    connection meanwhile and the kernel hands new ones to an idle sibling, and each answer closes its
    connection, so an exporter's next batch (one every few seconds, or every 512 spans) is accepted by
    whichever process is free. With keep-alive, two exporters' connections could both land on one
    process and stay there, leaving the other core idle (bench/otlp.py: 3 trials in 6). Embedded in
    the gateway (one_of_several False) it works in the thread pool and keeps connections open, as the
    gateway's proxy routes share its event loop."""

    def __init__(
        self, settings: OtlpSettings, on_usage: Callable[[str], None] | None = None, one_of_several: bool = False
    ) -> None:
        self.settings = settings
        self.on_usage = on_usage
        self.one_of_several = one_of_several
        self.totals = Totals()
        self._lock = threading.Lock()

    async def traces(self, request: Request) -> Response:
        response = await self._traces(request)
        if self.one_of_several:
            response.headers["connection"] = "close"
        return response

    async def _call(self, fn: Callable[..., _T], *args: Any) -> _T:
        if self.one_of_several:
            return fn(*args)
        return await run_in_threadpool(fn, *args)

    async def _traces(self, request: Request) -> Response:
        try:
            encoding = encoding_of(request.headers.get("content-type"))
            bad_type = None
        except BodyError as exc:
            encoding, bad_type = PROTOBUF, exc
        token = _bearer(request.headers.get("authorization", ""))
        org_id = await self._call(self._org_for, token) if token else None
        if org_id is None:
            return _failure(401, "a valid ingest token is required: Authorization: Bearer <token>", encoding)
        try:
            if bad_type is not None:
                raise bad_type
            gzipped = check_coding(request.headers.get("content-encoding"))
            body = await self._read(request)
            mapped, stored = await self._call(self._process, body, gzipped, encoding, org_id)
        except BodyError as exc:
            return _failure(exc.status, exc.message, encoding)
        except OperationalError:
            log.exception("OTLP: the database is unavailable")
            return _failure(503, "the database is unavailable; retry later", encoding)
        return self._answer(mapped, stored, encoding, org_id)

    async def _read(self, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise BodyError(413, f"body is larger than {limit} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyError(413, f"body is larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _org_for(self, token: str) -> str | None:
        with get_engine().connect() as conn:
            return org_for_token(conn, token)

    def _process(self, body: bytes, gzipped: bool, encoding: str, org_id: str) -> tuple[Mapped, Stored]:
        if gzipped:
            body = gunzip(body, self.settings.max_body_bytes)
        request = decode(body, encoding)
        mapped = map_request(request, org_id, self.settings.project_keys, self.settings.user_keys, get_catalog())
        stored = store(mapped.records, mapped.rejects)
        if stored.inserted and self.on_usage is not None:
            self.on_usage(org_id)
        return mapped, stored

    def _answer(self, mapped: Mapped, stored: Stored, encoding: str, org_id: str) -> Response:
        rejected = len(mapped.rejects)
        with self._lock:
            t = self.totals
            t.requests += 1
            t.spans += mapped.spans
            t.stored += stored.inserted
            t.duplicate += stored.duplicate
            t.rejected += rejected
            t.ignored += mapped.ignored
        log.info(
            "OTLP org=%s spans=%d stored=%d duplicate=%d rejected=%d ignored=%d",
            org_id,
            mapped.spans,
            stored.inserted,
            stored.duplicate,
            rejected,
            mapped.ignored,
        )
        response = ExportTraceServiceResponse()
        if rejected:  # partial success only when something was refused: ignored spans are not errors
            reasons = sorted({f"{r['field']}: {r['reason']}" for r in mapped.rejects})
            message = (
                f"{rejected} GenAI span(s) rejected and kept in quarantine: {'; '.join(reasons[:3])}"
                f" ({mapped.ignored} span(s) without GenAI usage ignored)"
            )
            response.partial_success.rejected_spans = rejected
            response.partial_success.error_message = message[:MAX_MESSAGE]
        return _encoded(200, response, encoding)


def _bearer(header: str) -> str:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _failure(status: int, message: str, encoding: str) -> Response:
    response = _encoded(status, Status(message=message), encoding)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="spendsight-otlp"'
    return response


def _encoded(status: int, message: Status | ExportTraceServiceResponse, encoding: str) -> Response:
    if encoding == PROTOBUF:
        return Response(message.SerializeToString(), status_code=status, media_type=PROTOBUF)
    return Response(to_json(message), status_code=status, media_type="application/json")


def routes(on_usage: Callable[[str], None] | None = None, settings: OtlpSettings | None = None) -> list[Route]:
    """`POST /v1/traces`, to mount on any Starlette app; `on_usage(org_id)` runs after new usage is stored."""
    return receiver_routes(Receiver(settings or get_settings().otlp, on_usage))


def make_app(one_of_several: bool = False) -> Starlette:
    """The receiver alone as an ASGI app, what `spendsight otlp` serves, with each request's line logged
    (a no-op where logging is set up already); `one_of_several`: see Receiver."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s")
    return Starlette(routes=receiver_routes(Receiver(get_settings().otlp, one_of_several=one_of_several)))


def make_worker_app() -> Starlette:
    """uvicorn's factory for each process of `spendsight otlp --workers N` (built from the same environment)."""
    return make_app(one_of_several=True)


def receiver_routes(receiver: Receiver) -> list[Route]:
    return [Route(PATH, receiver.traces, methods=["POST"])]
