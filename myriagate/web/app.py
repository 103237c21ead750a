"""The FastAPI application: ``create_app()`` builds it around one Gateway; nothing at import.

``build_app()`` makes the routes (the costly part), ``bind_gateway()`` gives them a gateway:
the tests build the routes once per process and bind a new gateway for each test.

``myriagate serve`` runs it through uvicorn as a factory (``myriagate.web.app:create_app``),
so each worker process builds its own gateway (database pool, SSH pools) from the settings.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.datastructures import MutableHeaders, State
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from myriagate import __version__
from myriagate.logs import configure_logging
from myriagate.web import interactive_proxy, interactive_websocket
from myriagate.web.api import (
    allocations,
    clusters,
    dataset_transfers,
    datasets,
    file_changes,
    file_uploads,
    files,
    interactive,
    jobs,
    me,
    notifications,
    sessions,
    templates,
    tokens,
    uploads,
    users,
)
from myriagate.web.api_docs import install_api_docs
from myriagate.web.error_responses import error_response, install_error_handlers
from myriagate.web.health import router as health_router
from myriagate.web.interactive_origin import SessionHostMiddleware
from myriagate.web.metrics import bind_metrics, install_metrics
from myriagate.web.openapi_security import declare_security
from myriagate.web.pages import install_pages
from myriagate.web.pages.rendering import build_environment
from myriagate.web.problems import document_problems
from myriagate.web.rate_limits import RateLimits, limit_login_attempts
from myriagate.web.routing import ReleasingRoute
from myriagate.wiring import Gateway, build_gateway

log = structlog.get_logger(__name__)

API_PREFIX = "/api/v1"
# A caller's request id is kept only when it cannot disturb logs or headers.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}\Z")


class RequestIdMiddleware:
    """Give every request an id: the caller's ``X-Request-ID`` if sane, else a new one.

    The id is echoed in the response, bound into structlog's context (every log line of the
    request carries it) and kept in ``request.state`` for problem details. A plain ASGI
    middleware, not BaseHTTPMiddleware, so the context variables reach the endpoint. An
    exception no handler answered goes through ``error_response`` too (a generic 500, with the
    id, logged with its traceback).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        request_id = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = MutableHeaders(scope=message)
                if "x-request-id" not in headers:
                    headers["X-Request-ID"] = request_id
            await send(message)

        with structlog.contextvars.bound_contextvars(
            request_id=request_id, method=scope["method"], path=scope["path"]
        ):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                if response_started:
                    raise
                await error_response(Request(scope), exc)(scope, receive, send_with_id)
            finally:
                log.info(
                    "http.request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 1),
                )


def create_app(gateway: Gateway | None = None) -> FastAPI:
    """The application around ``gateway`` (built from the settings when None, and then owned)."""
    owned = gateway is None
    if gateway is None:
        gateway = build_gateway()
        configure_logging(gateway.settings.log_level, json=gateway.settings.log_json)
    app = build_app()
    bind_gateway(app, gateway, owned=owned)
    return app


def build_app() -> FastAPI:
    """Routes, middleware, error handlers and API docs: everything that does not depend on a
    gateway (about 70 ms of FastAPI's route analysis). ``bind_gateway`` then gives it one."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        cluster_health = getattr(_app.state, "cluster_health", None)
        if cluster_health is not None:
            cluster_health.close()
        if getattr(_app.state, "owns_gateway", False):
            _app.state.gateway.close()

    app = FastAPI(
        title="myriagate",
        version=__version__,
        description="Submit and follow Slurm jobs on CRIANN's Myria as your own login.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # served by install_api_docs from the package (no CDN)
        redoc_url=None,
        lifespan=lifespan,
        # Login attempts spend from their address's budget before any password is checked.
        dependencies=[Depends(limit_login_attempts)],
    )
    install_error_handlers(app)  # problem+json or the HTML error page, by route kind
    # A session's own host (MYRIAGATE_INTERACTIVE_ORIGIN) serves that session's app only.
    app.add_middleware(SessionHostMiddleware)
    app.add_middleware(RequestIdMiddleware)

    api = APIRouter(route_class=ReleasingRoute, prefix=API_PREFIX)
    for module in (me, tokens, sessions, users, clusters, templates, jobs, allocations, uploads, datasets):
        api.include_router(module.router)
    api.include_router(notifications.router)  # /me/notifications, /me/webhooks (docs/notifications.md)
    api.include_router(files.router)  # /clusters/{cluster}/files/… as the caller's login (docs/files.md)
    api.include_router(dataset_transfers.router)  # save as dataset, copy dataset here (docs/files.md)
    api.include_router(file_changes.router)  # …/files/{area}/mkdir|rename|copy|entry|usage|glob
    api.include_router(file_uploads.router)  # …/files/{area}/uploads: resumable uploads (docs/files.md)
    api.include_router(interactive.router)  # /interactive/…: JupyterLab as a job (docs/interactive.md)
    # /interactive/<session id>/…: the apps, HTTP and WebSocket (docs/interactive.md). First:
    # routes are matched in order, and a proxied request (JupyterLab sends many) would otherwise
    # be tried against every API route before its own (about 0.1 ms a request: the latency target).
    app.include_router(interactive_proxy.router)
    app.router.routes.append(interactive_websocket.route)
    app.include_router(api)
    app.include_router(health_router)  # /readyz: database and clusters (docs/operations.md)
    install_pages(app)  # HTML pages, static assets and HTML error pages (docs/web.md)
    install_api_docs(app, f"{API_PREFIX}/docs")  # Swagger UI from /static/swagger, off-line
    install_metrics(app)  # GET /metrics + request timing, outermost (docs/metrics.md)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """Liveness for the proxy and systemd: the process answers (no cluster call).

        A coroutine on purpose: it answers on the event loop, never waiting for a worker
        thread, a pooled connection or a lock, so a busy but healthy process stays "up".
        """
        return {"status": "ok", "version": __version__}

    _document_problems_in_openapi(app)
    return app


def bind_gateway(app: FastAPI, gateway: Gateway, *, owned: bool = False) -> None:
    """Give ``app`` (from ``build_app``) its gateway, in a fresh ``app.state``: whatever the
    routes keep between requests (rate-limit buckets, the readiness probe, the cluster health
    cache) starts anew. ``owned``: the app closes the gateway when it shuts down."""
    app.state = State()
    app.state.gateway = gateway
    app.state.owns_gateway = owned
    app.state.rate_limits = RateLimits(gateway.settings)  # per user and per address (docs/api.md)
    app.state.clock = gateway.clock  # tests may put a FakeClock here
    app.state.page_env = build_environment(gateway.settings)
    bind_metrics(app, gateway)


def _document_problems_in_openapi(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_security(document_problems(generate()), app.routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
