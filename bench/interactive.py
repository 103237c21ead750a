"""An interactive JupyterLab session through the gateway, side by side with the app reached
directly over the same SSH transport.

Run as root on a machine with the dev cluster up (JupyterLab in /opt/myriagate-jupyter):

    python bench/interactive.py [--rounds 30]

A real gateway (uvicorn on a free port) starts a ``jupyter`` session as alice and waits until
it runs (``launch_to_running_s``; the issue's target is <= 15 s). Then, ``--rounds`` times
each, alternating:

- ``proxied``: ``GET /interactive/<id>/api/status`` through the gateway (alice's token);
- anchor ``direct``: the same request sent by hand on a new ``direct-tcpip`` channel of the
  gateway's own pooled SSH connection of alice's login (what the proxy does for a request,
  without the gateway: no HTTP server, no authentication, no session lookup);
- ``ws_proxied`` / anchor ``ws_direct``: one ``kernel_info_request`` answered by a kernel over
  an open WebSocket, through the gateway and directly on a channel.

The session is stopped at the end. The last line is one JSON object: medians and p95 in ms,
``ratio_proxied_vs_direct`` (target <= 2) and ``ratio_ws_proxied_vs_ws_direct``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for the harness

from in_process import p95, serve, timed  # bench/in_process.py (bench/ is on sys.path)

from myriagate.db.migrate import upgrade
from myriagate.db.models.users import MembershipRole
from myriagate.db.repos import projects as projects_repo
from myriagate.db.repos import users as users_repo
from myriagate.services.jobs import tracking
from myriagate.services.people import auth as auth_service
from myriagate.settings import Settings
from myriagate.wiring import ClusterBackends, Gateway, build_gateway, worker_ledger
from myriagate.wiring_interactive import interactive_sessions

CLUSTER = "devcluster"
STATE = Path("/var/lib/myriagate-devcluster")


class Stream(Protocol):
    def recv(self, size: int, /) -> bytes: ...
    def sendall(self, data: bytes, /) -> None: ...


def _alice(gateway: Gateway) -> tuple[Any, str]:
    with gateway.session_factory() as session:
        projects_repo.add_institution(session, code="unicaen", name="Université de Caen Normandie")
        projects_repo.add_project(
            session,
            cluster=CLUSTER,
            slurm_account="caen-climat",
            institution="unicaen",
            created_at=datetime.now(UTC),
        )
        alice = users_repo.add(
            session, username="alice@unicaen.fr", cluster_login="alice", created_at=datetime.now(UTC)
        )
        users_repo.add_membership(
            session, alice, cluster=CLUSTER, slurm_account="caen-climat", role=MembershipRole.RESEARCHER
        )
        token = auth_service.create_token(session, alice, name="bench").secret
        session.commit()
        caller = users_repo.get(session, alice.id)
        assert caller is not None
        session.expunge(caller)
        return caller, token


def _http_get(stream: Stream, host: str, path: str, header: tuple[str, str]) -> bytes:
    """One HTTP/1.1 GET on a fresh stream, its whole answer (the server closes)."""
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{header[0]}: {header[1]}\r\nConnection: close\r\n\r\n"
    stream.sendall(request.encode())
    chunks = []
    while chunk := stream.recv(65536):
        chunks.append(chunk)
    answer = b"".join(chunks)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    return answer


class KernelSocket:
    """A WebSocket to a kernel's channels on an open stream; ``round_trip`` asks kernel_info."""

    def __init__(self, stream: Stream, host: str, path: str, headers: list[tuple[bytes, bytes]]) -> None:
        self.stream, self.ws = stream, WSConnection(ConnectionType.CLIENT)
        stream.sendall(self.ws.send(Request(host=host, target=path, extra_headers=headers)))
        while not any(isinstance(e, AcceptConnection) for e in self._events()):
            pass

    def _events(self) -> list[object]:
        self.ws.receive_data(self.stream.recv(65536) or None)
        return list(self.ws.events())

    def round_trip(self) -> None:
        msg_id = uuid.uuid4().hex
        header = {
            "msg_id": msg_id,
            "username": "alice",
            "session": "bench",
            "msg_type": "kernel_info_request",
            "version": "5.3",
            "date": "",
        }
        message = {
            "header": header,
            "parent_header": {},
            "metadata": {},
            "content": {},
            "channel": "shell",
            "buffers": [],
        }
        self.stream.sendall(self.ws.send(TextMessage(json.dumps(message))))
        while True:
            for event in self._events():
                if isinstance(event, TextMessage):
                    reply = json.loads(event.data)
                    if (
                        reply.get("msg_type") == "kernel_info_reply"
                        and reply["parent_header"].get("msg_id") == msg_id
                    ):
                        return


def _wait_running(gateway: Gateway, client: httpx.Client, session_id: str) -> dict[str, Any]:
    while True:
        with gateway.session_factory() as db:
            tracking.tick(
                db,
                cluster=CLUSTER,
                backends=gateway.backends(CLUSTER),
                clock=gateway.clock,
                ledger=worker_ledger(gateway.clock),
            )
        found: dict[str, Any] = client.get(f"/api/v1/interactive/sessions/{session_id}").json()
        assert found["state"] != "ended", found
        if found["state"] == "running":
            return found
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mg-bench-interactive-"))
    settings = Settings(
        dev_mode=True,
        ssh_ca_key_path=STATE / "ssh_user_ca",
        log_level="WARNING",
        database_url=f"sqlite:///{tmp / 'gateway.db'}",
        enforce_allocations=False,
    )
    upgrade(settings.database_url)
    gateway = build_gateway(settings)
    backends = gateway.backends(CLUSTER)
    assert isinstance(backends, ClusterBackends) and backends.pool is not None
    pool = backends.pool
    caller, token = _alice(gateway)
    base, server, thread = serve(gateway)
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    session_id = ""
    try:
        t0 = time.perf_counter()
        started = client.post(
            "/api/v1/interactive/sessions",
            json={"app": "jupyter", "options": {"partition": "debug", "time": "00:10:00"}},
        )
        assert started.status_code == 202, started.text
        session_id = started.json()["id"]
        running = _wait_running(gateway, client, session_id)
        launch_s = time.perf_counter() - t0
        with gateway.session_factory() as db:
            target = interactive_sessions(gateway).target(db, caller, uuid.UUID(session_id))
        conn = target.connection
        app_host, status_path = f"{conn.host}:{conn.port}", f"{running['url']}api/status"

        def proxied() -> None:
            assert client.get(base + status_path).status_code == 200

        def direct() -> None:
            with pool.tunnel("alice", conn.host, conn.port) as chan:
                _http_get(chan, app_host, status_path, target.header)

        kernel = client.post(base + f"{running['url']}api/kernels", json={"name": "python3"}).json()["id"]
        channels = f"{running['url']}api/kernels/{kernel}/channels"
        server_host, server_port = base.removeprefix("http://").split(":")
        via_gateway = socket.create_connection((server_host, int(server_port)), timeout=60)
        ws_proxied = KernelSocket(
            via_gateway,
            f"{server_host}:{server_port}",
            channels,
            [(b"authorization", f"Bearer {token}".encode()), (b"origin", base.encode())],
        )
        with pool.tunnel("alice", conn.host, conn.port) as chan:
            ws_direct = KernelSocket(
                chan, app_host, channels, [(target.header[0].encode(), target.header[1].encode())]
            )
            for warm in (proxied, direct, ws_proxied.round_trip, ws_direct.round_trip):
                warm()
            times: dict[str, list[float]] = {"direct": [], "proxied": [], "ws_direct": [], "ws_proxied": []}
            for _ in range(args.rounds):
                times["direct"].append(timed(direct))
                times["proxied"].append(timed(proxied))
                times["ws_direct"].append(timed(ws_direct.round_trip))
                times["ws_proxied"].append(timed(ws_proxied.round_trip))
        via_gateway.close()
    finally:
        if session_id:
            client.delete(f"/api/v1/interactive/sessions/{session_id}")
        client.close()
        server.should_exit = True
        thread.join(timeout=10)
        gateway.close()
        shutil.rmtree(tmp, ignore_errors=True)
    figures: dict[str, Any] = {"rounds": args.rounds, "launch_to_running_s": round(launch_s, 1)}
    for what, values in times.items():
        figures[f"{what}_median_ms"] = round(statistics.median(values), 2)
        figures[f"{what}_p95_ms"] = round(p95(values), 2)
    figures["ratio_proxied_vs_direct"] = round(figures["proxied_median_ms"] / figures["direct_median_ms"], 2)
    figures["ratio_ws_proxied_vs_ws_direct"] = round(
        figures["ws_proxied_median_ms"] / figures["ws_direct_median_ms"], 2
    )
    print(f"launch to running {figures['launch_to_running_s']} s")
    for what in times:
        median, tail = figures[f"{what}_median_ms"], figures[f"{what}_p95_ms"]
        print(f"{what:10} median {median:8.2f} ms  p95 {tail:8.2f} ms")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
