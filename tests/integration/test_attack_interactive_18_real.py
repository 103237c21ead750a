"""Issue #18 attacked on the dev cluster: another login takes an ended app's port.

The gateway connects to the host and port its session's connection file named, for as long as
its record says the job runs, i.e. until the worker's next poll has seen the job end (up to
``MYRIAGATE_POLL_MAX_S``, 30 s by default). Once the app is gone its port is free, and any
login with a process on the node (bob, in a job of his on a shared node) can listen there.
Reproduced by hand on the stack before the fix: after a ``scancel`` from the shell, bob's
server answered alice's ``/interactive/<id>/lab`` with its page (200) 23 times in ~3 s, and was
sent her app's token.

Fixed: the app serves TLS with a certificate its job made, whose SHA-256 its connection file
names, and the proxy completes no connection to a server without that certificate's key. Here
bob listens at the freed port speaking plain HTTP, or TLS with a certificate of his own: his
server never gets a request, and alice gets 502s. No worker runs, so the record stays "running"
as long as the test likes: exactly the window the worker's poll leaves.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import textwrap
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models.interactive import InteractiveSession
from myriagate.db.models.users import User
from myriagate.wiring import Gateway
from tests.integration.test_api_real_cluster import _client, gateway, server
from tests.integration.test_interactive_real import _until

__all__ = ["gateway", "server"]  # the fixtures, re-used
pytestmark = pytest.mark.slurm

SQUATTER = textwrap.dedent(
    """
    import http.server, os, socket, ssl, subprocess, sys, tempfile, time
    host, port, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    context = None
    if kind == "tls":  # a certificate of bob's own making, as the app's script makes one
        where = tempfile.mkdtemp()
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                        "/CN=myriagate-session", "-keyout", where + "/k.pem", "-out", where + "/c.pem"],
                       check=True, capture_output=True)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(where + "/c.pem", where + "/k.pem")
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            print("REQUEST " + self.headers.get("Authorization", ""), flush=True)
            body = b"<html><script>/* bob's */</script>SQUATTED</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    deadline = time.monotonic() + 60
    while True:
        try:
            server = http.server.ThreadingHTTPServer((host, port), Page)
            if context is not None:
                server.socket = context.wrap_socket(
                    server.socket, server_side=True, do_handshake_on_connect=False
                )
            break
        except OSError:
            if time.monotonic() > deadline:
                sys.exit("never free")
            time.sleep(0.005)
    print("listening", flush=True)
    server.timeout = 0.5
    while time.monotonic() < deadline:
        server.handle_request()
    """
)


@pytest.fixture
def as_bob() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:  # runuser forks: its whole session goes
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _connection(db: sessionmaker[Session], session_id: str) -> tuple[str, int]:
    with db() as session:
        row = session.execute(
            sa.select(InteractiveSession).where(InteractiveSession.id == uuid.UUID(session_id))
        ).scalar_one()
        assert row.host is not None and row.port is not None
        return row.host, row.port


@pytest.mark.parametrize("kind", ["plain", "tls"])
def test_an_ended_apps_port_taken_by_another_login_never_serves_the_owner(
    server: str, gateway: Gateway, db: sessionmaker[Session], users: dict[str, User],
    as_bob: list[subprocess.Popen[str]], kind: str,
) -> None:  # fmt: skip
    alice = _client(server, db, users["alice"])
    started = alice.post(
        "/interactive/sessions",
        json={"app": "jupyter", "options": {"partition": "debug", "time": "00:05:00"}},
    )
    assert started.status_code == 202, started.text
    session: dict[str, Any] = started.json()
    try:
        running = _until(gateway, alice, session["id"], "running", 60)
        base = server + running["url"]
        owner = httpx.Client(headers=alice.headers, timeout=30)
        assert owner.get(base + "api/status").status_code == 200  # the app itself
        host, port = _connection(db, session["id"])

        squatter = subprocess.Popen(
            ["runuser", "-u", "bob", "--", "/usr/bin/python3", "-I", "-c", SQUATTER, host, str(port), kind],
            stdout=subprocess.PIPE, text=True, cwd="/", env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            start_new_session=True,
        )  # fmt: skip
        as_bob.append(squatter)
        subprocess.run(["scancel", running["slurm_job_id"]], check=True)  # from the shell: no worker told
        assert squatter.stdout is not None and squatter.stdout.readline().strip() == "listening"

        answers = []
        for _ in range(10):  # what the owner's tab gets meanwhile (JupyterLab polls every few s)
            answer = owner.get(base + "lab")
            answers.append((answer.status_code, "SQUATTED" in answer.text))
            time.sleep(0.2)
        assert not any(squatted for _, squatted in answers), f"bob's page served to alice: {answers}"
        assert {status for status, _ in answers} == {502}, answers
        os.killpg(squatter.pid, signal.SIGKILL)  # runuser forks: its whole session goes
        heard = squatter.communicate(timeout=10)[0]
        assert "REQUEST" not in heard, f"a request reached bob's server: {heard!r}"
    finally:
        alice.delete(f"/interactive/sessions/{session['id']}")
