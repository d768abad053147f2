"""The FastAPI application: one vault per process, routers under `/api/v1`, OpenAPI at
`/docs`, health at `/healthz` and `/readyz`, Prometheus metrics at `/metrics`.

Routers stay thin: they parse the request, check access (`services.access`), call one
use case in `services/` and render the result. `_errors.STATUS` is the one map from
callvault's errors to HTTP status codes.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callvault import __version__
from callvault.api._auth import context_of
from callvault.api._docs import mount_docs
from callvault.api._errors import error_json, error_response, validation_error_response
from callvault.api._limits import BodyLimits
from callvault.api._security import HardenedFastAPI
from callvault.config import Config
from callvault.errors import CallvaultError, InputError
from callvault.services import (
    Context,
    Storage,
    browser_monitor,
    count_calls,
    job_counts,
    live_metrics,
    open_context,
    readiness,
    start_workers,
)

__all__ = ["create_app"]

API_PREFIX = "/api/v1"
WORKER_NICE = 10


class _VaultCollector(Collector):
    """Gauges read from the database at scrape time: calls stored, jobs by status, calls
    on the live board and its alerts per rule (so that every process says the same)."""

    def __init__(self, context: Context) -> None:
        self._context = context

    def collect(self) -> Any:
        calls = GaugeMetricFamily("callvault_calls", "Calls stored in the vault.")
        jobs = GaugeMetricFamily("callvault_jobs", "Jobs by status.", labels=["status"])
        calls.add_metric([], float(count_calls(self._context)))
        for status, count in job_counts(self._context).items():
            jobs.add_metric([status], float(count))
        live = live_metrics(self._context)
        active = GaugeMetricFamily(
            "callvault_live_calls_active", "Calls in progress on the live board."
        )
        active.add_metric([], float(live.active_calls))
        alerts = CounterMetricFamily(
            "callvault_live_alerts", "Alerts raised on calls in progress.", labels=["rule"]
        )
        for rule, count in sorted(live.alerts.items()):
            alerts.add_metric([rule], float(count))
        yield calls
        yield jobs
        yield active
        yield alerts


class _Metrics:
    """Plain ASGI middleware counting requests by method, route template and status."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "callvault_http_requests",
            "HTTP requests handled.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.seconds = Histogram(
            "callvault_http_request_seconds",
            "Time to the response's first byte.",
            ["method", "route"],
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                route = scope.get("route")
                # The route's template, never the path: paths hold call ids.
                template = getattr(route, "path", "unmatched")
                self.seconds.labels(scope["method"], template).observe(
                    time.perf_counter() - started
                )
                self.requests.labels(scope["method"], template, str(status)).inc()
            await send(message)

        await self.app(scope, receive, sending)


_SMALL_BODIES = (b"application/json", b"application/x-www-form-urlencoded")
_SMALL_BODY_LIMIT = 1 << 20


class _RejectNul:
    """Plain ASGI middleware: a NUL character in the path, the query string or a small
    body (JSON, URL-encoded form) is answered 400 before any endpoint or page sees it.
    PostgreSQL text cannot hold one, and no name, id or search has one. Small bodies are
    read whole here (at most 1 MiB; a longer one is 413) and handed on unchanged;
    uploads (multipart, audio) stream through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query: bytes = scope.get("query_string", b"")
        if "\x00" in scope["path"] or b"\x00" in query or b"%00" in query.lower():
            await _refusal(400, "the request holds a NUL character; remove it")(
                scope, receive, send
            )
            return
        content_type = dict(scope["headers"]).get(b"content-type", b"").lower()
        if not content_type.startswith(_SMALL_BODIES):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > _SMALL_BODY_LIMIT:
                await _refusal(413, "the request body is longer than 1 MiB")(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        # JSON escapes a NUL as \u0000, a URL-encoded form as %00.
        escaped = b"\\u0000" if content_type.startswith(b"application/json") else b"%00"
        if b"\x00" in body or escaped in body.lower():
            await _refusal(400, "the request body holds a NUL character; remove it")(
                scope, receive, send
            )
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _refusal(status: int, message: str) -> JSONResponse:
    return error_json(InputError(message), status)


def create_app(config: Config, *, vault: Storage | None = None, workers: bool = False) -> FastAPI:
    """The application for `config`; `vault` is opened (and closed) with the app unless
    given. With `workers`, `config.workers` job threads run in the process (the embedded
    default of `callvault serve`), picking up what a crash left unqueued first."""
    registry = CollectorRegistry()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with ExitStack() as stack:
            context = (
                Context(config, vault)
                if vault is not None
                else stack.enter_context(open_context(config))
            )
            app.state.context = context
            registry.register(_VaultCollector(context))
            # Requests go first: transcription takes what CPU they leave.
            pool = start_workers(context, nice=WORKER_NICE) if workers else None
            try:
                yield
            finally:
                # Live sessions of the in-browser recorder end (their last words
                # decoded) while the storage is still open.
                browser_monitor.shutdown(context)
                if pool is not None:
                    pool.stop()

    # Security headers wrap the whole stack (issue 17); the docs pages are served from
    # the installed package, not a CDN (api/_docs.py).
    app = HardenedFastAPI(
        config,
        title="callvault",
        version=__version__,
        description="Calls recorded only where allowed, encrypted and accountable.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.config = config
    app.add_exception_handler(CallvaultError, error_response)
    app.add_exception_handler(RequestValidationError, validation_error_response)
    mount_docs(app)
    from callvault.api.routers import ROUTERS

    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    from callvault.web import mount

    mount(app)
    app.add_middleware(_RejectNul)
    # Outside _RejectNul, which reads small bodies: their size and pace are bounded too.
    app.add_middleware(BodyLimits, config=config)
    app.add_middleware(_Metrics, registry=registry)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses={503: {"description": "Not ready"}})
    def readyz(request: Request) -> Response:
        """The database answers, the blob store is writable and the keys are loaded."""
        checks = readiness(context_of(request))
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", tags=["operations"], response_class=Response)
    def metrics() -> Response:
        """Prometheus text format."""
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")

    return app
