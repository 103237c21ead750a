"""Interactive sessions through the in-process API (issue #18): start (a held, tracked job),
queued -> starting -> running once the app's connection file is there, the proxy to the app
(a real HTTP server on loopback stands in for JupyterLab), owners only, stop = scancel."""

from __future__ import annotations

import gzip
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from starlette.testclient import WebSocketDenialResponse

from myriagate.db.models.audit import AuditEvent
from myriagate.db.models.interactive import InteractiveSession
from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.services.allocations import settlement
from myriagate.services.jobs import tracking
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.app_tls import connection_file, serve_tls
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.fakes.fake_ws_app import FakeWsApp
from tests.web.conftest import MakeUser, assert_problem
from tests.web.test_pages_jobs import grant_hours

SESSIONS = "/api/v1/interactive/sessions"
AuthClient = Callable[[User], TestClient]
TOKEN = "f" * 48


class _App(BaseHTTPRequestHandler):
    """What JupyterLab looks like from the proxy: it wants its token in a header."""

    seen: ClassVar[list[dict[str, Any]]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        _App.seen.append(
            {
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
                "method": self.command,
            }
        )
        if self.headers.get("authorization") != f"token {TOKEN}":
            self.send_response(403)
            self.end_headers()
            return
        payload = b"x" * 300_000 if self.path.endswith("/big") else json.dumps({"path": self.path}).encode()
        kind, encoding = "application/json", None
        if self.path.endswith("/lab"):  # JupyterLab writes its token into its pages
            payload, kind = f'<html><script>{{"token": "{TOKEN}"}}</script></html>'.encode(), "text/html"
            if "gzip" in self.headers.get("accept-encoding", ""):
                payload, encoding = gzip.compress(payload), "gzip"
        self.send_response(200)
        self.send_header("content-type", kind)
        if encoding:
            self.send_header("content-encoding", encoding)
        self.send_header("content-length", str(len(payload)))
        self.send_header("set-cookie", "_xsrf=abc; Path=/; Domain=example.org")
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def app_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    server.socket = serve_tls(server.socket)  # JupyterLab serves TLS; the proxy pins its certificate
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _App.seen.clear()
    yield server.server_address[1]
    server.shutdown()


def _tick(backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock) -> None:
    with app.state.gateway.session_factory() as session:
        tracking.tick(session, cluster=CLUSTER, backends=backends, clock=clock, ledger=worker_ledger(clock))


def _start(client: Any, **body: Any) -> dict[str, Any]:
    body = {"app": "jupyter", "options": {"time": "00:30:00", "partition": "debug"}, **body}
    response = client.post(SESSIONS, json=body)
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"{SESSIONS}/{response.json()['id']}"
    out: dict[str, Any] = response.json()
    return out


def _running(
    client: Any, fake_cluster: FakeCluster, backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock,
    port: int, login: str = "alice",
) -> dict[str, Any]:  # fmt: skip
    started = _start(client)
    fake_cluster.set_state(started["slurm_job_id"], "RUNNING")
    _tick(backends, app, clock)
    path = f"/home/{login}/.myriagate/interactive/{started['id']}/connection.json"
    fake_cluster.files[path] = connection_file("127.0.0.1", port, TOKEN)
    return started


def test_a_session_is_a_job_that_goes_queued_starting_running_and_ended(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock, db: Session,
) -> None:  # fmt: skip
    app.state.clock = clock  # remaining time on the fake cluster's clock
    alice = make_user(username="alice@unicaen.fr", login="alice")
    client = auth_client(alice)
    started = _start(client)
    assert started["state"] == "queued" and started["url"] == f"/interactive/{started['id']}/"
    job = fake_cluster.jobs[started["slurm_job_id"]]
    assert "--ServerApp.base_url=/interactive/" + started["id"] + "/" in job.script
    fake_cluster.set_state(started["slurm_job_id"], "PENDING", reason="Resources")
    _tick(backends, app, clock)
    queued = client.get(f"{SESSIONS}/{started['id']}").json()
    assert (queued["state"], queued["reason"]) == ("queued", "Resources")

    fake_cluster.set_state(started["slurm_job_id"], "RUNNING")
    _tick(backends, app, clock)
    assert client.get(f"{SESSIONS}/{started['id']}").json()["state"] == "starting"
    path = f"/home/alice/.myriagate/interactive/{started['id']}/connection.json"
    fake_cluster.files[path] = connection_file("10.1.2.3", 40000, TOKEN)
    running = client.get(f"{SESSIONS}/{started['id']}").json()
    assert running["state"] == "running" and running["remaining_s"] == 30 * 60
    assert TOKEN not in json.dumps(running)
    row = db.get(InteractiveSession, uuid.UUID(started["id"]))
    assert row is not None and row.sealed_secret is not None and TOKEN not in row.sealed_secret
    assert [s["id"] for s in client.get(SESSIONS).json()] == [started["id"]]

    stopped = client.delete(f"{SESSIONS}/{started['id']}")
    assert stopped.status_code == 200, stopped.text
    assert fake_cluster.jobs[started["slurm_job_id"]].state == "CANCELLED"
    _tick(backends, app, clock)
    assert client.get(f"{SESSIONS}/{started['id']}").json()["state"] == "ended"


def test_the_proxy_reaches_the_app_with_its_token_for_the_owner_only(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock, app_server: int, client: Any,
) -> None:  # fmt: skip
    alice = make_user(username="alice@unicaen.fr", login="alice")
    bob = make_user(username="bob@unicaen.fr", login="bob")
    owner = auth_client(alice)
    started = _running(owner, fake_cluster, backends, app, clock, app_server)
    base = f"/interactive/{started['id']}/"

    answer = owner.get(base + "api/status?x=1", headers={"cookie": "myriagate_session=s3cret; other=1"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"path": base + "api/status?x=1"}
    sent = _App.seen[-1]["headers"]
    assert sent["authorization"] == f"token {TOKEN}"  # the app's, never the caller's Bearer
    assert sent.get("cookie") == "other=1"  # the gateway's session cookie stays with the gateway
    assert answer.headers["set-cookie"] == f"_xsrf=abc; Path={base}"
    assert TOKEN not in answer.text

    page = owner.get(base + "lab")
    assert page.status_code == 200 and page.text == '<html><script>{"token": ""}</script></html>'
    assert TOKEN not in page.text and "content-encoding" not in page.headers
    big = owner.get(base + "files/big")
    assert big.status_code == 200 and len(big.content) == 300_000
    posted = owner.put(base + "api/contents/a.txt", content=b"hello")
    assert posted.status_code == 200 and _App.seen[-1]["body"] == b"hello"

    seen = len(_App.seen)
    assert auth_client(bob).get(base + "api/status").status_code == 404
    assert client.get(base + "api/status").status_code == 404
    assert client.get(f"/interactive/{uuid.uuid4()}/api/status").status_code == 404
    for forged in ("not-an-id", "..", started["id"][:8], "%0a"):  # a forged id: the same 404, never a 422
        assert owner.get(f"/interactive/{forged}/api/status").status_code == 404
    assert len(_App.seen) == seen  # nothing reached the app


def test_a_change_from_another_site_is_refused(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock, app_server: int,
) -> None:  # fmt: skip
    owner = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    started = _running(owner, fake_cluster, backends, app, clock, app_server)
    answer = owner.post(
        f"/interactive/{started['id']}/api/kernels", headers={"origin": "https://evil.example"}
    )
    assert answer.status_code == 403


def test_the_proxy_waits_for_a_running_app(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster
) -> None:
    owner = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    started = _start(owner)
    assert owner.get(f"/interactive/{started['id']}/lab").status_code == 409


def test_another_users_session_is_404_and_stays(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster
) -> None:
    alice = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    bob = auth_client(make_user(username="bob@unicaen.fr", login="bob"))
    started = _start(alice)
    assert_problem(bob.get(f"{SESSIONS}/{started['id']}"), 404)
    assert_problem(bob.delete(f"{SESSIONS}/{started['id']}"), 404)
    assert bob.get(SESSIONS).json() == []
    assert fake_cluster.jobs[started["slurm_job_id"]].state == "PENDING"


@pytest.mark.parametrize(
    "body",
    [
        {"app": "rstudio"},
        {"app": "jupyter", "params": {"session_id": "../../etc"}},
        {"app": "jupyter", "params": {"environment": "$(touch /tmp/x)\n"}},
        {"app": "jupyter", "params": {"nope": "1"}},
        {"app": "jupyter", "options": {"time": "forever"}},
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster, db: Session, body: dict[str, Any]
) -> None:
    client = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    before = (
        db.scalar(sa.select(sa.func.count()).select_from(Job)),
        db.scalar(sa.select(sa.func.count()).select_from(AuditEvent)),
    )
    assert_problem(client.post(SESSIONS, json=body), 422)
    db.expire_all()
    after = (
        db.scalar(sa.select(sa.func.count()).select_from(Job)),
        db.scalar(sa.select(sa.func.count()).select_from(AuditEvent)),
    )
    assert after == before and fake_cluster.jobs == {}


def test_apps_are_listed_in_the_callers_language(make_user: MakeUser, auth_client: AuthClient) -> None:
    client = auth_client(make_user())
    english = client.get("/api/v1/interactive/apps").json()
    french = client.get("/api/v1/interactive/apps", headers={"accept-language": "fr"}).json()
    assert english[0]["name"] == "jupyter" and "compute node" in english[0]["description"]
    assert "nœud de calcul" in french[0]["description"]


@pytest.fixture
def ws_app() -> Iterator[FakeWsApp]:
    app = FakeWsApp(f"token {TOKEN}")
    yield app
    app.close()


def test_a_websocket_is_relayed_for_the_owner_only(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock, ws_app: FakeWsApp, client: Any,
) -> None:  # fmt: skip
    owner = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    bob = auth_client(make_user(username="bob@unicaen.fr", login="bob"))
    started = _running(owner, fake_cluster, backends, app, clock, ws_app.port)
    channel = f"/interactive/{started['id']}/api/kernels/k1/channels?session_id=s1"
    same_site = {"origin": "http://testserver"}
    with owner.websocket_connect(
        channel, headers=same_site, subprotocols=["v1.kernel.websocket.jupyter.org"]
    ) as ws:
        ws.send_text("hello")
        assert ws.receive_text() == "echo: hello"
        ws.send_text("again")
        assert ws.receive_text() == "echo: again"
    (seen,) = ws_app.handshakes
    assert seen["target"] == channel and seen["headers"]["authorization"] == f"token {TOKEN}"
    assert seen["subprotocols"] == ["v1.kernel.websocket.jupyter.org"]
    for other in (bob, client):
        with (
            pytest.raises(WebSocketDenialResponse) as denied,
            other.websocket_connect(channel, headers=same_site),
        ):
            pass
        assert denied.value.status_code == 404
    evil = {"origin": "https://evil.example"}
    with pytest.raises(WebSocketDenialResponse) as cross_site, owner.websocket_connect(channel, headers=evil):
        pass
    assert cross_site.value.status_code == 403
    with (
        pytest.raises(WebSocketDenialResponse) as forged,
        owner.websocket_connect("/interactive/x/y", headers=same_site),
    ):
        pass
    assert forged.value.status_code == 404
    assert len(ws_app.handshakes) == 1  # none of those reached the app


@pytest.mark.parametrize("settings_overrides", [{"enforce_allocations": True}])
def test_a_session_is_held_then_charged_for_what_it_ran_like_any_job(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock, db: Session,
) -> None:  # fmt: skip
    client = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    grant_hours(db, clock, "caen-climat", 100)
    app.state.clock = clock  # inside the period granted
    started = _start(client)  # 30 minutes on one core asked
    held = client.get("/api/v1/allocations").json()[0]
    assert held["held"]["core_seconds"] > 0 and held["charged"]["core_seconds"] == 0
    fake_cluster.set_state(started["slurm_job_id"], "RUNNING")
    clock.advance(120)
    client.delete(f"{SESSIONS}/{started['id']}")  # Stop after two minutes
    _tick(backends, app, clock)
    gateway = app.state.gateway
    with gateway.session_factory() as session:  # what the worker does after each tick
        settled, _ = settlement.settle_finished(
            session, cluster=CLUSTER, profile=gateway.profile(CLUSTER), backends=backends,
            ledger=worker_ledger(clock),
        )  # fmt: skip
    assert settled == 1
    after = client.get("/api/v1/allocations").json()[0]
    assert after["held"]["core_seconds"] == 0
    assert 0 < after["charged"]["core_seconds"] < held["held"]["core_seconds"]
    assert client.get(f"{SESSIONS}/{started['id']}").json()["state"] == "ended"
