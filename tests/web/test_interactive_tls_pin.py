"""Issue #18 attacked, in process: an app's freed port taken by another login.

Until the worker's poll sees an interactive session's job end (up to its poll interval), the
proxy still sends the owner's requests to the host and port the app's connection file named.
Once the app is gone any login with a process on the node can listen there: bob bound the
freed port within 20 ms on the dev cluster, and was served alice's requests with the app's
token, and his page to her on the gateway's origin. Now the app serves TLS with a certificate
of its own whose fingerprint the connection file names: the proxy completes no connection to a
server without that certificate's key, so bob's server gets nothing (no request, no token),
and the owner gets a 502, for HTTP and WebSocket alike.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse

from myriagate.db.models.users import User
from tests.conftest import FakeClock
from tests.fakes.app_tls import serve_tls
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.web.conftest import MakeUser
from tests.web.test_interactive_api import TOKEN, _App, _running

AuthClient = Callable[[User], TestClient]


class _Bob(BaseHTTPRequestHandler):
    """Another login's server at the freed port: it answers anything, keeps what it was sent."""

    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        _Bob.seen.append({k.lower(): v for k, v in self.headers.items()})
        body = b"<html><script>/* bob's */</script>SQUATTED</html>"
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Raw:
    """A plain TCP server keeping every byte it is sent (bob speaking no TLS at all)."""

    def __init__(self, port: int) -> None:
        self.listening = socket.create_server(("127.0.0.1", port), reuse_port=False)
        self.received = bytearray()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listening.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    while data := conn.recv(65536):
                        self.received += data
                        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nSQUATTED")
                except OSError:
                    pass


def _free_and_take(alice: ThreadingHTTPServer, kind: str) -> Callable[[], None]:
    """Stop alice's app and put bob's server at its port; returns the stopper of bob's server."""
    app_server_port = alice.server_address[1]
    alice.shutdown()
    alice.server_close()
    if kind == "plain":
        raw = _Raw(app_server_port)
        _RAW.append(raw)
        return raw.listening.close
    bob = ThreadingHTTPServer(("127.0.0.1", app_server_port), _Bob)
    bob.socket = serve_tls(bob.socket, name="bob-made-this")  # TLS, with bob's own certificate
    threading.Thread(target=bob.serve_forever, daemon=True).start()

    def stop() -> None:
        bob.shutdown()
        bob.server_close()

    return stop


_RAW: list[_Raw] = []


@pytest.fixture
def alices_app() -> ThreadingHTTPServer:
    """Alice's app (JupyterLab's stand-in), serving TLS with the session's certificate; the
    test stops it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    server.socket = serve_tls(server.socket)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _App.seen.clear()
    return server


@pytest.fixture
def squatting() -> Iterator[list[Callable[[], None]]]:
    stoppers: list[Callable[[], None]] = []
    _Bob.seen.clear()
    _RAW.clear()
    yield stoppers
    for stop in stoppers:
        stop()


@pytest.mark.parametrize("kind", ["tls with its own certificate", "plain"])
def test_a_freed_port_taken_by_another_login_gets_nothing_and_serves_nothing(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock, alices_app: ThreadingHTTPServer,
    squatting: list[Callable[[], None]], kind: str,
) -> None:  # fmt: skip
    owner = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    port = alices_app.server_address[1]
    base = f"/interactive/{_running(owner, fake_cluster, backends, app, clock, port)['id']}/"
    assert owner.get(base + "api/status").status_code == 200  # alice's app itself
    assert _App.seen[-1]["headers"]["authorization"] == f"token {TOKEN}"

    squatting.append(_free_and_take(alices_app, "plain" if kind == "plain" else "tls"))
    with structlog.testing.capture_logs() as logs:
        answers = [owner.get(base + "lab") for _ in range(5)]  # the worker has not seen the end yet
    assert [a.status_code for a in answers] == [502] * 5
    assert not any("SQUATTED" in a.text for a in answers)
    assert _Bob.seen == []  # no request reached bob's server, so neither did the token
    for raw in _RAW:
        assert TOKEN.encode() not in bytes(raw.received) and b"GET" not in bytes(raw.received)
    if kind != "plain":
        assert any(e["event"] == "interactive.not_the_app" for e in logs), logs

    channel = base + "api/kernels/k1/channels"
    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        owner.websocket_connect(channel, headers={"origin": "http://testserver"}),
    ):
        pass
    assert denied.value.status_code == 502 and _Bob.seen == []


def test_an_app_that_is_gone_is_a_502_of_the_app_not_a_503_of_the_cluster(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock, alices_app: ThreadingHTTPServer,
) -> None:  # fmt: skip
    """Found trying it: just after an app stopped (before the worker saw its job end), the
    proxy said "Cluster unavailable" (503), as if Slurm were down, when only the app was gone."""
    owner = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    port = alices_app.server_address[1]
    base = f"/interactive/{_running(owner, fake_cluster, backends, app, clock, port)['id']}/"
    assert owner.get(base + "api/status").status_code == 200
    alices_app.shutdown()
    alices_app.server_close()  # nothing listens at the port any more
    gone = owner.get(base + "lab", headers={"accept": "application/json"})
    assert gone.status_code == 502, gone.text
    assert "could not be reached" in gone.json()["detail"]


def test_an_array_of_sessions_is_refused_and_nothing_is_submitted(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
) -> None:  # fmt: skip
    """Found trying it: ``--array`` was taken, and made N apps sharing one session directory."""
    owner = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    body = {"app": "jupyter", "options": {"time": "00:30:00", "partition": "debug", "array": "1-3"}}
    refused = owner.post("/api/v1/interactive/sessions", json=body)
    assert refused.status_code == 422, refused.text
    assert "--array is not allowed" in refused.json()["detail"]
    french = owner.post("/api/v1/interactive/sessions", json=body, headers={"accept-language": "fr"})
    assert "--array n'est pas permis" in french.json()["detail"]
    assert fake_cluster.jobs == {}


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_a_session_url_opened_without_signing_in_offers_to_log_in_and_tells_nothing(
    make_user: MakeUser, auth_client: AuthClient, client: TestClient, lang: str,
) -> None:  # fmt: skip
    """Found trying it: the URL `interactive start` prints, opened in a browser not signed in,
    was a bare "Not found" with no way to sign in. It stays a 404, the same for a session that
    exists or not (tells nothing), now with a link to log in and come back."""
    owner = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    body = {"app": "jupyter", "options": {"time": "00:30:00", "partition": "debug"}}
    started = owner.post("/api/v1/interactive/sessions", json=body).json()
    html = {"accept": "text/html", "accept-language": lang}
    ids = (started["id"], uuid.uuid4())  # one that exists, one that does not: the same answer
    pages = [client.get(f"/interactive/{sid}/lab?reset", headers=html) for sid in ids]
    assert [page.status_code for page in pages] == [404, 404]
    for page in pages:
        assert 'href="/login?next=%2Finteractive%2F' in page.text
        assert ("Log in" if lang == "en" else "Se connecter") in page.text
    signed_in = owner.get(f"/interactive/{uuid.uuid4()}/lab", headers=html)
    assert signed_in.status_code == 404 and 'id="sign-in"' not in signed_in.text
