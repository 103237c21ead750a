"""``/interactive/<session id>/…``: the reverse proxy to a running interactive app.

Each request goes to the app through the session login's SSH connection (``direct-tcpip``
channels from the login node to the compute node's host:port, ``wiring_interactive``), as
HTTP/1.1 spoken by httpcore on keep-alive connections kept per session
(``interactive_upstream``); the answer is streamed back, never buffered whole (small answers
and pages are read in the same worker-thread call as the request: fewer thread hand-offs).
Only the session's owner gets through (``interactive_access``: decisions kept a few seconds per
credential): anybody else, signed in or not, gets the same 404 as for a session that does not
exist. The gateway adds the app's secret as a header (the app's connection rule), so it never
appears in a URL the browser could leak; the gateway's own cookies and credentials are never
passed to the app, and the app's cookies are scoped to the session's path; the secret the app
writes into its own pages is taken out of them (``interactive_pages``). With an origin per
session (``interactive_origin``) the Connect link leads to the session's own host. WebSockets:
``interactive_websocket``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.datastructures import State
from starlette.requests import HTTPConnection

from myriagate.errors import (
    BackendError,
    Conflict,
    InvalidRequest,
    MyriagateError,
    NotFound,
    PermissionDenied,
    Text,
)
from myriagate.services.interactive.ports import Tunnels
from myriagate.services.interactive.sessions import ProxyTarget
from myriagate.web import auth, interactive_origin, interactive_pages
from myriagate.web.interactive_access import Owned, access_cache, owner
from myriagate.web.interactive_origin import app_owner, host_session, session_origins
from myriagate.web.interactive_upstream import AppConnections
from myriagate.wiring_interactive import AppTunnels

router = APIRouter(include_in_schema=False)

# Request bodies are read whole (JupyterLab saves a file as one JSON PUT); beyond this, 413.
MAX_BODY_BYTES = 256 * 1024 * 1024
APP_TIMEOUT_S = 300.0
# An answer this small (by its Content-Length) is read in the same thread call as the request.
_SMALL_ANSWER_BYTES = 64 * 1024
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade", "host", "authorization", "cookie", "content-length"}
)  # fmt: skip
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_TIMEOUTS = {"connect": 30.0, "read": APP_TIMEOUT_S, "write": APP_TIMEOUT_S, "pool": 30.0}


def parse_session_id(text: str) -> uuid.UUID:
    """The session id of a proxied path; text that is no id is the same 404 as a missing one."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotFound(Text("no interactive session %(session)s", session=text)) from None


async def caller(connection: HTTPConnection, session_id: uuid.UUID) -> Owned:
    """The session's target if the caller owns it: by the app cookie on the session's own host,
    by the gateway's credentials on the gateway's host. NotFound for anybody else."""
    if host_session(connection) is not None:
        return await app_owner(connection, session_id)
    return await owner(connection, session_id)


def tunnels_of(state: State) -> Tunnels:
    """The application's way to the apps (a test may put its own in ``app.state``)."""
    found: Tunnels | None = getattr(state, "interactive_tunnels", None)
    return found if found is not None else AppTunnels(state.gateway)


def app_connections(connection: HTTPConnection) -> AppConnections:
    """The application's kept connections to the apps (made on first use, per ``app.state``)."""
    state = connection.app.state
    found: AppConnections | None = getattr(state, "interactive_connections", None)
    if found is None:
        found = state.interactive_connections = AppConnections(lambda: tunnels_of(state))
    return found


def upstream_headers(request: HTTPConnection, target: ProxyTarget) -> list[tuple[bytes, bytes]]:
    headers = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in request.headers.items()
        if name.lower() not in _HOP_BY_HOP
    ]
    kept = app_cookies(request.headers.get("cookie", ""))
    if kept:
        headers.append((b"cookie", "; ".join(kept).encode("latin-1")))
    # Pages are read to take the app's secret out of them: only gzip, which that can open.
    headers = [(k, v) for k, v in headers if k.lower() != b"accept-encoding"]
    headers.append((b"accept-encoding", interactive_pages.ACCEPTED_ENCODINGS))
    host = f"{target.connection.host}:{target.connection.port}"
    headers += [(b"host", host.encode()), (target.header[0].encode(), target.header[1].encode())]
    return headers


def app_cookies(header: str) -> list[str]:
    """The browser's cookies but the gateway's, each ``name=value`` exactly as sent.

    Split on ``;`` as browsers join them (RFC 6265 5.4), never parsed with quotes: a value of
    ``"`` in a cookie before the gateway's and another after it would make ``SimpleCookie``
    read the gateway's cookie as part of one quoted value and pass it on to the app. The
    gateway's are left out under every name it has or had (``__Host-`` or plain: a plain one
    may be a tossed copy, still somebody's session), whatever the settings in force."""
    kept = []
    for pair in header.split(";"):
        name = pair.split("=", 1)[0].strip()
        if name and not auth.is_gateway_cookie(name):
            kept.append(pair.strip())
    return kept


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


@dataclass
class _Answer:
    """The app's answer: read whole (``body``) or still to stream (``response``)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes | None
    response: httpcore.Response


async def _send(pool: httpcore.AsyncConnectionPool, request: httpcore.Request) -> httpcore.Response:
    """The request on a kept connection; once more on a new one when a kept connection failed
    before any answer, for a request that is safe to repeat."""
    try:
        return await pool.handle_async_request(request)
    except (httpcore.NetworkError, httpcore.RemoteProtocolError):
        if request.method.decode() not in _SAFE_METHODS:
            raise
    return await pool.handle_async_request(request)


async def _exchange(connections: AppConnections, session_id: uuid.UUID, target: ProxyTarget, method: str,
                    url: str, headers: list[tuple[bytes, bytes]], body: bytes) -> _Answer:  # fmt: skip
    """One request to the app, from the event loop: small answers and pages read whole."""
    pool = connections.pool(session_id, target)
    upstream = httpcore.Request(method, url, headers=headers, content=body, extensions={"timeout": _TIMEOUTS})
    try:
        response = await _send(pool, upstream)
    except httpcore.TimeoutException as exc:
        raise BackendError(Text("the interactive app did not answer in time")) from exc
    except (httpcore.NetworkError, httpcore.RemoteProtocolError) as exc:
        raise BackendError(Text("the interactive app could not be reached")) from exc
    headers_in = list(response.headers)
    if interactive_pages.is_page(headers_in) or _is_small(headers_in):
        try:
            whole = await _read_whole(response, interactive_pages.MAX_PAGE_BYTES)
        except httpcore.TimeoutException as exc:
            raise BackendError(Text("the interactive app did not answer in time")) from exc
        except httpcore.NetworkError as exc:
            raise BackendError(Text("the interactive app could not be reached")) from exc
        finally:
            await response.aclose()
        if not interactive_pages.is_page(headers_in):
            return _Answer(response.status, headers_in, whole, response)
        # Scrubbed as read: the same code as for any page, on the body read here.
        read = httpcore.Response(response.status, headers=headers_in, content=whole)
        page = interactive_pages.read_scrubbed(read, target.connection.secret)
        kept = [(k, v) for k, v in headers_in if k.lower() not in (b"content-length", b"content-encoding")]
        return _Answer(response.status, kept, page, response)
    return _Answer(response.status, headers_in, None, response)


async def _read_whole(response: httpcore.Response, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in response.aiter_stream():
        size += len(chunk)
        if size > limit:
            raise BackendError(Text("the interactive app's page is too large"))
        chunks.append(chunk)
    return b"".join(chunks)


def _is_small(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name.lower() == b"content-length":
            return value.strip().isdigit() and int(value) <= _SMALL_ANSWER_BYTES
    return False


async def _stream(response: httpcore.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_stream():
            yield chunk
    except httpcore.NetworkError:
        return  # the app went away mid-answer: the browser sees a short body
    finally:
        await response.aclose()  # back to the session's pool, or closed when not read to the end


async def proxy(request: Request) -> Response:
    """One request to the session's app, its answer streamed back."""
    session_id = parse_session_id(request.path_params["session"])
    path: str = request.path_params["path"]
    try:
        owned = await caller(request, session_id)
    except Conflict:  # not running (any more): its kept connections go too
        await _forget(request, session_id)
        raise
    origins = session_origins(request.app.state.gateway.settings)
    if origins is not None and host_session(request) is None:
        return interactive_origin.to_session_host(request, origins, owned.user_id, session_id)
    target = owned.target
    if request.method not in _SAFE_METHODS:
        check_origin(request)
    body = await _read_body(request)
    prefix = f"/interactive/{session_id}/"
    query = request.url.query
    url = f"http://{target.connection.host}:{target.connection.port}{prefix}{path}" + (
        f"?{query}" if query else ""
    )
    headers = upstream_headers(request, target)
    if body or request.method not in _SAFE_METHODS:
        headers.append((b"content-length", str(len(body)).encode()))
    try:
        answer = await _exchange(
            app_connections(request), session_id, target, request.method, url, headers, body
        )
    except MyriagateError:
        await _forget(request, session_id)
        raise
    if answer.body is not None:
        out = Response(content=answer.body, status_code=answer.status)
        kept = [(k, v) for k, v in answer.headers if k.lower() != b"content-length"]
        out.raw_headers = [*_downstream_headers(kept, prefix), *out.raw_headers]
        if request.method == "HEAD":
            out.raw_headers = _downstream_headers(answer.headers, prefix)
        return out
    streamed = StreamingResponse(
        _stream(answer.response), status_code=answer.status, background=BackgroundTask(answer.response.aclose)
    )
    streamed.raw_headers = _downstream_headers(answer.headers, prefix)
    return streamed


async def _forget(connection: HTTPConnection, session_id: uuid.UUID) -> None:
    """Drop what this process keeps for the session: decisions and connections."""
    access_cache(connection).forget(session_id)
    connections: AppConnections | None = getattr(connection.app.state, "interactive_connections", None)
    if connections is not None:
        await connections.forget(session_id)


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


# Plain Starlette routes: FastAPI's per-request work (dependencies, the app-wide login rate
# limit) is of no use to a proxied request, and costs it time (the latency target).
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
router.add_route("/interactive/{session}/{path:path}", proxy, methods=_METHODS, include_in_schema=False)
# On a session's own host: the ticket's exchange for the app cookie (interactive_origin).
router.add_route(
    interactive_origin.CONNECT_PATH, interactive_origin.connect, methods=["GET"], include_in_schema=False
)
