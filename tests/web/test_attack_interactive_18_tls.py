"""Issue #18 attacked again (2026-12-05), in process: the proxy's pinned TLS.

Another login's server at an ended app's port drips its TLS handshake.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from myriagate.db.models.users import User
from myriagate.web import interactive_upstream
from tests.conftest import FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.web.conftest import MakeUser
from tests.web.test_interactive_api import _running
from tests.web.test_interactive_tls_pin import alices_app  # noqa: F401 - a fixture used below

AuthClient = Callable[[User], TestClient]


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
