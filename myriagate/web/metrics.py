"""``GET /metrics`` (Prometheus text format) and the middleware timing every HTTP request.

Requests are labelled by their route *template* (``/api/v1/jobs/{job_id}``), method and
status class, never by the raw path: one time series per route, not per job. Submissions
(API and web form) also feed their own histogram. ``/metrics`` answers only clients in
``metrics_allowed_networks`` (the TCP peer, as for trusted proxies), others get a 403
problem; it adds the database gauges (jobs by state, ledger totals) read at scrape time.
"""

from __future__ import annotations

import ipaddress
import re
import time
from functools import lru_cache

from fastapi import FastAPI, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from myriagate.errors import PermissionDenied
from myriagate.observability.database import DatabaseCollector
from myriagate.observability.exposition import build_registry, render
from myriagate.observability.metrics import HTTP_REQUEST_SECONDS, SUBMISSION_SECONDS, status_class
from myriagate.services.runtime.gauges import read_gauges
from myriagate.wiring import Gateway

METRICS_PATH = "/metrics"
# (method, route template) of a job submission -> the ``interface`` label.
SUBMISSION_ROUTES = {("POST", "/api/v1/jobs"): "api", ("POST", "/submit"): "web"}
UNMATCHED = "unmatched"  # no route matched (a 404): one label for every unknown path

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class MetricsMiddleware:
    """Times every HTTP request and records it under its route template.

    A plain ASGI middleware installed outermost: it sees the final status (a 500 problem
    included) and the route the router matched (``scope["route"]``, set in place).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            method = scope["method"]
            HTTP_REQUEST_SECONDS.labels(route, method, status_class(status)).observe(elapsed)
            interface = SUBMISSION_ROUTES.get((method, route))
            if interface is not None:
                SUBMISSION_SECONDS.labels(interface, str(status)).observe(elapsed)


def route_template(scope: Scope) -> str:
    """The full template of the route the router matched (``/api/v1/jobs/{job_id}``).

    ``scope["route"]`` is the matched route; depending on the FastAPI release its ``path`` is
    the full template or only the part below its router's prefix (routers kept nested). The
    prefix is then the part of the request path before what the route's regex matches; a
    prefix holding a path parameter's value would be an id in a label, so it is never used.
    """
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    regex = getattr(route, "path_regex", None)
    if not isinstance(template, str) or not template:
        return UNMATCHED
    path: str = scope.get("path", "")
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    if not isinstance(regex, re.Pattern) or regex.match(path):
        return template
    params = [str(v) for v in scope.get("path_params", {}).values() if str(v)]
    for cut in (i for i, char in enumerate(path) if char == "/" and i > 0):
        if regex.match(path[cut:]):
            prefix = path[:cut]
            return template if any(p in prefix for p in params) else prefix + template
    return template


@lru_cache(maxsize=16)
def _networks(allowed: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in allowed)


def is_allowed(host: str | None, allowed: list[str]) -> bool:
    """Whether the TCP peer ``host`` is in one of the ``allowed`` networks (IPs or CIDRs)."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in _networks(tuple(allowed)))


def install_metrics(app: FastAPI) -> None:
    """Add the timing middleware (call after every other middleware: it must be outermost)
    and the ``/metrics`` route, which reads the registry ``bind_metrics`` left in the app's
    state (so the route does not depend on one gateway)."""
    app.add_middleware(MetricsMiddleware)

    def metrics(request: Request) -> Response:
        # Sync on purpose: the database read runs in the thread pool, not on the event loop.
        gateway: Gateway = request.app.state.gateway
        host = request.client.host if request.client is not None else None
        if not is_allowed(host, gateway.settings.metrics_allowed_networks):
            raise PermissionDenied(f"/metrics is not served to {host or 'this client'}")
        body, content_type = render(request.app.state.metrics_registry, request.headers.get("accept", ""))
        return Response(body, headers={"Content-Type": content_type})

    app.add_api_route(METRICS_PATH, metrics, methods=["GET"], include_in_schema=False)


def bind_metrics(app: FastAPI, gateway: Gateway) -> None:
    """The registry ``/metrics`` renders: the process's metrics and this gateway's database
    gauges, read at scrape time."""
    app.state.metrics_registry = build_registry(
        DatabaseCollector(lambda: read_gauges(gateway.session_factory), clusters=gateway.profiles)
    )
