"""What the interactive sessions need from outside: a byte stream to an app on a node."""

from __future__ import annotations

from typing import Protocol


class AppStream(Protocol):
    """A connected byte stream (a paramiko direct-tcpip channel, or a socket)."""

    def recv(self, size: int, /) -> bytes: ...
    def sendall(self, data: bytes, /) -> None: ...
    def settimeout(self, timeout: float | None, /) -> None: ...


class Tunnel(Protocol):
    """An open stream to the app, and how to close it."""

    stream: AppStream

    def close(self) -> None: ...


class Tunnels(Protocol):
    """Opens streams to ``host:port`` as seen from the cluster's login node, as ``login``."""

    def open(self, cluster: str, login: str, host: str, port: int) -> Tunnel: ...
