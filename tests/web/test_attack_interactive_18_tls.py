"""Issue #18 attacked again (2026-12-05), in process: the proxy's pinned TLS.

Another login's server at an ended app's port drips its TLS handshake.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer

import anyio.to_thread
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

from myriagate.db.models.users import User
from myriagate.web import interactive_upstream
from tests.conftest import FakeClock
from tests.fakes.app_tls import serve_tls
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.fakes.fake_ws_app import FakeWsApp
from tests.web.conftest import MakeUser
from tests.web.test_interactive_api import _running, ws_app  # noqa: F401 - a fixture used below
from tests.web.test_interactive_tls_pin import alices_app  # noqa: F401 - a fixture used below

AuthClient = Callable[[User], TestClient]
SAME_SITE = {"origin": "http://testserver"}


class _ScriptedApp:
    """A TLS WebSocket server on loopback (the session's certificate, as JupyterLab serves):
    it echoes each message once it has it whole; ``behaviour`` says what else it does."""

    def __init__(self, behaviour: str = "echo") -> None:
        self.behaviour = behaviour
        self._server = serve_tls(socket.create_server(("127.0.0.1", 0)))
        self.port: int = self._server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self) -> None:
        self._server.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        ws, text = WSConnection(ConnectionType.SERVER), []
        with contextlib.suppress(OSError), conn:
            while data := conn.recv(65536):
                ws.receive_data(data)
                for event in ws.events():
                    if isinstance(event, Request):
                        accept = ws.send(AcceptConnection())
                        if self.behaviour == "greet":  # the answer and a first message, one write
                            accept += ws.send(TextMessage(data='["setup", {}]'))
                        conn.sendall(accept)
                    elif isinstance(event, TextMessage) and self.behaviour == "cut":
                        conn.sendall(ws.send(TextMessage(data="half of a mess", message_finished=False)))
                        return  # killed mid-message: no close frame, no TLS close_notify
                    elif isinstance(event, TextMessage):
                        text.append(event.data)
                        if event.message_finished:
                            conn.sendall(ws.send(TextMessage(data="echo: " + "".join(text))))
                            text.clear()
                    elif isinstance(event, CloseConnection):
                        conn.sendall(ws.send(event.response()))
                        return


@pytest.fixture
def scripted() -> Iterator[Callable[[str], _ScriptedApp]]:
    apps: list[_ScriptedApp] = []

    def make(behaviour: str) -> _ScriptedApp:
        apps.append(_ScriptedApp(behaviour))
        return apps[-1]

    yield make
    for made in apps:
        made.close()


class _Dripper:
    """Bob's server at a freed port: to every connection, the header of a 16 KiB TLS handshake
    record, then one byte every half second, for as long as the gateway waits."""

    def __init__(self, port: int) -> None:
        self.listening = socket.create_server(("127.0.0.1", port))
        self.held = 0
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listening.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        self.held += 1
        with conn, contextlib.suppress(OSError):
            conn.recv(65536)
            conn.sendall(b"\x16\x03\x03\x40\x00")
            while not self.stop.wait(0.5):
                conn.sendall(b"\x00")

    def close(self) -> None:
        self.stop.set()
        self.listening.close()


def test_a_freed_port_whose_new_owner_drips_the_handshake_costs_alice_a_502_in_time(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock,
    alices_app: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch,  # noqa: F811 - the fixture
) -> None:  # fmt: skip
    """On the dev cluster bob's dripping server at alice's freed port held every proxied
    request's handshake, and the gateway's worker thread with it, for good: 40 of them (alice's
    tab polling for 30 s, twice) and no sign-in page answered any more, for anybody."""
    monkeypatch.setattr(interactive_upstream, "_HANDSHAKE_S", 1.0)  # 10 s in production
    owner = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    port = alices_app.server_address[1]
    base = f"/interactive/{_running(owner, fake_cluster, backends, app, clock, port)['id']}/"
    assert owner.get(base + "api/status").status_code == 200
    alices_app.shutdown()
    alices_app.server_close()
    bob = _Dripper(port)
    answers: list[int] = []
    asking = threading.Thread(
        target=lambda: answers.extend(owner.get(base + "api/kernels").status_code for _ in range(3)),
        daemon=True,
    )
    started = time.monotonic()
    asking.start()
    asking.join(20)  # three requests, a retry each, 1 s handshakes: 6 s and some
    took, waiting = time.monotonic() - started, asking.is_alive()
    bob.close()  # before the fix, only this let the handshakes (and the requests) end
    asking.join(20)
    assert not waiting, f"alice's requests were still waiting {took:.0f} s on (a 1 s handshake deadline)"
    assert answers == [502] * 3 and bob.held >= 3


def _gateway_threads_in_use() -> int:
    """Of the gateway's worker threads (anyio's default limiter, 40: every sync route's), how
    many are taken now."""
    return int(anyio.to_thread.current_default_thread_limiter().borrowed_tokens)


def test_open_websockets_hold_none_of_the_gateways_threads(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock,
    ws_app: FakeWsApp,  # noqa: F811 - the fixture
) -> None:  # fmt: skip
    """Each relayed WebSocket kept one of the gateway's 40 worker threads for as long as it was
    open (a read of the app, waiting): on the dev stack, with 40 sockets open to alice's
    JupyterLab (a few tabs of notebooks and terminals; or ten researchers' tabs), /api/v1/me
    and the pages waited for ever, for everybody, and so did a 41st socket."""
    owner = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    started = _running(owner, fake_cluster, backends, app, clock, ws_app.port)
    channel = f"/interactive/{started['id']}/api/kernels/k1/channels"
    with owner, contextlib.ExitStack() as sockets:  # one event loop for all, as a server has
        assert owner.portal is not None
        for n in range(3):
            ws = sockets.enter_context(owner.websocket_connect(channel, headers=SAME_SITE))
            ws.send_text(f"hello {n}")
            assert ws.receive_text() == f"echo: hello {n}"  # relayed both ways, then idle
        deadline = time.monotonic() + 5
        while (taken := owner.portal.call(_gateway_threads_in_use)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert taken == 0, f"3 idle WebSockets hold {taken} of the gateway's worker threads"
        assert owner.get("/api/v1/me").status_code == 200
        ws.send_text("still there")
        assert ws.receive_text() == "echo: still there"


def test_a_large_message_crosses_the_non_blocking_relay_both_ways_whole(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock,
    scripted: Callable[[str], _ScriptedApp],
) -> None:  # fmt: skip
    """Sends to the app now go piece by piece as the tunnel takes them (the stream stays
    non-blocking for the loop's reads): 6 MB each way, far more than a socket's buffers, must
    arrive whole and in order."""
    owner = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    echo = scripted("echo")
    started = _running(owner, fake_cluster, backends, app, clock, echo.port)
    big = "".join(f"{n:07d}," for n in range(750_000))
    channel = f"/interactive/{started['id']}/api/kernels/k1/channels"
    with owner.websocket_connect(channel, headers=SAME_SITE) as ws:
        ws.send_text(big)
        assert ws.receive_text() == "echo: " + big
        ws.send_text("small")
        assert ws.receive_text() == "echo: small"


def test_a_message_sent_with_the_apps_handshake_answer_reaches_the_browser(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock,
    scripted: Callable[[str], _ScriptedApp],
) -> None:  # fmt: skip
    """terminado (JupyterLab's terminals) sends ``["setup", {}]`` as soon as it accepts. The
    relay read the app's answer to its handshake and dropped whatever came in the same read:
    a first message written with the answer (one TLS record here) never reached the browser."""
    owner = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    greeter = scripted("greet")
    started = _running(owner, fake_cluster, backends, app, clock, greeter.port)
    channel = f"/interactive/{started['id']}/terminals/websocket/1"
    received: list[str] = []
    with owner.websocket_connect(channel, headers=SAME_SITE) as ws:
        ws.send_text("ls")  # answered whatever happened to the greeting
        while not received or received[-1] != "echo: ls":
            received.append(ws.receive_text())
    assert received == ['["setup", {}]', "echo: ls"]


def test_an_app_killed_mid_message_is_an_error_to_the_browser_not_a_normal_close(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock,
    scripted: Callable[[str], _ScriptedApp],
) -> None:  # fmt: skip
    """The app's socket ends without a close frame: wsproto reports that as 1006, a code no
    endpoint may send (RFC 6455 7.4.1). The relay passed it on, and uvicorn's wsproto turns a
    local-only code into 1000: the browser was told its socket closed normally."""
    owner = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    dying = scripted("cut")
    started = _running(owner, fake_cluster, backends, app, clock, dying.port)
    channel = f"/interactive/{started['id']}/api/kernels/k1/channels"
    with owner.websocket_connect(channel, headers=SAME_SITE) as ws:
        ws.send_text("run")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()  # the half message is never handed on as if whole
    assert closed.value.code == 1011
