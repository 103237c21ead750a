"""The proxy keeps its connections to an app open and reuses them (issue #18, the latency
target): one tunnel for many requests, a connection the app closed replaced without an error,
none kept past its age, all closed once the session ends. A keep-alive HTTP/1.1 server on
loopback stands in for the app; the tunnels are counted."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from myriagate.domain.interactive import Connection
from myriagate.services.interactive.ports import AppStream
from myriagate.services.interactive.sessions import ProxyTarget
from myriagate.web.interactive_upstream import AppConnections, _TunnelStream
from tests.conftest import FakeClock
from tests.fakes.app_tls import fingerprint, serve_tls
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.web.conftest import MakeUser
from tests.web.test_interactive_api import TOKEN, _running, _tick

AuthClient = Callable[..., TestClient]


class _KeepAliveApp(BaseHTTPRequestHandler):
    """An app that keeps connections open (HTTP/1.1), or drops each after one answer."""

    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # an answer in one write, as servers do (else Nagle delays each by 40 ms)
    drop_after_answer: ClassVar[bool] = False

    def do_GET(self) -> None:
        if self.headers.get("authorization") != f"token {TOKEN}":
            self.send_response(403)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        payload = b"y" * 200_000 if self.path.endswith("/big") else f"ok {self.path}".encode()
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        if _KeepAliveApp.drop_after_answer:  # closed without saying so: the proxy must notice
            self.wfile.flush()
            self.close_connection = True

    do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Socket:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.stream: AppStream = sock

    def close(self) -> None:
        self.sock.close()


class CountingTunnels:
    """Tunnels as plain TCP connections (a ``runner = "local"`` cluster), counted."""

    def __init__(self) -> None:
        self.opened = 0

    def open(self, cluster: str, login: str, host: str, port: int) -> _Socket:
        self.opened += 1
        return _Socket(socket.create_connection((host, port), timeout=10))


@pytest.fixture
def keep_alive_app() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveApp)
    server.socket = serve_tls(server.socket)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _KeepAliveApp.drop_after_answer = False
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def tunnels(app: FastAPI) -> CountingTunnels:
    counting = CountingTunnels()
    app.state.interactive_tunnels = counting
    return counting


def test_requests_to_an_app_reuse_one_kept_connection(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock, keep_alive_app: int,
    tunnels: CountingTunnels,
) -> None:  # fmt: skip
    owner = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    base = f"/interactive/{_running(owner, fake_cluster, backends, app, clock, keep_alive_app)['id']}/"
    for n in range(10):
        answer = owner.get(f"{base}api/status?n={n}")
        assert answer.status_code == 200 and answer.text == f"ok {base}api/status?n={n}"
    big = owner.get(base + "files/big")  # streamed (past the small-answer size), read to its end
    assert big.status_code == 200 and len(big.content) == 200_000
    assert owner.head(base + "api/status").status_code == 200
    assert owner.get(base + "api/status").status_code == 200
    assert tunnels.opened == 1


def test_a_connection_the_app_dropped_is_replaced_without_an_error(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock, keep_alive_app: int,
    tunnels: CountingTunnels,
) -> None:  # fmt: skip
    _KeepAliveApp.drop_after_answer = True
    owner = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    base = f"/interactive/{_running(owner, fake_cluster, backends, app, clock, keep_alive_app)['id']}/"
    for _ in range(3):
        assert owner.get(base + "api/status").status_code == 200
        time.sleep(0.05)  # the close reaches the proxy's side
    assert tunnels.opened == 3


def test_an_ended_sessions_connections_are_closed(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock, keep_alive_app: int,
    tunnels: CountingTunnels,
) -> None:  # fmt: skip
    owner = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    started = _running(owner, fake_cluster, backends, app, clock, keep_alive_app)
    base = f"/interactive/{started['id']}/"
    assert owner.get(base + "api/status").status_code == 200
    assert app.state.interactive_connections.open_sessions() == [uuid.UUID(started["id"])]
    fake_cluster.set_state(started["slurm_job_id"], "CANCELLED")
    _tick(backends, app, clock)
    time.sleep(2.1)  # the owner's kept decision (interactive_access.TTL_S) lapses
    assert owner.get(base + "api/status").status_code == 409
    assert app.state.interactive_connections.open_sessions() == []


def _target(port: int, host: str = "127.0.0.1") -> ProxyTarget:
    return ProxyTarget(
        "devcluster",
        "alice",
        Connection(host, port, TOKEN, fingerprint()),
        ("Authorization", f"token {TOKEN}"),
    )


async def _get(connections: AppConnections, session_id: uuid.UUID, target: ProxyTarget) -> bytes:
    pool = connections.pool(session_id, target)
    url = f"http://{target.connection.host}:{target.connection.port}/x"
    headers = [(b"host", b"app"), (b"authorization", target.header[1].encode())]
    response = await pool.request("GET", url, headers=headers)
    assert response.status == 200
    return response.content


def test_kept_connections_have_an_age_limit_and_a_new_target_gets_new_ones(keep_alive_app: int) -> None:
    async def check() -> None:
        counting = CountingTunnels()
        session_id = uuid.uuid4()
        young = AppConnections(lambda: counting, max_age_s=60)
        for _ in range(3):
            await _get(young, session_id, _target(keep_alive_app))
        assert counting.opened == 1
        first = young.pool(session_id, _target(keep_alive_app))
        moved = _target(keep_alive_app, host="localhost")  # the app announced another address
        await _get(young, session_id, moved)
        assert counting.opened == 2 and young.pool(session_id, moved) is not first
        await asyncio.sleep(0.05)
        assert first.connections == []  # the old pool's connections were closed
        await young.aclose()

        counting.opened = 0
        old = AppConnections(lambda: counting, max_age_s=0)
        for _ in range(3):
            await _get(old, session_id, _target(keep_alive_app))
        assert counting.opened == 3  # none reused past its age
        await old.aclose()

    asyncio.run(check())


def test_idle_pools_are_reaped(keep_alive_app: int) -> None:
    async def check() -> None:
        connections = AppConnections(CountingTunnels, idle_s=0.05)
        session_id = uuid.uuid4()
        await _get(connections, session_id, _target(keep_alive_app))
        assert connections.open_sessions() == [session_id]
        await asyncio.sleep(0.1)
        await connections.reap()
        assert connections.open_sessions() == []
        await connections.aclose()

    asyncio.run(check())


class _ChannelLike:
    """What the proxy uses of a paramiko channel, recording which thread sent what."""

    def __init__(self, key_exchange: bool) -> None:
        self.clear_to_send = threading.Event()
        if not key_exchange:
            self.clear_to_send.set()
        self.sent: list[tuple[str, bytes, bool]] = []

    def get_transport(self) -> _ChannelLike:
        return self

    def send(self, data: bytes) -> int:
        self.sent.append(("send", data, threading.current_thread() is threading.main_thread()))
        return len(data)

    def sendall(self, data: bytes) -> None:
        self.sent.append(("sendall", data, threading.current_thread() is threading.main_thread()))

    def settimeout(self, timeout: float | None) -> None:
        pass

    def recv(self, size: int) -> bytes:
        return b""

    def fileno(self) -> int:
        return -1


class _LikeTunnel:
    def __init__(self, stream: _ChannelLike) -> None:
        self.stream: AppStream = cast(AppStream, stream)

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("key_exchange", "size", "expected"), [
    (False, 300, [("send", True)]),  # a request's headers: from the event loop
    (True, 300, [("sendall", False)]),  # an SSH key exchange under way: never on the event loop
    (False, 200_000, [("sendall", False)]),  # a large body: a thread waits for the window
])  # fmt: skip
def test_the_event_loop_sends_only_what_cannot_wait(
    key_exchange: bool, size: int, expected: list[tuple[str, bool]]
) -> None:
    channel = _ChannelLike(key_exchange)
    stream = _TunnelStream(_LikeTunnel(channel), max_age_s=60)
    asyncio.run(stream.write(b"x" * size, timeout=5))
    assert [(how, on_loop) for how, _, on_loop in channel.sent] == expected
    assert b"".join(data for _, data, _ in channel.sent) == b"x" * size
