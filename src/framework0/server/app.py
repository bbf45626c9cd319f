"""The context server's ASGI application: FastAPI routes behind the security guard.

``create_app(settings)`` returns what uvicorn serves. At startup it opens the store, starts the
context writer, and subscribes the WebSocket hub and the run recorder to the server's event bus
(one event stream: context changes and runners' events all pass through it); on PostgreSQL it
also LISTENs for changes the other servers commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response, WebSocket
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from framework0.errors import BadRequestBody, ContextError, StoreError
from framework0.events import EventBus
from framework0.server import routes_contexts, routes_runs
from framework0.server.contexts import ContextService
from framework0.server.hub import Hub
from framework0.server.routes_contexts import context_error_status, reply
from framework0.server.security import DEFAULT_PUBLIC_PATHS, Guard, default_origins
from framework0.server.settings import ServerState, Settings
from framework0.server.websocket import serve_websocket
from framework0.server.wire import Health
from framework0.store.shared import failure_kind

log = logging.getLogger(__name__)

API_VERSION = "1"


def create_app(settings: Settings) -> ASGIApp:
    """The server as an ASGI app: the API and the dashboard behind the guard. Every route but
    ``/healthz``, the login form and the static files needs the bearer token or a session cookie
    (sessions are kept in memory: a restart logs every browser out)."""
    from framework0.server import dashboard
    from framework0.server.sessions import SessionStore

    api = create_api(settings)
    sessions = SessionStore()
    dashboard.install(api, sessions)
    origins = settings.allowed_origins or default_origins(settings.host, settings.port)
    public = DEFAULT_PUBLIC_PATHS | ({"/metrics"} if settings.metrics_public else set())
    return Guard(
        api,
        token=settings.token,
        public_paths=public,
        max_body=settings.max_body,
        allowed_origins=origins,
        sessions=sessions,
    )


def create_api(settings: Settings) -> FastAPI:
    """The FastAPI application of the JSON API (without the guard and the dashboard's HTML routes:
    tests of the OpenAPI document and of every route's security use it)."""

    from framework0.server.metrics import CONTENT_TYPE, Metrics, MetricsMiddleware

    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await run_in_threadpool(_open, settings, asyncio.get_running_loop())
        state.closers.insert(0, state.bus.subscribe(metrics.handle))
        app.state.f0 = state
        try:
            yield
        finally:
            await run_in_threadpool(_close, state)

    app = FastAPI(
        title="Framework0 context server",
        version=API_VERSION,
        description=(
            "Named, versioned contexts shared by runners on many machines (compare-and-set writes, "
            "merge strategies, history), live over the WebSocket at /api/v1/ws, and the runs of the "
            "server's store. Every route but /healthz needs `Authorization: Bearer TOKEN`."
        ),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.include_router(routes_contexts.router)
    app.include_router(routes_runs.router)
    app.state.metrics = metrics
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.get(
        "/metrics",
        tags=["server"],
        response_class=Response,
        responses={
            200: {"description": "Prometheus' text format.", "content": {"text/plain": {"schema": {"type": "string"}}}}
        },
    )
    async def prometheus_metrics() -> Response:
        """The server's metrics in Prometheus' text format (the token is needed, unless the server
        was started with ``--metrics-public``)."""
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    @app.get("/healthz", response_model=Health, responses={503: {"model": Health}}, tags=["server"])
    async def healthz(request: Request) -> Response:
        """200 when the server and its store can serve (no token needed)."""
        state: ServerState = request.app.state.f0
        try:
            await run_in_threadpool(_ping, state)
        except Exception as error:
            return reply({"status": "unavailable", "store": str(error).splitlines()[0]}, 503)
        if not state.contexts.alive:
            return reply({"status": "unavailable", "store": "the context writer stopped"}, 503)
        return reply({"status": "ok", "store": state.store.dialect})

    @app.websocket("/api/v1/ws")
    async def websocket(websocket: WebSocket) -> None:
        """Live context changes and run events; writes in batches (see framework0.server.websocket)."""
        await serve_websocket(websocket)

    plain_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        """The document, with the models the hand-declared request bodies refer to in components."""
        if app.openapi_schema is None:
            document = plain_openapi()
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for path in document.get("paths", {}).values():
                for operation in path.values():
                    content = operation.get("requestBody", {}).get("content", {}) if isinstance(operation, dict) else {}
                    for media in content.values():
                        for name, model in media.get("schema", {}).pop("$defs", {}).items():
                            schemas.setdefault(name, model)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_exception_handler(BadRequestBody, _bad_request)
    app.add_exception_handler(ContextError, _context_error)
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    return app


def _open(settings: Settings, loop: asyncio.AbstractEventLoop) -> ServerState:
    from framework0.server.routes_runs import RunRecorder
    from framework0.store import open_store

    store = open_store(settings.store_url)
    bus = EventBus()
    contexts = ContextService(store, bus, node=settings.node, keep_history=settings.keep_history)
    contexts.start()
    state = ServerState(settings, store, bus, contexts, hub=Hub(loop), loop=loop)
    state.closers.append(bus.subscribe(state.hub.handle))
    recorder = RunRecorder(store, bus)
    state.closers.append(bus.subscribe(recorder.handle))
    state.closers.append(recorder.close)
    if store.dialect == "postgresql":
        from framework0.server.notify import Listener

        listener = Listener(contexts)
        listener.start()
        state.closers.append(listener.close)
    state.closers.append(contexts.close)
    return state


def _close(state: ServerState) -> None:
    for close in state.closers:
        try:
            close()
        except Exception:
            log.exception("closing %r failed", close)
    state.store.engine.dispose()


def _ping(state: ServerState) -> None:
    import sqlalchemy as sa

    with state.store.engine.connect() as connection:
        connection.execute(sa.text("SELECT 1"))


def _fail(status: int, kind: str, message: str, **extra: Any) -> Response:
    return reply({"error": {"type": kind, "message": message}, **extra}, status)


async def _bad_request(_request: Request, error: Exception) -> Response:
    assert isinstance(error, BadRequestBody)
    return _fail(error.status or 400, type(error).__name__, str(error))


async def _context_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, ContextError)
    extra: dict[str, Any] = {}
    if hasattr(error, "oldest"):
        extra["oldest"] = error.oldest
    return _fail(context_error_status(error), type(error).__name__, str(error), **extra)


async def _store_error(_request: Request, error: Exception) -> Response:
    kind = failure_kind(error)
    status = 507 if kind == "full" else 503
    return _fail(status, "StoreFull" if kind == "full" else "StoreUnavailable", f"nothing was written: {error}")


async def _invalid(_request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    first = error.errors()[0] if error.errors() else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(part) for part in first.get("loc", ())) or "request"
    return _fail(422, "InvalidRequest", f"{where}: {first.get('msg')}")


async def _http_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    return _fail(error.status_code, "HTTPError", str(error.detail))


async def _unexpected(_request: Request, error: Exception) -> Response:
    log.exception("unexpected error", exc_info=error)
    return _fail(500, "InternalError", f"{type(error).__name__}: the server failed; see its log")
