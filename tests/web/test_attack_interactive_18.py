"""Issue #18 attacked: what broke when interactive sessions were used and attacked by hand.

- The WebSocket relay handed the browser each piece wsproto gave it as a message of its own:
  an app's message longer than one read of the tunnel (a plot's PNG in a kernel's output, a
  large DataFrame) reached JupyterLab as several broken messages. Messages are now gathered
  whole, up to a bound past which the socket is closed (1009).
- The cookies passed on to the app were parsed with ``SimpleCookie``, which reads quotes: a
  cookie ``"`` before the gateway's session cookie and one ending in ``"`` after it (an app
  sets the first, a script of its page the second) made the gateway's ``HttpOnly`` session
  cookie part of one quoted value, and the app received it. An unclosed quote also dropped
  every cookie after it, JupyterLab's ``_xsrf`` too.
- A directory (or a fifo, a link loop, an unreadable file) at the connection file's name made
  reading the owner's own session fail: ``GET /interactive/sessions/<id>`` answered 403
  "… is not a regular file", ``interactive show`` exited 4, and nothing said why on the
  session. It is now a refused connection file like a malformed one: the session stays
  ``starting`` with the problem said, and runs once a good file is there.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Request, TextMessage

from myriagate.db.models.users import User
from myriagate.errors import MyriagateError, PermissionDenied, SchedulerRejected
from myriagate.web.interactive_websocket import MAX_MESSAGE_BYTES
from tests.conftest import FakeClock
from tests.fakes.app_tls import serve_tls
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.web.conftest import MakeUser
from tests.web.test_interactive_api import SESSIONS, _App, _running, app_server

__all__ = ["app_server"]  # the fixture, by name
AuthClient = Callable[[User], TestClient]
BIG = 300_000  # a kernel output holding a plot's PNG is often larger


class _BigMessageApp:
    """A WebSocket app that answers ``text N`` / ``bytes N`` with one message of N bytes,
    sent in one frame (as JupyterLab's server does) and in small TCP writes."""

    def __init__(self) -> None:
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
        ws = WSConnection(ConnectionType.SERVER)
        asked = ""
        with conn:
            while True:
                data = conn.recv(65536)
                ws.receive_data(data or None)
                for event in ws.events():
                    if isinstance(event, Request):
                        conn.sendall(ws.send(AcceptConnection()))
                    elif isinstance(event, TextMessage):
                        asked += event.data
                        if not event.message_finished:
                            continue
                        kind, size = asked.split()
                        asked = ""
                        reply = (
                            TextMessage(data="t" * int(size))
                            if kind == "text"
                            else BytesMessage(data=bytes(range(256)) * (int(size) // 256))
                        )
                        raw = ws.send(reply)
                        for at in range(0, len(raw), 8192):  # pieces, as a busy channel delivers them
                            conn.sendall(raw[at : at + 8192])
                    elif isinstance(event, CloseConnection):
                        with contextlib.suppress(OSError):  # the relay may have gone already
                            conn.sendall(ws.send(event.response()))
                        return
                if not data:
                    return


@pytest.fixture
def big_app() -> Iterator[_BigMessageApp]:
    server = _BigMessageApp()
    yield server
    server.close()


def test_a_large_message_of_the_app_reaches_the_browser_as_one_message(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock, big_app: _BigMessageApp,
) -> None:  # fmt: skip
    owner = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    started = _running(owner, fake_cluster, backends, app, clock, big_app.port)
    channel = f"/interactive/{started['id']}/api/kernels/k1/channels?session_id=s1"
    with owner.websocket_connect(channel, headers={"origin": "http://testserver"}) as ws:
        ws.send_text(f"text {BIG}")
        text = ws.receive_text()
        assert len(text) == BIG and set(text) == {"t"}, f"a {BIG}-character message came as {len(text)}"
        ws.send_text(f"bytes {BIG}")
        data = ws.receive_bytes()
        assert data == bytes(range(256)) * (BIG // 256)
        ws.send_text("text 5")  # the next message is still the next message
        assert ws.receive_text() == "ttttt"


def test_a_message_past_the_bound_closes_the_socket_instead_of_filling_memory(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock, big_app: _BigMessageApp,
) -> None:  # fmt: skip
    owner = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    started = _running(owner, fake_cluster, backends, app, clock, big_app.port)
    channel = f"/interactive/{started['id']}/api/kernels/k1/channels?session_id=s1"
    with owner.websocket_connect(channel, headers={"origin": "http://testserver"}) as ws:
        ws.send_text(f"bytes {MAX_MESSAGE_BYTES + 256}")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_bytes()
    assert closed.value.code == 1009


@pytest.mark.parametrize(
    ("sent", "passed"),
    [
        ('a="; myriagate_session=SECRET; z=x"', 'a="; z=x"'),
        ('_xsrf=2|ab; a="x; myriagate_session=SECRET; b=1', '_xsrf=2|ab; a="x; b=1'),
        ("myriagate_app_session=SECRET;_xsrf=1;  myriagate_session=SECRET", "_xsrf=1"),
    ],
)
def test_the_gateways_cookies_never_reach_the_app_whatever_quotes_surround_them(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock, app_server: int,
    sent: str, passed: str,
) -> None:  # fmt: skip
    owner = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    started = _running(owner, fake_cluster, backends, app, clock, app_server)
    answer = owner.get(f"/interactive/{started['id']}/api/status", headers={"cookie": sent})
    assert answer.status_code == 200, answer.text
    cookie = _App.seen[-1]["headers"].get("cookie", "")
    assert "SECRET" not in cookie
    assert cookie == passed


@pytest.mark.parametrize(
    "refusal",
    [
        PermissionDenied("/home/alice/.myriagate/interactive/x/connection.json is not a regular file"),
        SchedulerRejected("find: '/home/alice/…/connection.json': Too many levels of symbolic links"),
    ],
)
def test_a_directory_or_link_loop_at_the_connection_files_name_is_said_on_the_session(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock, app_server: int,
    refusal: MyriagateError,
) -> None:  # fmt: skip
    owner = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    started = _running(owner, fake_cluster, backends, app, clock, app_server)
    fake_cluster.fail_next("read_private", refusal)
    shown = owner.get(f"{SESSIONS}/{started['id']}")
    assert shown.status_code == 200, shown.text
    assert shown.json()["state"] == "starting"
    assert str(refusal.detail) in shown.json()["problem"]
    proxied = owner.get(f"/interactive/{started['id']}/api/status")  # read again: the good file now
    assert proxied.status_code == 200, proxied.text
    again = owner.get(f"{SESSIONS}/{started['id']}").json()
    assert again["state"] == "running" and again["problem"] is None
