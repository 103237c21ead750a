"""A real JupyterLab as alice on the dev cluster, served from its session's own host name
(issue #18, MYRIAGATE_INTERACTIVE_ORIGIN; docs/interactive.md "An origin per session").

A real gateway (uvicorn on loopback) with ``http://{session}.interactive.localhost:<port>``:
the Connect link on the gateway's host answers with a one-time ticket to the session's host,
which sets the session's cookie; with it, JupyterLab's API, its page and a kernel over the
WebSocket answer there (the ``Host`` header names the session's host, as a browser would);
bob, an anonymous client and a replayed ticket are refused; the gateway refuses the cookie.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy.orm import Session, sessionmaker
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, RejectConnection, TextMessage
from wsproto.events import Request as WsRequest

from myriagate.db.models.users import User
from myriagate.settings import Settings
from myriagate.web.app import create_app
from myriagate.wiring import Gateway, build_gateway
from tests.integration.test_api_real_cluster import _client, _free_port
from tests.integration.test_interactive_real import _until

pytestmark = pytest.mark.slurm


@pytest.fixture
def origin_gateway(
    gateway_settings: Settings, db: sessionmaker[Session], tmp_path: Path
) -> Iterator[tuple[str, Gateway]]:
    """The gateway served on a free port, its sessions on ``<id>.interactive.localhost:<port>``."""
    port = _free_port()
    settings = Settings(
        **{
            **gateway_settings.model_dump(),
            "database_url": f"sqlite:///{tmp_path / 'gateway.db'}",
            "interactive_origin": f"http://{{session}}.interactive.localhost:{port}",
        }
    )
    gateway = build_gateway(settings)
    config = uvicorn.Config(create_app(gateway), host="127.0.0.1", port=port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", gateway
    server.should_exit = True
    thread.join(timeout=10)
    gateway.close()


def _kernel_prints(base: str, host: str, path: str, cookie: str, code: str) -> str:
    """What ``code`` prints, run by the kernel over the WebSocket on the session's host."""
    ws = WSConnection(ConnectionType.CLIENT)
    headers = [(b"cookie", cookie.encode()), (b"origin", f"http://{host}".encode())]
    msg_id = uuid.uuid4().hex
    message = {
        "header": {"msg_id": msg_id, "username": "alice", "session": uuid.uuid4().hex,
                   "msg_type": "execute_request", "version": "5.3", "date": ""},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }  # fmt: skip
    address, port = base.removeprefix("http://").split(":")
    printed, replied, idle = "", False, False
    with socket.create_connection((address, int(port)), timeout=30) as sock:
        sock.sendall(ws.send(WsRequest(host=host, target=path, extra_headers=headers)))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (replied and idle):
            ws.receive_data(sock.recv(65536) or None)
            for event in ws.events():
                if isinstance(event, RejectConnection):
                    raise AssertionError(f"WebSocket refused: {event.status_code}")
                if isinstance(event, AcceptConnection):
                    sock.sendall(ws.send(TextMessage(json.dumps(message))))
                if isinstance(event, TextMessage):
                    reply = json.loads(event.data)
                    if reply.get("parent_header", {}).get("msg_id") != msg_id:
                        continue
                    printed += reply["content"].get("text", "") if reply.get("msg_type") == "stream" else ""
                    replied = replied or reply.get("msg_type") == "execute_reply"
                    idle = idle or reply["content"].get("execution_state") == "idle"
    assert replied and idle, f"no reply within 30 s (printed {printed!r})"
    return printed


def test_jupyterlab_on_its_sessions_own_host_for_alice_only(
    origin_gateway: tuple[str, Gateway], db: sessionmaker[Session], users: dict[str, User]
) -> None:
    base, gateway = origin_gateway
    alice, bob = _client(base, db, users["alice"]), _client(base, db, users["bob"])
    started = alice.post(
        "/interactive/sessions",
        json={"app": "jupyter", "options": {"partition": "debug", "time": "00:05:00"}},
    )
    assert started.status_code == 202, started.text
    sid = started.json()["id"]
    try:
        running = _until(gateway, alice, sid, "running", 45)
        lab_url = f"{base}{running['url']}lab"
        to_ticket = httpx.get(lab_url, headers=alice.headers)
        assert to_ticket.status_code == 303, to_ticket.text
        connect = httpx.URL(to_ticket.headers["location"])
        host = f"{sid}.interactive.localhost:{connect.port}"
        assert connect.host == f"{sid}.interactive.localhost" and connect.path == "/_myriagate/connect"
        assert httpx.get(lab_url, headers=bob.headers).status_code == 404  # bob gets no ticket
        assert httpx.get(lab_url).status_code == 404

        app_host = httpx.Client(base_url=base, headers={"Host": host}, timeout=30)
        ticket_path = f"{connect.path}?{connect.query.decode()}"
        redeemed = app_host.get(ticket_path)
        assert redeemed.status_code == 303 and redeemed.headers["location"] == f"/interactive/{sid}/lab"
        cookie = redeemed.headers["set-cookie"].split(";")[0]
        assert app_host.get(ticket_path).status_code == 403  # a replay
        own = {"cookie": cookie}

        status = app_host.get(f"/interactive/{sid}/api/status", headers=own)
        assert status.status_code == 200 and "started" in status.json(), status.text
        lab = app_host.get(f"/interactive/{sid}/lab", headers=own)
        assert lab.status_code == 200 and "JupyterLab" in lab.text
        token = json.loads(Path(f"/home/alice/.myriagate/interactive/{sid}/connection.json").read_text())[
            "token"
        ]
        assert token not in lab.text and connect.query.decode() not in lab.text
        kernel = app_host.post(
            f"/interactive/{sid}/api/kernels",
            json={"name": "python3"},
            headers={**own, "origin": f"http://{host}"},
        )
        assert kernel.status_code == 201, kernel.text
        printed = _kernel_prints(
            base, host, f"/interactive/{sid}/api/kernels/{kernel.json()['id']}/channels", cookie,
            "import socket; print(socket.gethostname())",
        )  # fmt: skip
        assert printed.strip() == socket.gethostname()

        anonymous = httpx.get(f"{base}/interactive/{sid}/api/status", headers={"Host": host})
        assert anonymous.status_code == 404  # no cookie
        assert app_host.get("/api/v1/me", headers=own).status_code == 404  # not the gateway here
        assert httpx.get(f"{base}/api/v1/me", headers=own).status_code == 401  # the gateway refuses it
    finally:
        stopped = alice.delete(f"/interactive/sessions/{sid}")
    assert stopped.status_code == 200, stopped.text
    _until(gateway, alice, sid, "ended", 30)
    time.sleep(2.5)  # past the proxy's kept decision (interactive_access.TTL_S)
    assert app_host.get(f"/interactive/{sid}/api/status", headers=own).status_code == 409
