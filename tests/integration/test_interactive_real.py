"""A real JupyterLab as alice on the dev cluster, through a real gateway (issue #18).

The session's job runs the bundled template on node vm (JupyterLab from /opt/myriagate-jupyter,
installed by deploy/devcluster/up.sh); the gateway reads its connection file over SSH, and its
API answers through /interactive/<id>/ over a direct-tcpip channel of alice's pooled SSH
connection. bob and an anonymous client get 404; Stop cancels the job in Slurm.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, RejectConnection, TextMessage
from wsproto.events import Request as WsRequest

from myriagate.clock import SystemClock
from myriagate.db.models.users import User
from myriagate.services.jobs import tracking
from myriagate.wiring import Gateway, worker_ledger
from tests.integration.test_api_real_cluster import CLUSTER, _client, gateway, server

__all__ = ["gateway", "server"]  # the fixtures, re-used
pytestmark = pytest.mark.slurm


def _run_cell(server: str, path: str, authorization: str, code: str) -> str:
    """What ``code`` prints, run by the kernel through the proxied WebSocket (wsproto client)."""
    host, port = server.removeprefix("http://").split(":")
    ws = WSConnection(ConnectionType.CLIENT)
    headers = [(b"authorization", authorization.encode()), (b"origin", server.encode())]
    msg_id = uuid.uuid4().hex
    message = {
        "header": {"msg_id": msg_id, "username": "alice", "session": uuid.uuid4().hex,
                   "msg_type": "execute_request", "version": "5.3", "date": ""},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }  # fmt: skip
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(ws.send(WsRequest(host=f"{host}:{port}", target=path, extra_headers=headers)))
        printed, sent, replied, idle = "", False, False, False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ws.receive_data(sock.recv(65536) or None)
            for event in ws.events():
                if isinstance(event, RejectConnection):
                    raise AssertionError(f"WebSocket refused: {event.status_code}")
                if isinstance(event, AcceptConnection) and not sent:
                    sock.sendall(ws.send(TextMessage(json.dumps(message))))
                    sent = True
                if isinstance(event, TextMessage):
                    reply = json.loads(event.data)
                    if reply.get("parent_header", {}).get("msg_id") != msg_id:
                        continue
                    if reply.get("msg_type") == "stream":
                        printed += reply["content"]["text"]
                    replied = replied or reply.get("msg_type") == "execute_reply"
                    # The output comes on iopub, the reply on shell: in either order. The
                    # kernel says it is idle for this request once its output is all sent.
                    state = (
                        reply["content"].get("execution_state") if reply.get("msg_type") == "status" else None
                    )
                    idle = idle or state == "idle"
                    if replied and idle:
                        return printed
        raise AssertionError(f"no execute_reply and idle status within 30 s (printed {printed!r})")


def _tick(gateway: Gateway) -> None:
    with gateway.session_factory() as session:
        clock = SystemClock()
        tracking.tick(session, cluster=CLUSTER, backends=gateway.backends(CLUSTER), clock=clock,
                      ledger=worker_ledger(clock))  # fmt: skip


def _until(
    gateway: Gateway, api: httpx.Client, session_id: str, state: str, timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        _tick(gateway)
        found: dict[str, Any] = api.get(f"/interactive/sessions/{session_id}").json()
        if found["state"] == state:
            return found
        assert found["state"] != "ended", found
        assert time.monotonic() < deadline, f"session stuck in {found['state']}: {found}"
        time.sleep(0.5)


def test_jupyterlab_runs_as_alice_and_answers_through_the_proxy_for_her_only(
    server: str, gateway: Gateway, db: sessionmaker[Session], users: dict[str, User]
) -> None:
    alice, bob = _client(server, db, users["alice"]), _client(server, db, users["bob"])
    started = alice.post(
        "/interactive/sessions",
        json={"app": "jupyter", "options": {"partition": "debug", "time": "00:05:00"}},
    )
    assert started.status_code == 202, started.text
    session = started.json()
    try:
        t0 = time.monotonic()
        running = _until(gateway, alice, session["id"], "running", 45)
        ready_s = time.monotonic() - t0
        assert running["remaining_s"] is not None and 0 < running["remaining_s"] <= 300
        base = server + running["url"]
        owner = httpx.Client(headers=alice.headers, timeout=30)

        status = owner.get(base + "api/status")
        assert status.status_code == 200, status.text
        assert "started" in status.json()
        # The notebook server runs as alice on the node: its contents API lists her home.
        listing = owner.get(base + "api/contents/")
        assert listing.status_code == 200 and listing.json()["type"] == "directory"
        lab = owner.get(base + "lab")
        assert lab.status_code == 200 and "JupyterLab" in lab.text
        # The app's token (read here as root from alice's connection file) reaches no page.
        connection = Path(f"/home/alice/.myriagate/interactive/{session['id']}/connection.json")
        token = json.loads(connection.read_text())["token"]
        assert token not in lab.text and token not in status.text

        kernel = owner.post(base + "api/kernels", json={"name": "python3"})
        assert kernel.status_code == 201, kernel.text
        channels = f"{running['url']}api/kernels/{kernel.json()['id']}/channels"
        printed = _run_cell(
            server, channels, alice.headers["authorization"], "import socket; print(socket.gethostname())"
        )
        assert printed.strip() == socket.gethostname()  # the compute node's name (node vm is this host)

        assert httpx.get(base + "api/status", headers=bob.headers).status_code == 404
        assert httpx.get(base + "api/status").status_code == 404
        assert bob.get(f"/interactive/sessions/{session['id']}").status_code == 404
    finally:
        stopped = alice.delete(f"/interactive/sessions/{session['id']}")
    assert stopped.status_code == 200, stopped.text
    ended = _until(gateway, alice, session["id"], "ended", 30)
    assert ended["job_state"] == "cancelled"
    queue = subprocess.run(["squeue", "-h", "-j", ended["slurm_job_id"]], capture_output=True, text=True)
    assert queue.stdout.strip() == ""
    print(f"launch to running: {ready_s:.1f} s")
