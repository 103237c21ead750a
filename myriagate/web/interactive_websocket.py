"""WebSockets of ``/interactive/<session id>/…`` (JupyterLab's kernels and terminals).

The browser's WebSocket is accepted only for the session's owner (anybody else, signed in or
not, gets the same 404 answer to the handshake as for no session), and only from the
gateway's own pages (a browser always sends ``Origin`` with a WebSocket); with an origin per
session, only on the session's own host, by its app cookie (``interactive_origin``). The
gateway then opens a tunnel to the app as for HTTP (``direct-tcpip`` on the login's SSH connection), makes
its own WebSocket handshake there with wsproto (the app's secret in its rule's header, the
gateway's cookie and credentials left out) and relays messages both ways until either side
closes. The app's answer to the handshake decides the subprotocol.

An open socket takes no thread while it waits: the app is read from the event loop (its
channel non-blocking), and what goes to the app is sent from the tunnels' own threads
(``interactive_upstream.tunnel_threads``), never from the gateway's pool, which every sync
route needs (one thread held per open socket left the gateway unable to answer anybody once
40 were open).
"""

from __future__ import annotations

import contextlib
import socket
from typing import cast

import anyio
import anyio.to_thread
import httpcore
from fastapi import WebSocket
from fastapi.responses import Response
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocketDisconnect
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import LOCAL_ONLY_CLOSE_REASONS

from myriagate.errors import MyriagateError, NotFound, Text
from myriagate.services.interactive.ports import AppStream, Tunnel, Tunnels
from myriagate.services.interactive.sessions import ProxyTarget
from myriagate.web.interactive_origin import host_session, session_origins
from myriagate.web.interactive_proxy import (
    APP_TIMEOUT_S,
    caller,
    check_origin,
    parse_session_id,
    tunnels_of,
    upstream_headers,
)
from myriagate.web.interactive_tls import PinnedTlsStream
from myriagate.web.interactive_upstream import (
    ChannelStream,
    open_app_tunnel,
    receive,
    send_without_blocking,
    tunnel_threads,
)

_CHUNK = 65536
# A message of the app is gathered whole before it goes to the browser (below); beyond this the
# socket is closed with 1009 (message too big) rather than the gateway's memory spent on it.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
_HANDSHAKE_S = 30.0
# The close sent to the app when the browser leaves: an app that takes nothing is not waited for.
_CLOSE_S = 5.0
# Headers of the browser's handshake that belong to that handshake, not to the app's.
_OWN_HANDSHAKE = frozenset({b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions",
                            b"sec-websocket-protocol", b"content-length", b"accept-encoding"})  # fmt: skip


class _Upstream:
    """The gateway's WebSocket to the app over a tunnel, through the pinned TLS for an app that
    serves TLS: blocking during the handshake (in a tunnel thread), then non-blocking, read
    from the event loop (``receive``) and written from tunnel threads (``send``)."""

    def __init__(self, tunnel: Tunnel, tls: PinnedTlsStream | None) -> None:
        self.tunnel, self.ws = tunnel, WSConnection(ConnectionType.CLIENT)
        self.stream: AppStream = tls if tls is not None else tunnel.stream
        self.early: list[object] = []  # read with the handshake's answer, not handed on yet

    def events(self) -> list[object]:
        """Blocking (the handshake's): the events of the next read."""
        data = self.stream.recv(_CHUNK)
        self.ws.receive_data(data or None)
        return list(self.ws.events())

    async def receive(self) -> list[object]:
        """The events of the next read, waited for on the event loop."""
        if self.early:
            early, self.early = self.early, []
            return early
        data = await receive(cast(ChannelStream, self.stream), _CHUNK)
        self.ws.receive_data(data or None)
        return list(self.ws.events())

    async def send(self, event: Event, within_s: float = APP_TIMEOUT_S) -> None:
        """``event`` to the app: framed here, on the event loop (wsproto's state is read there
        too), sent from a tunnel thread; an app that takes nothing for ``within_s`` ends it
        (TimeoutError)."""
        data = self.ws.send(event)
        await anyio.to_thread.run_sync(
            send_without_blocking, cast(ChannelStream, self.stream), data, within_s,
            limiter=tunnel_threads(),
        )  # fmt: skip


def _handshake(
    tunnels: Tunnels, target: ProxyTarget, path: str, headers: list[tuple[bytes, bytes]], protocols: list[str]
) -> tuple[_Upstream, str | None]:
    conn = target.connection
    try:
        tunnel, tls = open_app_tunnel(tunnels, target)
    except httpcore.ConnectError as exc:
        raise ConnectionRefusedError(str(exc)) from exc
    upstream = _Upstream(tunnel, tls)
    try:
        upstream.stream.settimeout(_HANDSHAKE_S)
        extra = [(k, v) for k, v in headers if k.lower() not in _OWN_HANDSHAKE and k.lower() != b"host"]
        request = Request(
            host=f"{conn.host}:{conn.port}", target=path, extra_headers=extra, subprotocols=protocols
        )
        upstream.stream.sendall(upstream.ws.send(request))
        while True:
            events = upstream.events()
            for n, event in enumerate(events):
                if isinstance(event, AcceptConnection):
                    # What came in the same read is the app's first messages (terminado's
                    # "setup" is sent at once): the relay hands them on first.
                    upstream.early = events[n + 1 :]
                    upstream.stream.settimeout(0.0)  # from now on read from the event loop
                    return upstream, event.subprotocol
                if isinstance(event, RejectConnection):
                    raise ConnectionRefusedError(f"the app refused the WebSocket ({event.status_code})")
    except BaseException:
        tunnel.close()
        raise


async def proxy_websocket(websocket: WebSocket) -> None:
    """Relay one WebSocket between the owner's browser and the session's app."""
    path = websocket.path_params["path"]
    try:
        session_id = parse_session_id(websocket.path_params["session"])
        target = (await caller(websocket, session_id)).target
        if (
            session_origins(websocket.app.state.gateway.settings) is not None
            and host_session(websocket) is None
        ):
            # With an origin per session, the apps' sockets are on their hosts only.
            raise NotFound(Text("interactive apps are served at their own address: use the Connect button"))
        check_origin(websocket)
    except MyriagateError as exc:
        await websocket.send_denial_response(Response(status_code=exc.http_status))
        return
    query = websocket.url.query
    upstream_path = f"/interactive/{session_id}/{path}" + (f"?{query}" if query else "")
    tunnels = tunnels_of(websocket.app.state)
    headers = upstream_headers(websocket, target)
    protocols = [
        p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",") if p.strip()
    ]
    try:
        upstream, chosen = await anyio.to_thread.run_sync(
            _handshake, tunnels, target, upstream_path, headers, protocols, limiter=tunnel_threads()
        )
    except (MyriagateError, OSError):
        await websocket.send_denial_response(Response(status_code=502))
        return
    await websocket.accept(subprotocol=chosen)
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_to_app, websocket, upstream, tasks.cancel_scope)
            await _to_browser(websocket, upstream)
            tasks.cancel_scope.cancel()
    finally:
        upstream.tunnel.close()


async def _to_app(websocket: WebSocket, upstream: _Upstream, scope: anyio.CancelScope) -> None:
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            event: Event = (
                TextMessage(message["text"])
                if message.get("text") is not None
                else BytesMessage(message.get("bytes") or b"")
            )
            await upstream.send(event)
    except (WebSocketDisconnect, OSError):
        pass
    with contextlib.suppress(Exception):  # the app may be gone already; the tunnel closes next
        await upstream.send(CloseConnection(code=1000), within_s=_CLOSE_S)
    _interrupt(upstream.tunnel)
    scope.cancel()


def _interrupt(tunnel: Tunnel) -> None:
    """Close the tunnel so that nothing waits on it any more (a send in a tunnel thread, which
    the cancel scope cannot reach: an app that never answers the close would otherwise hold the
    relay; a test hung in CI). A socket is shut down first: closing it alone does not wake a
    blocked call."""
    if isinstance(tunnel.stream, socket.socket):
        with contextlib.suppress(OSError):
            tunnel.stream.shutdown(socket.SHUT_RDWR)
    tunnel.close()


async def _to_browser(websocket: WebSocket, upstream: _Upstream) -> None:
    """The app's messages to the browser until either side closes; a browser gone mid-way (a
    closed tab) ends the relay quietly, as any client leaving does."""
    with contextlib.suppress(WebSocketDisconnect):
        await _relay_to_browser(websocket, upstream)


async def _relay_to_browser(websocket: WebSocket, upstream: _Upstream) -> None:
    # wsproto hands a message on in pieces as its bytes arrive (a read of the tunnel is at most
    # _CHUNK): the browser must get each message whole, so pieces wait here until its last.
    text: list[str] = []
    data = bytearray()
    while True:
        try:
            events = await upstream.receive()
        except OSError:
            events = [CloseConnection(code=1011)]
        for event in events:
            if isinstance(event, TextMessage | BytesMessage) and _too_big(text, data, event):
                with contextlib.suppress(RuntimeError):
                    await websocket.close(code=1009)
                return
            if isinstance(event, TextMessage):
                text.append(event.data)
                if event.message_finished:
                    await websocket.send_text("".join(text))
                    text.clear()
            elif isinstance(event, BytesMessage):
                data += event.data
                if event.message_finished:
                    await websocket.send_bytes(bytes(data))
                    data.clear()
            elif isinstance(event, Ping):
                await upstream.send(event.response())
            elif isinstance(event, CloseConnection):
                with contextlib.suppress(RuntimeError):  # the browser closed first
                    await websocket.close(code=_browser_close_code(event.code))
                return


def _browser_close_code(code: int) -> int:
    """The code to close the browser's socket with, for the app's. 1005, 1006 and 1015 only say
    locally that no code came (an app killed mid-message: no close frame at all); no endpoint
    may send them, and uvicorn's wsproto would send 1000 instead, a normal close: 1011."""
    return code if 1000 <= code < 5000 and code not in LOCAL_ONLY_CLOSE_REASONS else 1011


def _too_big(text: list[str], data: bytearray, event: TextMessage | BytesMessage) -> bool:
    held = sum(map(len, text)) + len(data) + len(event.data)  # characters count as bytes: a bound
    return held > MAX_MESSAGE_BYTES


# A Starlette route, not a FastAPI one: the application's own dependencies (the login rate
# limit) take a Request, which a WebSocket is not; this route reads its parameters itself.
route = WebSocketRoute("/interactive/{session}/{path:path}", proxy_websocket)
