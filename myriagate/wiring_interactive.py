"""The composition root of interactive sessions (docs/interactive.md), beside ``wiring``.

``interactive_sessions(gateway)`` gives the session use cases; ``AppTunnels(gateway)`` opens
the proxy's streams to an app: a ``direct-tcpip`` channel through the login node on the SSH
connection the login's commands already use (``ClusterBackends.pool``), or a plain TCP
connection for a ``runner = "local"`` cluster (the gateway runs on the login node). A module of
its own because ``wiring.py`` is at its size limit; building either opens nothing.
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass

import paramiko

from myriagate.errors import BackendError, SchedulerUnavailable, Text
from myriagate.profiles.logins import check_personal_login
from myriagate.scripts.interactive_apps import InteractiveApps
from myriagate.services.interactive.ports import AppStream
from myriagate.services.interactive.sessions import InteractiveSessions, sealer_for
from myriagate.wiring import ClusterBackends, Gateway


def interactive_sessions(gateway: Gateway) -> InteractiveSessions:
    """The interactive-session use cases on every cluster of ``gateway``."""
    return InteractiveSessions(
        apps=InteractiveApps(gateway.settings),
        submission=gateway.submission,
        backends=gateway.backends,
        sealer=sealer_for(gateway.settings.secret_key),
        clock=gateway.clock,
    )


@dataclass
class OpenTunnel:
    """A stream to an app and the context that closes it (the channel, then its pool slot)."""

    stream: AppStream
    _stack: contextlib.ExitStack

    def close(self) -> None:
        self._stack.close()


class AppTunnels:
    """``Tunnels`` for every cluster of a gateway, as each session's own login."""

    def __init__(self, gateway: Gateway, connect_timeout_s: float = 10.0) -> None:
        self._gateway = gateway
        self._timeout = connect_timeout_s

    def open(self, cluster: str, login: str, host: str, port: int) -> OpenTunnel:
        profile = self._gateway.profile(cluster)
        check_personal_login(profile, login)
        backends = self._gateway.backends(cluster)
        pool = backends.pool if isinstance(backends, ClusterBackends) else None
        stack = contextlib.ExitStack()
        if pool is not None:
            try:
                stream: AppStream = stack.enter_context(pool.tunnel(login, host, port))
            except SchedulerUnavailable as exc:
                # The login node refused the channel: the cluster answers, the app does not
                # (it ended, or never listened there): a 502 of the app, not a 503 of the cluster.
                if isinstance(exc.__cause__, paramiko.ChannelException):
                    raise BackendError(Text("the interactive app could not be reached")) from exc
                raise
            return OpenTunnel(stream, stack)
        try:
            sock = socket.create_connection((host, port), timeout=self._timeout)
        except OSError as exc:
            raise BackendError(Text("the interactive app could not be reached")) from exc
        # Kept open for several requests: Nagle would hold a request's last segment back.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        stack.callback(sock.close)
        return OpenTunnel(sock, stack)
