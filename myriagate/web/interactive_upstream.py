"""The proxy's connections to the interactive apps: kept open and reused, per session.

A proxied request used to open a new ``direct-tcpip`` channel (a round trip through the login
node's sshd, which then connects to the app) and a new HTTP/1.1 connection, closed after one
answer: most of the proxy's cost (docs/interactive.md, "Measured"). Now each session has a
small httpcore pool of keep-alive HTTP/1.1 connections, each on a channel of its own, reused
while the session runs:

- a connection idle for ``idle_s`` is closed, and one older than ``max_age_s`` is not reused:
  an open channel keeps its SSH connection in use, which must not outlive the certificate it
  was opened with by much (the SSH pool retires a connection before its certificate expires
  and closes it once its last channel is closed);
- a connection the app closed (or whose channel died) is seen before reuse (``is_readable``)
  and replaced;
- a session's pool is closed when the proxy finds the session no longer running
  (``forget``), when its target changes (new host, port or secret), and by a reaper thread
  once it has been idle ``idle_s``.

Nothing is shared between sessions: a pool belongs to one session and carries its secret.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpcore

from myriagate.services.interactive.ports import Tunnel, Tunnels
from myriagate.services.interactive.sessions import ProxyTarget

IDLE_S = 20.0
MAX_AGE_S = 60.0
# Per session: JupyterLab's page load sends a dozen requests at once; each connection is a
# channel on the login's SSH connection.
MAX_CONNECTIONS = 12
_REAP_EVERY_S = 5.0


class _TunnelStream(httpcore.NetworkStream):
    """httpcore's view of a tunnel (a paramiko channel or a socket)."""

    def __init__(self, tunnel: Tunnel, max_age_s: float) -> None:
        self._tunnel = tunnel
        self._retire_at = time.monotonic() + max_age_s

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
        if info == "is_readable":
            # httpcore asks before reusing an idle connection: readable means the app closed it
            # (or the channel died). Too old counts the same, so it is closed and replaced.
            return time.monotonic() >= self._retire_at or _readable(self._tunnel.stream)
        return None


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


class _TunnelBackend(httpcore.NetworkBackend):
    """httpcore's connections to one session's app, each on a new tunnel."""

    def __init__(self, tunnels: Tunnels, target: ProxyTarget, max_age_s: float) -> None:
        self._tunnels, self._target, self._max_age_s = tunnels, target, max_age_s

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:  # fmt: skip
        target = self._target
        tunnel = self._tunnels.open(
            target.cluster, target.login, target.connection.host, target.connection.port
        )
        return _TunnelStream(tunnel, self._max_age_s)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:  # fmt: skip
        raise NotImplementedError

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass
class _Entry:
    target: ProxyTarget
    pool: httpcore.ConnectionPool
    last_used: float = field(default_factory=time.monotonic)


class AppConnections:
    """Keep-alive HTTP/1.1 connections to each running session's app (thread-safe)."""

    def __init__(
        self, tunnels: Callable[[], Tunnels], *, idle_s: float = IDLE_S, max_age_s: float = MAX_AGE_S,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:  # fmt: skip
        self._tunnels = tunnels
        self._idle_s, self._max_age_s, self._max = idle_s, max_age_s, max_connections
        self._lock = threading.Lock()
        self._entries: dict[uuid.UUID, _Entry] = {}
        self._reaper: threading.Thread | None = None
        self._closed = threading.Event()

    def pool(self, session_id: uuid.UUID, target: ProxyTarget) -> httpcore.ConnectionPool:
        """The session's pool; a new one (the old closed) when its app moved or its secret changed."""
        stale = None
        with self._lock:
            entry = self._entries.get(session_id)
            if entry is not None and entry.target != target:
                stale, entry = entry, None
            if entry is None:
                backend = _TunnelBackend(self._tunnels(), target, self._max_age_s)
                pool = httpcore.ConnectionPool(
                    network_backend=backend, max_connections=self._max,
                    max_keepalive_connections=self._max, keepalive_expiry=self._idle_s,
                )  # fmt: skip
                entry = self._entries[session_id] = _Entry(target, pool)
                self._start_reaper()
            entry.last_used = time.monotonic()
        if stale is not None:
            stale.pool.close()
        return entry.pool

    def forget(self, session_id: uuid.UUID) -> None:
        """Close the session's connections (it ended, or its app cannot be reached)."""
        with self._lock:
            entry = self._entries.pop(session_id, None)
        if entry is not None:
            entry.pool.close()

    def open_sessions(self) -> list[uuid.UUID]:
        with self._lock:
            return list(self._entries)

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            entries, self._entries = list(self._entries.values()), {}
        for entry in entries:
            entry.pool.close()

    def reap(self) -> None:
        """Close the pools unused for ``idle_s`` with no answer in flight (a long download
        keeps its pool)."""
        now = time.monotonic()
        with self._lock:
            idle = [
                sid for sid, e in self._entries.items()
                if now - e.last_used > self._idle_s and all(c.is_idle() for c in e.pool.connections)
            ]  # fmt: skip
            doomed = [self._entries.pop(sid) for sid in idle]
        for entry in doomed:
            with contextlib.suppress(Exception):  # a dead channel's close may fail: it is gone anyway
                entry.pool.close()

    def _start_reaper(self) -> None:
        if self._reaper is None:
            self._reaper = threading.Thread(target=self._reap_loop, name="interactive-reaper", daemon=True)
            self._reaper.start()

    def _reap_loop(self) -> None:
        """Reap until nothing is left (the next pool starts a new reaper)."""
        while not self._closed.wait(min(_REAP_EVERY_S, self._idle_s)):
            self.reap()
            with self._lock:
                if not self._entries:
                    self._reaper = None
                    return
