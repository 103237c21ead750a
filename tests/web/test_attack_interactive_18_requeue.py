"""Issue #18 attacked again (2026-12-05): a session whose job is requeued and runs again.

Slurm requeues a batch job on a node failure (``JobRequeue=1``, its default), on preemption,
or when its owner or an administrator asks (``scontrol requeue``); the job then runs its script
again, and the app starts afresh: another port, token and certificate. On the dev cluster,
after alice's ``scontrol requeue`` of her running session's job, the new JupyterLab wrote its
connection file, but the gateway kept the first run's host, port, token and pin: every proxied
request went to the first app's closed port (503 'refused the channel'), the session said
'running' throughout, and so it stayed until its time limit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from myriagate.db.models.users import User
from myriagate.domain import interactive
from myriagate.web.interactive_access import AccessCache
from tests.conftest import FakeClock
from tests.fakes.app_tls import connection_file, serve_tls
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.web.conftest import MakeUser
from tests.web.test_interactive_api import _App, _running, _tick

AuthClient = Callable[[User], TestClient]
OTHER_TOKEN = "e" * 48


class _SecondRun(BaseHTTPRequestHandler):
    """The app as the job's second run starts it: a token of its own."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _SecondRun.seen.append(self.headers.get("authorization", ""))
        ok = self.headers.get("authorization") == f"token {OTHER_TOKEN}"
        body = b'{"run": 2}' if ok else b""
        self.send_response(200 if ok else 403)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = serve_tls(server.socket)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def runs() -> Iterator[list[ThreadingHTTPServer]]:
    servers: list[ThreadingHTTPServer] = []
    _App.seen.clear()
    _SecondRun.seen.clear()
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_requeued_session_is_proxied_to_the_app_of_its_new_run(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock, runs: list[ThreadingHTTPServer],
) -> None:  # fmt: skip
    # The gateway's clock (the API's and the proxy's) and the cluster's agree, as with NTP.
    app.state.clock = app.state.gateway.clock = clock
    # The proxy's kept decisions (2 s) expire on the same clock: minutes pass below.
    app.state.interactive_access = AccessCache(clock=lambda: clock.now().timestamp())
    owner = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    first = _serve(_App)
    runs.append(first)
    started = _running(owner, fake_cluster, backends, app, clock, first.server_address[1])
    base, slurm_id = f"/interactive/{started['id']}/", started["slurm_job_id"]
    assert owner.get(base + "api/status").status_code == 200  # the first run's app

    clock.advance(600)
    fake_cluster.set_state(slurm_id, "REQUEUED")  # the node failed: the first app is gone
    first.shutdown()
    first.server_close()
    _tick(backends, app, clock)
    clock.advance(130)  # a requeued job waits (BeginTime) before it runs again
    fake_cluster.set_state(slurm_id, "RUNNING")
    _tick(backends, app, clock)
    clock.advance(5)
    second = _serve(_SecondRun)
    runs.append(second)
    path = f"/home/alice/.myriagate/interactive/{started['id']}/connection.json"
    fake_cluster.files[path] = connection_file("127.0.0.1", second.server_address[1], OTHER_TOKEN)

    answer = owner.get(base + "api/status")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"run": 2} and _SecondRun.seen == [f"token {OTHER_TOKEN}"]
    shown = owner.get(f"/api/v1/interactive/sessions/{started['id']}").json()
    assert shown["state"] == "running" and shown["remaining_s"] == 30 * 60 - 5


def test_a_file_read_just_after_its_run_started_is_not_taken_for_an_earlier_runs() -> None:
    """Slurm's start time and the gateway's clock may differ by seconds: a file read then must
    not look stale, or every proxied request would read it again over SSH."""
    start = datetime(2026, 12, 5, 19, 26, 45, tzinfo=UTC)
    assert not interactive.run_after(start, start + timedelta(seconds=3))
    assert not interactive.run_after(start, start - timedelta(seconds=10))  # gateway 13 s behind
    assert not interactive.run_after(None, start) and not interactive.run_after(start, None)
    assert interactive.run_after(start, start - timedelta(minutes=3))  # read before a requeue
