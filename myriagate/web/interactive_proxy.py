"""``/interactive/<session id>/…``: the reverse proxy to a running interactive app.

Each request goes to the app through the session login's SSH connection (a ``direct-tcpip``
channel from the login node to the compute node's host:port, ``wiring_interactive``), as
HTTP/1.1 spoken by httpcore over that channel; the answer is streamed back, never buffered
whole. Only the session's owner gets through: anybody else, signed in or not, gets the same
404 as for a session that does not exist. The gateway adds the app's secret as a header (the
app's connection rule), so it never appears in a URL the browser could leak; the gateway's
own cookies and credentials are never passed to the app, and the app's cookies are scoped to
the session's path; the secret the app writes into its own pages is taken out of them
(``interactive_pages``). WebSockets: ``interactive_websocket``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

import httpcore
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from myriagate.errors import BackendError, InvalidRequest, NotAuthenticated, NotFound, PermissionDenied, Text
from myriagate.services.interactive.ports import Tunnel, Tunnels
from myriagate.services.interactive.sessions import ProxyTarget
from myriagate.web import auth, interactive_pages
from myriagate.wiring_interactive import AppTunnels, interactive_sessions

router = APIRouter(include_in_schema=False)

# Request bodies are read whole (JupyterLab saves a file as one JSON PUT); beyond this, 413.
MAX_BODY_BYTES = 256 * 1024 * 1024
APP_TIMEOUT_S = 300.0
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade", "host", "authorization", "cookie", "content-length"}
)  # fmt: skip
_GATEWAY_COOKIES = (auth.SESSION_COOKIE,)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class _TunnelStream(httpcore.NetworkStream):
    def __init__(self, tunnel: Tunnel) -> None:
        self._tunnel = tunnel

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._tunnel.stream.settimeout(timeout)
        try:
            return self._tunnel.stream.recv(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc)) from exc

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._tunnel.stream.settimeout(timeout)
        try:
            self._tunnel.stream.sendall(buffer)
        except OSError as exc:
            raise httpcore.WriteError(str(exc)) from exc

    def close(self) -> None:
        self._tunnel.close()

    def get_extra_info(self, info: str) -> Any:
        return None


class _TunnelBackend(httpcore.NetworkBackend):
    """httpcore's connections, each on a new tunnel to the one app."""

    def __init__(self, tunnels: Tunnels, target: ProxyTarget) -> None:
        self._tunnels, self._target = tunnels, target

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:  # fmt: skip
        target = self._target
        tunnel = self._tunnels.open(
            target.cluster, target.login, target.connection.host, target.connection.port
        )
        return _TunnelStream(tunnel)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:  # fmt: skip
        raise NotImplementedError

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def parse_session_id(text: str) -> uuid.UUID:
    """The session id of a proxied path; text that is no id is the same 404 as a missing one."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotFound(Text("no interactive session %(session)s", session=text)) from None


def owner_target(request: HTTPConnection, session_id: uuid.UUID) -> ProxyTarget:
    """The session's target if the caller owns it; NotFound for anybody else, anonymous too."""
    gateway = request.app.state.gateway
    with gateway.session_factory() as db:
        try:
            identity = auth.identify_for_proxy(request, db, gateway.settings)
        except (NotAuthenticated, PermissionDenied):
            raise NotFound(Text("no interactive session %(session)s", session=str(session_id))) from None
        sessions = interactive_sessions(gateway)
        return sessions.target(db, identity.user, session_id)


def upstream_headers(request: HTTPConnection, target: ProxyTarget) -> list[tuple[bytes, bytes]]:
    headers = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in request.headers.items()
        if name.lower() not in _HOP_BY_HOP
    ]
    kept = [f"{k}={v.value}" for k, v in SimpleCookie(request.headers.get("cookie", "")).items()
            if k not in _GATEWAY_COOKIES]  # fmt: skip
    if kept:
        headers.append((b"cookie", "; ".join(kept).encode("latin-1")))
    # Pages are read to take the app's secret out of them: only gzip, which that can open.
    headers = [(k, v) for k, v in headers if k.lower() != b"accept-encoding"]
    headers.append((b"accept-encoding", interactive_pages.ACCEPTED_ENCODINGS))
    host = f"{target.connection.host}:{target.connection.port}"
    headers += [(b"host", host.encode()), (target.header[0].encode(), target.header[1].encode())]
    return headers


def _scoped_cookie(value: str, path: str) -> str:
    """A Set-Cookie of the app, its Path forced to the session's and any Domain dropped."""
    parts = [
        p for p in value.split(";") if p.strip().split("=", 1)[0].strip().lower() not in ("path", "domain")
    ]
    return "; ".join(p.strip() for p in parts) + f"; Path={path}"


def _downstream_headers(raw: list[tuple[bytes, bytes]], path: str) -> list[tuple[bytes, bytes]]:
    out = []
    for name, value in raw:
        lower = name.decode("latin-1").lower()
        if lower in _HOP_BY_HOP - {"content-length"}:
            continue
        if lower == "set-cookie":
            value = _scoped_cookie(value.decode("latin-1"), path).encode("latin-1")
        out.append((name, value))
    return out


def _send(target: ProxyTarget, tunnels: Tunnels, method: str, url: str, headers: list[tuple[bytes, bytes]],
          body: bytes) -> tuple[httpcore.Response, httpcore.ConnectionPool]:  # fmt: skip
    pool = httpcore.ConnectionPool(network_backend=_TunnelBackend(tunnels, target), max_connections=1)
    timeouts = {"connect": 30.0, "read": APP_TIMEOUT_S, "write": APP_TIMEOUT_S, "pool": 30.0}
    upstream = httpcore.Request(method, url, headers=headers, content=body, extensions={"timeout": timeouts})
    try:
        return pool.handle_request(upstream), pool
    except httpcore.TimeoutException as exc:
        pool.close()
        raise BackendError(Text("the interactive app did not answer in time")) from exc
    except httpcore.NetworkError as exc:
        pool.close()
        raise BackendError(Text("the interactive app could not be reached")) from exc


def _stream(response: httpcore.Response) -> Iterator[bytes]:
    try:
        yield from response.iter_stream()
    except httpcore.NetworkError:
        return  # the app went away mid-answer: the browser sees a short body


@router.api_route(
    "/interactive/{session}/{path:path}",
    methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
)
async def proxy(request: Request, session: str, path: str) -> Response:
    """One request to the session's app, its answer streamed back."""
    session_id = parse_session_id(session)
    target = await run_in_threadpool(owner_target, request, session_id)
    if request.method not in _SAFE_METHODS:
        check_origin(request)
    body = await _read_body(request)
    prefix = f"/interactive/{session_id}/"
    query = request.url.query
    url = f"http://{target.connection.host}:{target.connection.port}{prefix}{path}" + (
        f"?{query}" if query else ""
    )
    tunnels: Tunnels = getattr(request.app.state, "interactive_tunnels", None) or AppTunnels(
        request.app.state.gateway
    )
    headers = upstream_headers(request, target)
    if body or request.method not in _SAFE_METHODS:
        headers.append((b"content-length", str(len(body)).encode()))
    response, pool = await run_in_threadpool(_send, target, tunnels, request.method, url, headers, body)
    if interactive_pages.is_page(response.headers):
        try:
            page = await run_in_threadpool(
                interactive_pages.read_scrubbed, response, target.connection.secret
            )
        finally:
            pool.close()
        answer = Response(content=page, status_code=response.status)
        kept = [
            (k, v) for k, v in response.headers if k.lower() not in (b"content-length", b"content-encoding")
        ]
        answer.raw_headers = [*_downstream_headers(kept, prefix), *answer.raw_headers]
        return answer
    out = StreamingResponse(
        _stream(response), status_code=response.status, background=BackgroundTask(pool.close)
    )
    out.raw_headers = _downstream_headers(list(response.headers), prefix)
    return out


async def _read_body(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise InvalidRequest(Text("the request body is too large for the interactive app"))
        chunks.append(chunk)
    return b"".join(chunks)


def check_origin(request: HTTPConnection) -> None:
    """A change sent by another site's page is refused: the session cookie is SameSite=Lax,
    and this says so again for browsers that send an Origin."""
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise PermissionDenied(Text("a change to an interactive app must come from the gateway's own pages"))
