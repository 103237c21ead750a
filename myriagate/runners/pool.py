"""SshConnectionPool: authenticated paramiko Transports per cluster login, reused.

A new SSH connection (TCP, key exchange, certificate auth) costs far more than a channel on
an open Transport once Nagle is off (figures: docs/performance.md). So each login keeps its
Transport and every command opens a channel on it. Transports are thread-safe for opening channels, so threads
share them; up to ``transports_per_login`` are opened when all are busy.

Lifecycle of a Transport: opened on first use; replaced, transparently and once, when found
dead before a command starts; retired (no new channels, closed when its last channel ends)
when its certificate is about to expire or after ``max_idle_s`` without use. A reaper thread
does the retiring on time, used or not: sshd checks a certificate only at login, so an open
connection would otherwise outlive it. ``forget(login)`` closes a login's connections at once
(its user was disabled); the next command logs in again.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import paramiko

from myriagate.domain import values
from myriagate.errors import ConfigError, PermissionDenied, SchedulerUnavailable
from myriagate.runners.certificates import UserKey
from myriagate.runners.hostkeys import PinnedHostKeys, load_pinned_host_keys
from myriagate.runners.rekeying import RekeySafeTransport

# curve25519 first: OpenSSH 9.2's default sntrup761x25519 makes every connection much slower
# (docs/performance.md).
PREFERRED_KEX = ("curve25519-sha256@libssh.org", "mlkem768x25519-sha256")
# Retire a connection this long before its certificate expires, so it is never used past it.
DEFAULT_RETIRE_BEFORE_EXPIRY_S = 10.0
# The reaper wakes at the next retirement or idle deadline, and at least this often.
_REAP_MAX_WAIT_S = 60.0


class UserKeySource(Protocol):
    """Where the pool gets a key + certificate for a login (a CertificateAuthority)."""

    def key_for(self, login: str) -> UserKey: ...


@dataclass
class PoolStats:
    """Counters since the pool was made."""

    connects: int = 0
    dead: int = 0  # pooled Transports found dead (server restart, dropped link) and dropped
    retired: int = 0  # replaced because of certificate expiry or idleness, or forgotten
    channels: int = 0
    open_transports: int = 0


@dataclass
class _Connection:
    login: str
    transport: paramiko.Transport
    cert_valid_before: float
    retire_at: float  # wall clock: cert_valid_before less the pool's margin
    last_used: float
    in_flight: int = 0
    retired: bool = False

    def usable(self, now_wall: float) -> bool:
        return not self.retired and self.transport.is_active() and now_wall < self.retire_at


@dataclass
class _LoginSlot:
    lock: threading.Lock = field(default_factory=threading.Lock)  # serialises connecting
    connections: list[_Connection] = field(default_factory=list)


class SshConnectionPool:
    """Pooled, host-key-pinned, certificate-authenticated SSH connections to one host."""

    def __init__(
        self,
        host: str,
        port: int,
        known_hosts_path: Path | str,
        ca: UserKeySource,
        *,
        connect_timeout: float = 10.0,
        keepalive_s: int = 30,
        max_idle_s: float = 300.0,
        transports_per_login: int = 1,
        retire_before_expiry_s: float = DEFAULT_RETIRE_BEFORE_EXPIRY_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if transports_per_login < 1:
            raise ConfigError("transports_per_login must be at least 1")
        if retire_before_expiry_s < 0:
            raise ConfigError("retire_before_expiry_s must not be negative")
        self._host, self._port = host, port
        # Loaded once, now: a missing pin is a startup error, not a first-request surprise.
        self._pinned: PinnedHostKeys = load_pinned_host_keys(known_hosts_path, host, port)
        self._ca = ca
        self._connect_timeout = connect_timeout
        self._keepalive_s = keepalive_s
        self._max_idle_s = max_idle_s
        self._per_login = transports_per_login
        self._retire_margin_s = retire_before_expiry_s
        self._clock = clock
        self._lock = threading.Lock()  # guards _slots, every _Connection's counters and _stats
        self._wake = threading.Condition(self._lock)  # the reaper waits on it
        self._reaper: threading.Thread | None = None
        self._reaper_wakes_at = 0.0  # monotonic; when the waiting reaper looks next
        self._slots: dict[str, _LoginSlot] = {}
        self._stats = PoolStats()
        self._closed = False

    @property
    def host(self) -> str:
        return self._host

    def stats(self) -> PoolStats:
        with self._lock:
            open_now = sum(
                1 for slot in self._slots.values() for c in slot.connections if c.transport.is_active()
            )
            return PoolStats(
                connects=self._stats.connects,
                dead=self._stats.dead,
                retired=self._stats.retired,
                channels=self._stats.channels,
                open_transports=open_now,
            )

    @contextlib.contextmanager
    def channel(self, login: str) -> Iterator[paramiko.Channel]:
        """A new session channel for ``login``; nothing has been sent on it yet.

        Raises SchedulerUnavailable (the command certainly did not start) when no channel can
        be had, PermissionDenied when the cluster refuses the login's certificate, and
        ConfigError when the host key does not match the pinned one.
        """
        values.login(login)
        conn, chan = self._open_channel(login)
        try:
            yield chan
        finally:
            dead = False
            try:
                chan.close()
            except (paramiko.SSHException, EOFError, OSError):
                # The link died after the command's answer came (or was forgotten): closing
                # cannot be sent, and must not turn that answer into an error.
                dead = True
            self._release(conn, dead=dead)

    @contextlib.contextmanager
    def tunnel(self, login: str, host: str, port: int) -> Iterator[paramiko.Channel]:
        """A ``direct-tcpip`` channel from the login node to ``host:port`` as ``login``
        (the interactive sessions' proxy reaches a compute node's app through it); closed on exit.

        SchedulerUnavailable when the login node cannot or will not open it.
        """
        values.login(login)
        opener = lambda transport: transport.open_channel(  # noqa: E731 -- one call, named for the retry
            "direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=self._connect_timeout
        )
        conn, chan = self._open_channel(login, opener, refusal_is_final=True)
        try:
            yield chan
        finally:
            dead = False
            try:
                chan.close()
            except (paramiko.SSHException, EOFError, OSError):
                dead = True
            self._release(conn, dead=dead)

    def forget(self, login: str) -> int:
        """Close every connection of ``login`` now, commands in flight included (they end as
        connection lost); the next command logs in again. Returns how many were closed.

        For a user who was disabled: their certificate may still be valid for minutes, and an
        open connection needs none anyway.
        """
        with self._lock:
            slot = self._slots.pop(login, None)
            conns = slot.connections if slot is not None else []
            for conn in conns:
                if not conn.retired:
                    conn.retired = True
                    self._stats.retired += 1
        for conn in conns:
            conn.transport.close()
        return len(conns)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns = [c for slot in self._slots.values() for c in slot.connections]
            self._slots.clear()
            self._wake.notify_all()
        for conn in conns:
            conn.transport.close()

    def transport_for(self, login: str) -> paramiko.Transport | None:
        """The newest pooled Transport of ``login`` (for tests and diagnostics)."""
        with self._lock:
            slot = self._slots.get(login)
            return slot.connections[-1].transport if slot and slot.connections else None

    # --- internals ------------------------------------------------------------------------

    def _open_channel(
        self,
        login: str,
        opener: Callable[[paramiko.Transport], paramiko.Channel] | None = None,
        *,
        refusal_is_final: bool = False,
    ) -> tuple[_Connection, paramiko.Channel]:
        if opener is None:
            opener = lambda transport: transport.open_session(timeout=self._connect_timeout)  # noqa: E731
        conn = self._acquire(login)
        try:
            return conn, opener(conn.transport)
        except paramiko.ChannelException as exc:
            if not refusal_is_final:
                self._release(conn, dead=True)
                return self._open_again(login, opener)
            # A tunnel the login node refused (nothing listens there, forwarding off): the
            # Transport is fine, so it is kept, and trying again would be refused again.
            self._release(conn, dead=False)
            raise SchedulerUnavailable(f"{self._pinned.name} refused the channel: {exc}") from exc
        except (paramiko.SSHException, EOFError, OSError):
            # The Transport died under us (server restart, dropped link) and nothing was sent
            # on a channel yet: replace it, once.
            self._release(conn, dead=True)
        return self._open_again(login, opener)

    def _open_again(
        self, login: str, opener: Callable[[paramiko.Transport], paramiko.Channel]
    ) -> tuple[_Connection, paramiko.Channel]:
        conn = self._acquire(login)
        try:
            return conn, opener(conn.transport)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            self._release(conn, dead=True)
            raise SchedulerUnavailable(f"cannot open an SSH channel on {self._pinned.name}: {exc}") from exc

    def _acquire(self, login: str) -> _Connection:
        with self._lock:
            if self._closed:
                raise SchedulerUnavailable("the SSH connection pool is closed", transient=False)
            slot = self._slots.setdefault(login, _LoginSlot())
            doomed = self._sweep(slot)
            conn = self._pick(slot)
            if conn is not None:
                conn.in_flight += 1
        for old in doomed:
            old.transport.close()
        if conn is not None:
            return conn
        with slot.lock:
            # Another thread may have connected while this one waited for the slot.
            with self._lock:
                conn = self._pick(slot)
                if conn is not None:
                    conn.in_flight += 1
                    return conn
            fresh = self._connect(login)
            with self._lock:
                self._stats.connects += 1
                slot.connections.append(fresh)
                fresh.in_flight += 1
                if self._closed or self._slots.get(login) is not slot:
                    # Closed or forgotten while connecting: this command only, then closed.
                    fresh.retired = True
                self._start_reaper()
                self._wake.notify_all()
            return fresh

    def _pick(self, slot: _LoginSlot) -> _Connection | None:
        """The least busy usable connection, or None when a new one should be opened."""
        now = self._clock()
        usable = [c for c in slot.connections if c.usable(now)]
        if not usable:
            return None
        best = min(usable, key=lambda c: c.in_flight)
        if best.in_flight > 0 and len(usable) < self._per_login:
            return None
        best.last_used = time.monotonic()
        return best

    def _sweep(self, slot: _LoginSlot) -> list[_Connection]:
        """Drop dead connections; retire expiring or idle ones; return those to close."""
        now_wall, now = self._clock(), time.monotonic()
        keep: list[_Connection] = []
        doomed: list[_Connection] = []
        for conn in slot.connections:
            idle = conn.in_flight == 0 and now - conn.last_used > self._max_idle_s
            expiring = now_wall >= conn.retire_at
            if not conn.retired and (idle or expiring):
                conn.retired = True
                self._stats.retired += 1
            alive = conn.transport.is_active()
            if not alive and not conn.retired:
                conn.retired = True
                self._stats.dead += 1
            (keep if alive and not (conn.retired and conn.in_flight == 0) else doomed).append(conn)
        slot.connections = keep
        return doomed

    def _release(self, conn: _Connection, *, dead: bool = False) -> None:
        close = False
        with self._lock:
            conn.in_flight -= 1
            conn.last_used = time.monotonic()
            self._stats.channels += 0 if dead else 1
            if dead and not conn.retired:
                conn.retired = True
                self._stats.dead += 1
            close = conn.retired and conn.in_flight == 0
            if conn.in_flight == 0 and conn.last_used + self._max_idle_s < self._reaper_wakes_at:
                self._wake.notify_all()  # it now idles: the reaper must look before it planned
            if close:
                slot = self._slots.get(conn.login)
                if slot is not None and conn in slot.connections:
                    slot.connections.remove(conn)
        if close:
            conn.transport.close()

    def _start_reaper(self) -> None:
        """Start the reaper with the first connection (caller holds the lock)."""
        if self._reaper is None and not self._closed:
            name = f"ssh-pool-reaper-{self._host}"
            self._reaper = threading.Thread(target=self._reap, name=name, daemon=True)
            self._reaper.start()

    def _reap(self) -> None:
        """Retire and close connections when their certificate expires or they idle too long,
        whether or not anything uses the pool meanwhile."""
        while True:
            with self._lock:
                while not self._closed:
                    doomed = [c for slot in self._slots.values() for c in self._sweep(slot)]
                    if doomed:
                        break
                    wait_s = self._next_deadline_s()
                    self._reaper_wakes_at = time.monotonic() + wait_s
                    self._wake.wait(wait_s)
                else:
                    return
            for conn in doomed:
                conn.transport.close()

    def _next_deadline_s(self) -> float:
        """Seconds until the next connection is due to retire (caller holds the lock)."""
        now_wall, now = self._clock(), time.monotonic()
        waits = [_REAP_MAX_WAIT_S]
        for slot in self._slots.values():
            for conn in slot.connections:
                if conn.retired:
                    continue  # closed by _release when its last channel ends
                waits.append(conn.retire_at - now_wall)
                if conn.in_flight == 0:
                    waits.append(conn.last_used + self._max_idle_s - now)
        # A little late rather than early, so the deadline has passed when the sweep looks.
        return max(0.0, min(waits)) + 0.01

    def _connect(self, login: str) -> _Connection:
        user_key = self._ca.key_for(login)
        where = self._pinned.name
        try:
            sock = socket.create_connection((self._host, self._port), timeout=self._connect_timeout)
        except OSError as exc:
            raise SchedulerUnavailable(f"cannot reach {where}: {exc.strerror or exc}") from exc
        # Without it Nagle + delayed ACK delay every command on a reused Transport (docs/performance.md).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Not paramiko.Transport: a re-key in the middle of a long stream would kill it (rekeying.py).
        transport = RekeySafeTransport(sock)
        try:
            _configure(transport, self._pinned, self._connect_timeout)
            transport.start_client(timeout=self._connect_timeout)
            # Checked before any credential is sent.
            self._pinned.verify(transport.get_remote_server_key())
            transport.auth_publickey(login, user_key.pkey)
        except paramiko.AuthenticationException as exc:
            transport.close()
            raise PermissionDenied(
                f"{where} refused the gateway's certificate for login {login!r}: {exc}"
            ) from exc
        except (paramiko.SSHException, EOFError, OSError) as exc:
            transport.close()
            raise SchedulerUnavailable(f"SSH connection to {where} failed: {exc}") from exc
        except BaseException:
            transport.close()
            raise
        transport.set_keepalive(self._keepalive_s)
        return _Connection(
            login=login,
            transport=transport,
            cert_valid_before=float(user_key.valid_before),
            retire_at=float(user_key.valid_before) - self._retire_margin_s,
            last_used=time.monotonic(),
        )


def _configure(transport: paramiko.Transport, pinned: PinnedHostKeys, timeout: float) -> None:
    transport.banner_timeout = timeout
    transport.handshake_timeout = timeout
    transport.auth_timeout = timeout
    options = transport.get_security_options()
    offered = list(options.kex)
    options.kex = [k for k in PREFERRED_KEX if k in offered] + [k for k in offered if k not in PREFERRED_KEX]
    # Ask only for host key types we have pinned, so the server cannot pick an unpinned one.
    pinned_types = [t for t in options.key_types if t in pinned.key_types]
    if not pinned_types:
        raise ConfigError(f"none of the pinned host key types of {pinned.name} is supported by paramiko")
    options.key_types = pinned_types
