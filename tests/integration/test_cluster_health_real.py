"""On the REAL dev cluster: a burst of cluster pages, cluster API calls and
``/readyz`` probes against a real uvicorn server makes ONE ``scontrol ping`` (and one ``sinfo``)
per cache period, counted where every Slurm command of the gateway is measured (the metered
runner that wiring puts under every backend, ``myriagate_slurm_command_duration_seconds``).

Before the fix each page view and each API call ran ``scontrol ping``, ``sinfo`` and
``sbatch --version`` over SSH: a burst of 60 made about 40 pings.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import uvicorn
from prometheus_client import REGISTRY
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models.users import User
from myriagate.services.people import auth as auth_service
from myriagate.settings import Settings
from myriagate.web.app import create_app
from myriagate.wiring import Gateway, build_gateway
from tests.conftest import CLUSTER

pytestmark = pytest.mark.slurm
TTL_S = 4.0


def slurm_calls(command: str) -> float:
    labels = {"cluster": CLUSTER, "command": command}
    return REGISTRY.get_sample_value("myriagate_slurm_command_duration_seconds_count", labels) or 0.0


@pytest.fixture
def gateway(gateway_settings: Settings, db: sessionmaker[Session], tmp_path: Path) -> Iterator[Gateway]:
    settings = gateway_settings.model_copy(
        update={
            "database_url": f"sqlite:///{tmp_path / 'gateway.db'}",
            "cluster_health_ttl_s": TTL_S,
            "cluster_health_timeout_s": 20.0,
            "rate_limit_enabled": False,
        }
    )
    gw = build_gateway(settings)
    yield gw
    gw.close()


@pytest.fixture
def server(gateway: Gateway) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    config = uvicorn.Config(create_app(gateway), host="127.0.0.1", port=port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def burst(server: str, token: str, n: int) -> list[httpx.Response]:
    """``n`` requests at once, spread over the cluster API, the cluster page and /readyz."""
    headers = {"Authorization": f"Bearer {token}"}
    paths = [
        (f"/api/v1/clusters/{CLUSTER}", {"Accept": "application/json"}),
        ("/cluster", {"Accept": "text/html"}),
        ("/readyz", {}),
    ]
    limits = httpx.Limits(max_connections=n)
    with httpx.Client(base_url=server, timeout=60, limits=limits) as client:

        def one(i: int) -> httpx.Response:
            path, extra = paths[i % len(paths)]
            return client.get(path, headers=headers | extra)

        with ThreadPoolExecutor(max_workers=n) as pool:
            return list(pool.map(one, range(n)))


def test_a_burst_of_views_makes_one_scontrol_ping_per_cache_period(
    server: str, db: sessionmaker[Session], users: dict[str, User]
) -> None:
    with db() as session:
        token = auth_service.create_token(session, session.merge(users["alice"]), name="health").secret
    before = {command: slurm_calls(command) for command in ("scontrol", "sinfo")}

    first = burst(server, token, 60)

    assert [r.status_code for r in first] == [200] * 60, [r.text for r in first if r.status_code != 200][:1]
    api = next(r.json() for r in first if r.url.path.startswith("/api/"))
    assert api["health"]["reachable"] is True, api
    assert slurm_calls("scontrol") - before["scontrol"] == 1
    assert slurm_calls("sinfo") - before["sinfo"] == 1

    time.sleep(TTL_S + 0.5)  # the next period: exactly one more of each
    second = burst(server, token, 60)
    assert {r.status_code for r in second} == {200}
    assert slurm_calls("scontrol") - before["scontrol"] == 2
    assert slurm_calls("sinfo") - before["sinfo"] == 2
    ages = [r.json()["health"]["age_s"] for r in second if r.url.path.startswith("/api/")]
    assert all(0 <= age < TTL_S for age in ages), ages
