"""``/readyz``: 200 when the database and the clusters answer, 503 with the culprit otherwise;
cluster pings cached and never more than one in flight, so probes cannot hammer Slurm."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from myriagate.db.session import make_session_factory
from myriagate.ports import ClusterHealth
from myriagate.web.health import ReadinessProbe
from myriagate.wiring import Gateway, build_gateway
from tests.conftest import CLUSTER
from tests.fakes.fake_slurm import FakeCluster
from tests.fakes.hostile import HOSTILE_STRINGS
from tests.web.conftest import assert_problem, plug


class Ticker:
    """A monotonic clock the test moves by hand (the probe's cache ages by it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticker() -> Ticker:
    return Ticker()


@pytest.fixture
def probe(app: FastAPI, gateway: Gateway, ticker: Ticker) -> Iterator[ReadinessProbe]:
    made = ReadinessProbe(gateway, cluster_ttl_s=10.0, cluster_failure_ttl_s=3.0, cluster_timeout_s=1.0,
                          monotonic=ticker)  # fmt: skip
    app.state.readiness = made
    yield made
    made.close()


def test_ready_when_database_and_cluster_answer(client: TestClient, probe: ReadinessProbe) -> None:
    response = client.get("/readyz")  # anonymous: probes carry no credentials
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["status"] == "up"
    assert body["checks"]["clusters"] == {
        CLUSTER: {"status": "up", "age_s": 0.0, "latency_ms": 0.0, "slurm_version": "22.05.8"}
    }


def test_unreachable_cluster_is_503_naming_it(
    client: TestClient, probe: ReadinessProbe, fake_cluster: FakeCluster
) -> None:
    fake_cluster.set_unreachable()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unready"
    assert body["checks"]["database"]["status"] == "up"
    assert body["checks"]["clusters"][CLUSTER]["status"] == "down"
    assert "connection refused" in body["checks"]["clusters"][CLUSTER]["detail"]


def test_pings_are_cached_so_probes_do_not_hammer_slurm(
    client: TestClient, probe: ReadinessProbe, fake_cluster: FakeCluster, ticker: Ticker
) -> None:
    fake_cluster.set_unreachable()
    assert client.get("/readyz").status_code == 503
    fake_cluster.set_unreachable(False)
    for _ in range(7):
        ticker.now += 0.4  # 2.8 s in all: still inside the 3 s cache of a failure
        assert client.get("/readyz").status_code == 503
    assert fake_cluster.calls["ping"] == 1
    ticker.now += 0.5  # the cached "down" is now stale: the next probe asks again
    response = client.get("/readyz")
    assert response.status_code == 200
    assert fake_cluster.calls["ping"] == 2
    for _ in range(20):
        ticker.now += 0.45  # 9 s in all: an "up" is kept the full 10 s
        assert client.get("/readyz").json()["checks"]["clusters"][CLUSTER]["age_s"] == pytest.approx(
            ticker.now - 1003.3, abs=0.06
        )
    assert fake_cluster.calls["ping"] == 2
    ticker.now += 1.1
    assert client.get("/readyz").json()["checks"]["clusters"][CLUSTER]["age_s"] == 0.0
    assert fake_cluster.calls["ping"] == 3


class HungBackend:
    """A service login whose ``ping`` blocks until released (a hung login node)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.pings = 0

    def ping(self) -> ClusterHealth:
        self.pings += 1
        self.release.wait(timeout=30)
        return ClusterHealth(reachable=True, slurm_version="22.05.8", latency_ms=1.0)


class HungFactory:
    def __init__(self, backend: HungBackend) -> None:
        self.backend = backend

    def for_service(self) -> HungBackend:
        return self.backend

    def for_login(self, login: str) -> HungBackend:
        return self.backend


def test_hung_cluster_times_out_with_one_ping_in_flight(
    app: FastAPI, gateway: Gateway, ticker: Ticker
) -> None:
    hung = HungBackend()
    hung_gateway = build_gateway(
        gateway.settings,
        backend_factory=plug(HungFactory(hung)),  # type: ignore[arg-type]
        session_factory=gateway.session_factory,
    )
    probe = ReadinessProbe(hung_gateway, cluster_ttl_s=10.0, cluster_failure_ttl_s=3.0, cluster_timeout_s=1.0,
                           monotonic=ticker)  # fmt: skip
    app.state.readiness = probe
    client = TestClient(app)
    try:
        # Concurrent probes while the ping hangs, each after the cache has gone stale.
        def probe_once(_: int) -> int:
            ticker.now += 11
            status: int = client.get("/readyz").status_code
            return status

        with ThreadPoolExecutor(max_workers=5) as pool:
            statuses = list(pool.map(probe_once, range(5)))
        assert statuses == [503] * 5
        body = client.get("/readyz").json()
        assert body["checks"]["clusters"][CLUSTER]["detail"] == "no answer within 1 s"
        assert hung.pings == 1  # every probe waited on the same ping
    finally:
        hung.release.set()
    in_flight = probe.clusters.in_flight(CLUSTER)
    if in_flight is not None:
        in_flight.result(timeout=5)
    ticker.now += 11
    assert client.get("/readyz").status_code == 200  # the login node answers again
    probe.close()


def test_database_down_is_503_without_leaking_its_address(
    app: FastAPI, gateway: Gateway, ticker: Ticker, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-dir" / "secret-name.db"
    broken = build_gateway(
        gateway.settings,
        backend_factory=gateway.backend_factory,
        session_factory=make_session_factory(f"sqlite:///{missing}"),
    )
    app.state.readiness = ReadinessProbe(broken, monotonic=ticker)
    response = TestClient(app).get("/readyz")
    assert response.status_code == 503
    database = response.json()["checks"]["database"]
    assert database["status"] == "down"
    assert database["detail"] == "database unreachable (OperationalError)"
    assert "secret-name" not in response.text
    assert response.json()["checks"]["clusters"][CLUSTER]["status"] == "up"


def test_named_clusters_are_each_checked(client: TestClient, probe: ReadinessProbe) -> None:
    # myria is reached over SSH and this test gateway has no CA key: it cannot be ready.
    response = client.get("/readyz", params={"cluster": ["devcluster", "myria"]})
    assert response.status_code == 503
    clusters = response.json()["checks"]["clusters"]
    assert clusters["devcluster"]["status"] == "up"
    assert clusters["myria"] == {"status": "down", "age_s": 0.0, "detail": "Configuration error"}


@pytest.mark.parametrize("name", ["nosuch", *HOSTILE_STRINGS])
def test_unknown_or_hostile_cluster_name_is_404_and_pings_nothing(
    name: str, client: TestClient, probe: ReadinessProbe, fake_cluster: FakeCluster
) -> None:
    assert_problem(client.get("/readyz", params={"cluster": name}), 404, "not_found")
    assert fake_cluster.calls["ping"] == 0
