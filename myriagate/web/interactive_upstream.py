"""The proxy's connections to the interactive apps: kept open, reused, and read without threads.

A proxied request used to open a new ``direct-tcpip`` channel (a round trip through the login
node's sshd, which then connects to the app) and a new HTTP/1.1 connection, closed after one
answer, all from a worker thread: most of the proxy's cost (docs/interactive.md, "Measured").
Now each session has a small httpcore pool of keep-alive HTTP/1.1 connections, each on a
channel of its own, reused while the session runs, and driven from the event loop:

- reads wait for the channel's (or socket's) descriptor to be readable, then take what the
  channel has buffered: no thread hand-off per request or per chunk of an answer;
- writes up to ``_LOOP_WRITE_BYTES`` are sent from the event loop when the channel's window
  allows and no SSH key exchange is under way (a request's headers, a small body); larger ones,
  a full window or a key exchange, from a worker thread (paramiko's ``sendall`` waits for the
  window, and every send waits for a key exchange to end, which the event loop must not);
  a new connection's channel is opened in a worker thread too (a round trip through sshd);
- a connection idle for ``idle_s`` is closed, and one older than ``max_age_s`` is not reused:
  an open channel keeps its SSH connection in use, which must not outlive the certificate it
  was opened with by much (the SSH pool retires a connection before its certificate expires
  and closes it once its last channel is closed);
- a connection the app closed (or whose channel died) is seen before reuse (``is_readable``)
  and replaced;
- a session's pool is closed when the proxy finds the session no longer running
  (``forget``), when its target changes (new host, port or secret), and by a reaper task once
  it has been unused ``idle_s`` with no answer in flight.

Nothing is shared between sessions: a pool belongs to one session and carries its secret.

The threads these tunnels need (opening a channel and its TLS handshake, a send waiting for the
window, the WebSocket relay's sends) come from a limiter of their own (``tunnel_threads``), not
from anyio's default one, whose 40 threads every sync route of the gateway waits for: what an
app or whatever listens at its port does must never leave the gateway without threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import select
import socket
import sys
import time
import uuid
import weakref
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import anyio
import httpcore
import structlog

from myriagate.services.interactive.ports import Tunnel, Tunnels
from myriagate.services.interactive.sessions import ProxyTarget
from myriagate.web.interactive_tls import ByteStream, NotThePinnedServer, PinnedTlsStream

IDLE_S = 20.0
MAX_AGE_S = 60.0
# Per session: JupyterLab's page load sends a dozen requests at once; each connection is a
# channel on the login's SSH connection.
MAX_CONNECTIONS = 12
_REAP_EVERY_S = 5.0
_LOOP_WRITE_BYTES = 64 * 1024
# A wait for readability is cut in slices this long, then the stream is looked at again: a
# channel closed by another thread must not leave a read waiting on a dead descriptor.
_WAIT_SLICE_S = 1.0
_WOULD_BLOCK = (BlockingIOError, TimeoutError, InterruptedError)
# A send the tunnel would not take now is tried again this much later (send_without_blocking).
_SEND_RETRY_S = 0.005
# A new connection's TLS handshake with the app (from a thread), before any request is sent:
# the whole of it, whatever answers at the app's address (the genuine app takes milliseconds).
_HANDSHAKE_S = 10.0
# Threads for the tunnels' blocking work, per event loop (below).
TUNNEL_THREADS = 40
_tunnel_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)
log = structlog.get_logger(__name__)


class ChannelStream(Protocol):
    """What sockets and paramiko channels both have (more than ``AppStream`` asks)."""

    def recv(self, size: int, /) -> bytes: ...
    def send(self, data: bytes, /) -> int: ...
    def sendall(self, data: bytes, /) -> None: ...
    def settimeout(self, timeout: float | None, /) -> None: ...
    def fileno(self) -> int: ...


def tunnel_threads() -> anyio.CapacityLimiter:
    """The running event loop's limiter for the tunnels' threads, apart from the gateway's own
    (anyio's default, which every sync route uses): a handshake with whatever listens at a
    freed port, or a send to an app that does not read, waits on one of these, never on those."""
    loop = asyncio.get_running_loop()
    limiter = _tunnel_limiters.get(loop)
    if limiter is None:
        limiter = _tunnel_limiters[loop] = anyio.CapacityLimiter(TUNNEL_THREADS)
    return limiter


async def receive(stream: ChannelStream, size: int) -> bytes:
    """Up to ``size`` bytes of a tunnel's stream (non-blocking: timeout 0), read from the event
    loop: it waits for the descriptor to be readable, in slices (a channel closed by another
    thread must not leave the wait on a dead descriptor), never in a thread."""
    while True:
        try:
            return stream.recv(size)
        except _WOULD_BLOCK:
            with anyio.move_on_after(_WAIT_SLICE_S):
                await anyio.wait_readable(stream.fileno())


def send_without_blocking(stream: ChannelStream, data: bytes, within_s: float) -> None:
    """All of ``data`` into a stream the event loop reads at the same time, from a tunnel
    thread. The stream stays non-blocking (its timeout is the loop's too: a read there must
    never wait), so while the tunnel takes nothing (an app that does not read, a full SSH
    window) this tries again a little later; ``TimeoutError`` once ``within_s`` has passed."""
    deadline = time.monotonic() + within_s
    view = memoryview(data)
    tls = stream if isinstance(stream, PinnedTlsStream) else None
    while view or (tls is not None and tls.pending):
        try:
            if view:
                sent = stream.send(bytes(view[:_LOOP_WRITE_BYTES]))
                if sent == 0:
                    raise ConnectionResetError("the app's stream is closed")
                view, progress = view[sent:], True
            else:  # TLS: the records made, not all taken by the tunnel yet
                progress = tls is not None and tls.flush()
        except _WOULD_BLOCK:
            progress = False
        if not progress:
            if time.monotonic() >= deadline:
                raise TimeoutError("the app took nothing for too long")
            time.sleep(_SEND_RETRY_S)


class _TunnelStream(httpcore.AsyncNetworkStream):
    """httpcore's view of a tunnel (a paramiko channel or a socket), read from the event loop."""

    def __init__(self, tunnel: Tunnel, max_age_s: float, tls: PinnedTlsStream | None = None) -> None:
        # ``_raw`` is the tunnel's own stream (its descriptor, its SSH transport); ``_stream``
        # what the bytes go through: the pinned TLS over it, for an app that serves TLS.
        self._tunnel, self._raw = tunnel, cast(ChannelStream, tunnel.stream)
        self._tls = tls
        self._stream: ChannelStream = tls if tls is not None else self._raw
        self._raw.settimeout(0.0)  # never blocks: the event loop waits for readability
        self._retire_at = time.monotonic() + max_age_s

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            with anyio.fail_after(timeout):
                return await receive(self._stream, max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout("the app did not answer in time") from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc)) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        data = memoryview(buffer)
        try:
            while data and len(data) <= _LOOP_WRITE_BYTES and not _key_exchange_running(self._raw):
                try:
                    sent = self._stream.send(bytes(data))
                except _WOULD_BLOCK:
                    break  # the window (or the socket's buffer) is full: a thread waits for it
                if sent == 0:
                    raise httpcore.WriteError("the app's stream is closed")
                data = data[sent:]
            if data or (self._tls is not None and self._tls.pending):  # TLS: ciphertext left to send
                await anyio.to_thread.run_sync(
                    self._blocking_sendall, bytes(data), timeout, limiter=tunnel_threads()
                )
        except TimeoutError as exc:
            raise httpcore.WriteTimeout("the app did not take the request in time") from exc
        except OSError as exc:
            raise httpcore.WriteError(str(exc)) from exc

    def _blocking_sendall(self, data: bytes, timeout: float | None) -> None:
        # HTTP/1.1: nothing reads this connection while its request is written.
        self._raw.settimeout(timeout)
        try:
            self._stream.sendall(data)
        finally:
            self._raw.settimeout(0.0)

    async def aclose(self) -> None:
        if _key_exchange_running(self._raw):  # closing sends a message, which would wait
            await anyio.to_thread.run_sync(self._tunnel.close, limiter=tunnel_threads())
        else:
            self._tunnel.close()

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # httpcore asks before reusing an idle connection: readable means the app closed it
            # (or the channel died). Too old counts the same, so it is closed and replaced.
            tls_waiting = self._tls is not None and self._tls.readable_now()
            return time.monotonic() >= self._retire_at or tls_waiting or _readable(self._raw)
        return None


def _key_exchange_running(stream: object) -> bool:
    """Whether sending on this channel now would wait for an SSH key exchange to end (paramiko
    holds every message meanwhile: ``Transport.clear_to_send``, as runners/rekeying.py relies
    on); then the event loop must not send. Never for a socket."""
    transport = getattr(stream, "get_transport", None)
    clear_to_send = getattr(transport(), "clear_to_send", None) if callable(transport) else None
    return clear_to_send is not None and not clear_to_send.is_set()


def _readable(stream: object) -> bool:
    if isinstance(stream, socket.socket):
        try:
            return bool(select.select([stream], [], [], 0)[0])
        except (OSError, ValueError):
            return True
    # A paramiko Channel: data, an EOF or a close waiting.
    ready = getattr(stream, "recv_ready", None)
    closed = bool(getattr(stream, "closed", False) or getattr(stream, "eof_received", False))
    return closed or (callable(ready) and bool(ready()))


class _TunnelBackend(httpcore.AsyncNetworkBackend):
    """httpcore's connections to one session's app, each on a new tunnel (opened in a thread)."""

    def __init__(self, tunnels: Tunnels, target: ProxyTarget, max_age_s: float) -> None:
        self._tunnels, self._target, self._max_age_s = tunnels, target, max_age_s

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:  # fmt: skip
        tunnel, tls = await anyio.to_thread.run_sync(
            open_app_tunnel, self._tunnels, self._target, limiter=tunnel_threads()
        )
        return _TunnelStream(tunnel, self._max_age_s, tls)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:  # fmt: skip
        raise NotImplementedError

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


def open_app_tunnel(tunnels: Tunnels, target: ProxyTarget) -> tuple[Tunnel, PinnedTlsStream | None]:
    """A tunnel to the session's app and, for an app that serves TLS, the TLS over it, its
    handshake done and the app's certificate checked against the pin (blocking: from a thread).
    ``httpcore.ConnectError`` when the server there is not the app: nothing was sent to it."""
    connection = target.connection
    tunnel = tunnels.open(target.cluster, target.login, connection.host, connection.port)
    if connection.tls_sha256 is None:
        return tunnel, None
    try:
        tls = PinnedTlsStream(cast(ByteStream, tunnel.stream), connection.tls_sha256)
        tls.handshake(_HANDSHAKE_S)
    except (OSError, ValueError) as exc:
        tunnel.close()
        if isinstance(exc, NotThePinnedServer):
            log.warning("interactive.not_the_app", cluster=target.cluster, login=target.login,
                        host=connection.host, port=connection.port)  # fmt: skip
        raise httpcore.ConnectError(f"no TLS connection to the app: {exc}") from exc
    except BaseException:
        tunnel.close()
        raise
    return tunnel, tls


@dataclass
class _Entry:
    target: ProxyTarget
    pool: httpcore.AsyncConnectionPool
    last_used: float = field(default_factory=time.monotonic)


class AppConnections:
    """Keep-alive HTTP/1.1 connections to each running session's app; used from the event loop."""

    def __init__(
        self, tunnels: Callable[[], Tunnels], *, idle_s: float = IDLE_S, max_age_s: float = MAX_AGE_S,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:  # fmt: skip
        _skip_sniffio_search()
        self._tunnels = tunnels
        self._idle_s, self._max_age_s, self._max = idle_s, max_age_s, max_connections
        self._entries: dict[uuid.UUID, _Entry] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    def pool(self, session_id: uuid.UUID, target: ProxyTarget) -> httpcore.AsyncConnectionPool:
        """The session's pool; a new one (the old closed) when its app moved or its secret changed."""
        entry = self._entries.get(session_id)
        if entry is not None and entry.target != target:
            self._close_soon(self._entries.pop(session_id).pool)
            entry = None
        if entry is None:
            backend = _TunnelBackend(self._tunnels(), target, self._max_age_s)
            pool = httpcore.AsyncConnectionPool(
                network_backend=backend, max_connections=self._max,
                max_keepalive_connections=self._max, keepalive_expiry=self._idle_s,
            )  # fmt: skip
            entry = self._entries[session_id] = _Entry(target, pool)
            self._start_reaper()
        entry.last_used = time.monotonic()
        return entry.pool

    async def forget(self, session_id: uuid.UUID) -> None:
        """Close the session's connections (it ended, or its app cannot be reached)."""
        entry = self._entries.pop(session_id, None)
        if entry is not None:
            await _quietly(entry.pool.aclose())

    def open_sessions(self) -> list[uuid.UUID]:
        return list(self._entries)

    async def aclose(self) -> None:
        entries, self._entries = list(self._entries.values()), {}
        for entry in entries:
            await _quietly(entry.pool.aclose())

    async def reap(self) -> None:
        """Close the pools unused for ``idle_s`` with no answer in flight (a long download
        keeps its pool)."""
        now = time.monotonic()
        idle = [
            sid for sid, e in self._entries.items()
            if now - e.last_used > self._idle_s and all(c.is_idle() for c in e.pool.connections)
        ]  # fmt: skip
        for sid in idle:
            await _quietly(self._entries.pop(sid).pool.aclose())

    def _close_soon(self, pool: httpcore.AsyncConnectionPool) -> None:
        task = asyncio.get_running_loop().create_task(_quietly(pool.aclose()))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _start_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap_loop())

    async def _reap_loop(self) -> None:
        """Reap until nothing is left (the next pool starts a new reaper)."""
        while self._entries:
            await asyncio.sleep(min(_REAP_EVERY_S, self._idle_s))
            await self.reap()


def _skip_sniffio_search() -> None:
    """httpcore's async locks try ``import sniffio`` on every use; where sniffio is not
    installed (anyio no longer needs it) each try searches the whole ``sys.path`` again, about
    0.1 ms, several times a request (seen with py-spy). A ``None`` in ``sys.modules`` makes
    that import fail at once, as it would anyway."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


async def _quietly(closing: Coroutine[Any, Any, None]) -> None:
    with contextlib.suppress(Exception):  # a dead channel's close may fail: it is gone anyway
        await closing
