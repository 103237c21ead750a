"""An interactive JupyterLab session through the gateway, side by side with the app reached
directly over the same SSH transport.

Run as root on a machine with the dev cluster up (JupyterLab in /opt/myriagate-jupyter):

    python bench/interactive.py [--rounds 30]

A real gateway (uvicorn on a free port) starts a ``jupyter`` session as alice and waits until
it runs (``launch_to_running_s``; the issue's target is <= 15 s). Then, after a warm-up of
each, ``--rounds`` times each, alternating (the HTTP requests, then the WebSocket round trips):

- ``proxied``: ``GET /interactive/<id>/api/status`` through the gateway (alice's token) on
  one kept HTTP/1.1 connection to the gateway, as a browser keeps one;
- anchor ``direct``: the same request to the app over the same SSH transport (the gateway's
  own pooled SSH connection of alice's login), on one ``direct-tcpip`` channel opened once and
  kept, HTTP/1.1 keep-alive, with TLS and the certificate pinned as the proxy does (the app
  serves TLS: docs/interactive.md). Both are sent and read by the same small h11 client
  (``KeepAliveHttp``): they differ only in the path, the gateway or not;
- shown, not anchors: ``direct_new_channel``, the same on a new channel per request with
  ``Connection: close`` (what the proxy did per request before it kept connections), and
  ``proxied_httpx``, the proxied request sent by httpx (its own cost per request included);
- ``ws_proxied`` / anchor ``ws_direct``: one ``kernel_info_request`` answered by a kernel over
  an open WebSocket, through the gateway and directly on a channel;
- with ``--origin``, the gateway serves the session from its own host name
  (``MYRIAGATE_INTERACTIVE_ORIGIN=http://{session}.interactive.localhost:<port>``) and
  ``proxied`` goes there with the app cookie the ticket gave (``Host`` header on loopback).

The gateway logs as in production (JSON lines at INFO, one per request), to a file. The
session is stopped at the end. The last line is one JSON object: medians and p95 in ms,
``ratio_proxied_vs_direct`` (target <= 2) and ``ratio_ws_proxied_vs_ws_direct``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, cast

import h11
import httpx
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for the harness

from in_process import free_port, p95, serve, timed  # bench/in_process.py (bench/ is on sys.path)

from myriagate.db.migrate import upgrade
from myriagate.db.models.users import MembershipRole
from myriagate.db.repos import projects as projects_repo
from myriagate.db.repos import users as users_repo
from myriagate.logs import configure_logging
from myriagate.services.jobs import tracking
from myriagate.services.people import auth as auth_service
from myriagate.settings import Settings
from myriagate.web.interactive_tls import PinnedTlsStream
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


class KeepAliveHttp:
    """HTTP/1.1 GETs one after another on one open stream (h11), each answer read whole: the
    one client of both the anchor and the proxied figure, so they differ only in the path."""

    def __init__(self, stream: Stream, host: str, headers: list[tuple[str, str]]) -> None:
        self.stream, self.host, self.headers = stream, host, headers
        self.conn = h11.Connection(h11.CLIENT)

    def get(self, path: str) -> bytes:
        request = h11.Request(method="GET", target=path, headers=[("Host", self.host), *self.headers])
        self.stream.sendall(self.conn.send(request) + self.conn.send(h11.EndOfMessage()))
        status, body = 0, []
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(self.stream.recv(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
        assert status == 200, status
        self.conn.start_next_cycle()
        return b"".join(body)


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


def _origin_client(base: str, origin: str, client: httpx.Client, url: str) -> tuple[httpx.Client, str]:
    """A client of the session's own host (on loopback, its name in ``Host``) holding the app
    cookie, got as a browser gets it: the Connect link's ticket, redeemed once."""
    to_ticket = client.get(base + url)
    assert to_ticket.status_code == 303, to_ticket.text
    location = httpx.URL(to_ticket.headers["location"])
    host = f"{location.host}:{location.port}"
    app_client = httpx.Client(base_url=base, headers={"Host": host}, timeout=60)
    redeemed = app_client.get(f"{location.path}?{location.query.decode()}")
    assert redeemed.status_code == 303 and redeemed.headers["location"] == url, redeemed.text
    cookie = redeemed.headers["set-cookie"].split(";", 1)[0]
    app_client.headers["cookie"] = cookie
    return app_client, f"{origin.replace('{session}', url.split('/')[2])}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--origin", action="store_true", help="serve the session from its own host name")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mg-bench-interactive-"))
    port = free_port()
    origin = f"http://{{session}}.interactive.localhost:{port}" if args.origin else ""
    settings = Settings(
        dev_mode=True,
        ssh_ca_key_path=STATE / "ssh_user_ca",
        log_level="INFO",
        database_url=f"sqlite:///{tmp / 'gateway.db'}",
        enforce_allocations=False,
        interactive_origin=origin,
    )
    upgrade(settings.database_url)
    log_file = (tmp / "gateway.log").open("w")
    configure_logging(settings.log_level, json=True)  # as `myriagate serve` does
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(log_file)  # a file, as journald would take it, not the terminal
    gateway = build_gateway(settings)
    backends = gateway.backends(CLUSTER)
    assert isinstance(backends, ClusterBackends) and backends.pool is not None
    pool = backends.pool
    caller, token = _alice(gateway)
    base, server, thread = serve(gateway, port)
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
        times = _measure(args, gateway, pool, caller, client, base, running, origin)
    finally:
        if session_id:
            client.delete(f"/api/v1/interactive/sessions/{session_id}")
        client.close()
        server.should_exit = True
        thread.join(timeout=10)
        gateway.close()
        log_file.close()
        shutil.rmtree(tmp, ignore_errors=True)
    _report(args, launch_s, times, origin)


def _measure(
    args: argparse.Namespace, gateway: Gateway, pool: Any, caller: Any, client: httpx.Client, base: str,
    running: dict[str, Any], origin: str,
) -> dict[str, list[float]]:  # fmt: skip
    with gateway.session_factory() as db:
        target = interactive_sessions(gateway).target(db, caller, uuid.UUID(running["id"]))
    conn = target.connection
    app_host, status_path = f"{conn.host}:{conn.port}", f"{running['url']}api/status"
    proxy_client, ws_host = client, base.removeprefix("http://")
    if origin:
        proxy_client, session_origin = _origin_client(base, origin, client, running["url"])
        ws_host = session_origin.removeprefix("http://")
    to_gateway, via_gateway = _kept_to_gateway(
        base, ws_host, proxy_client, "cookie" if origin else "authorization"
    )

    def proxied() -> None:
        via_gateway.get(status_path)

    def proxied_httpx() -> None:
        assert proxy_client.get(status_path).status_code == 200

    def to_app(chan: Any) -> Stream:
        """The channel as the proxy uses it: TLS with the app's certificate pinned (the app
        serves TLS), else the channel itself."""
        if conn.tls_sha256 is None:
            return cast(Stream, chan)
        tls = PinnedTlsStream(chan, conn.tls_sha256)
        tls.handshake()
        return tls

    def direct_new_channel() -> None:
        with pool.tunnel("alice", conn.host, conn.port) as chan:
            _http_get(to_app(chan), app_host, status_path, target.header)

    channels, ws_proxied = _proxied_kernel(base, client, proxy_client, running["url"], ws_host, origin)
    times: dict[str, list[float]] = {
        "direct": [], "proxied": [], "direct_new_channel": [], "proxied_httpx": [], "ws_direct": [],
        "ws_proxied": [],
    }  # fmt: skip
    with (
        pool.tunnel("alice", conn.host, conn.port) as http_chan,
        pool.tunnel("alice", conn.host, conn.port) as chan,
    ):
        kept = KeepAliveHttp(to_app(http_chan), app_host, [target.header])
        ws_direct = KernelSocket(
            to_app(chan), app_host, channels, [(target.header[0].encode(), target.header[1].encode())]
        )

        def direct() -> None:
            kept.get(status_path)

        http = {"direct": direct, "proxied": proxied, "direct_new_channel": direct_new_channel,
                "proxied_httpx": proxied_httpx}  # fmt: skip
        # HTTP first, then WebSocket: a kernel's messages after its reply (its idle status)
        # would otherwise still be relayed while the next HTTP request is timed.
        for calls in (http, {"ws_direct": ws_direct.round_trip, "ws_proxied": ws_proxied.round_trip}):
            for _ in range(args.warmup):
                for call in calls.values():
                    call()
            for _ in range(args.rounds):
                for what, call in calls.items():
                    times[what].append(timed(call))
    to_gateway.close()
    ws_proxied.stream.close()  # type: ignore[attr-defined]  # the socket to the gateway
    return times


def _kept_to_gateway(
    base: str, host: str, client: httpx.Client, credential: str
) -> tuple[socket.socket, KeepAliveHttp]:
    """A kept connection to the gateway (``Host``: ``host``) sending ``client``'s credential."""
    address, port = base.removeprefix("http://").split(":")
    to_gateway = socket.create_connection((address, int(port)), timeout=60)
    to_gateway.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return to_gateway, KeepAliveHttp(to_gateway, host, [(credential, str(client.headers[credential]))])


def _proxied_kernel(
    base: str, client: httpx.Client, proxy_client: httpx.Client, url: str, ws_host: str, origin: str
) -> tuple[str, KernelSocket]:
    """A kernel started through the proxy, and a WebSocket to its channels through the gateway."""
    kernel = (
        proxy_client.post(
            f"{url}api/kernels", json={"name": "python3"}, headers={"origin": f"http://{ws_host}"}
        )
        if origin
        else client.post(base + f"{url}api/kernels", json={"name": "python3"})
    )
    assert kernel.status_code == 201, kernel.text
    channels = f"{url}api/kernels/{kernel.json()['id']}/channels"
    server_host, server_port = base.removeprefix("http://").split(":")
    via_gateway = socket.create_connection((server_host, int(server_port)), timeout=60)
    credential = (
        (b"cookie", str(proxy_client.headers["cookie"]).encode())
        if origin
        else (b"authorization", str(client.headers["authorization"]).encode())
    )
    headers = [credential, (b"origin", f"http://{ws_host}".encode())]
    return channels, KernelSocket(via_gateway, ws_host, channels, headers)


def _report(args: argparse.Namespace, launch_s: float, times: dict[str, list[float]], origin: str) -> None:
    figures: dict[str, Any] = {
        "rounds": args.rounds, "mode": "origin per session" if origin else "same origin",
        "launch_to_running_s": round(launch_s, 1),
    }  # fmt: skip
    for what, values in times.items():
        figures[f"{what}_median_ms"] = round(statistics.median(values), 2)
        figures[f"{what}_p95_ms"] = round(p95(values), 2)
    figures["ratio_proxied_vs_direct"] = round(figures["proxied_median_ms"] / figures["direct_median_ms"], 2)
    figures["ratio_proxied_vs_direct_new_channel"] = round(
        figures["proxied_median_ms"] / figures["direct_new_channel_median_ms"], 2
    )
    figures["ratio_ws_proxied_vs_ws_direct"] = round(
        figures["ws_proxied_median_ms"] / figures["ws_direct_median_ms"], 2
    )
    print(f"launch to running {figures['launch_to_running_s']} s ({figures['mode']})")
    for what in times:
        median, tail = figures[f"{what}_median_ms"], figures[f"{what}_p95_ms"]
        print(f"{what:18} median {median:8.2f} ms  p95 {tail:8.2f} ms")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
