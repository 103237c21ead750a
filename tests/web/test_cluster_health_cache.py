"""The cluster page, ``GET /api/v1/clusters/{name}`` and ``/readyz`` share one
cached ping per cluster, so no request rate turns into a stream of ``scontrol ping``/``sinfo``.

Before: the page and the API pinged the cluster on every request (50 views = 50 pings), and
only ``/readyz`` had a cache of its own. Now one ``ClusterHealthCache`` per process answers all
three: one ping per period whatever the rate, concurrent misses wait on the same ping, a
failure is cached too (less long), and every answer says how old it is.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from myriagate.db.models.users import User
from myriagate.errors import ConfigError
from myriagate.ports import ClusterHealth
from myriagate.services.runtime.cluster_health import ClusterHealthCache
from myriagate.web.health import cluster_health_cache
from myriagate.wiring import BackendFactory, Gateway
from tests.conftest import CLUSTER
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackend, FakeSlurmBackendFactory
from tests.web.conftest import MakeUser, plug


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # These tests count pings, not requests: the per-user budget is another test's subject.
    return {"rate_limit_enabled": False, "cluster_health_ttl_s": 10.0, "cluster_health_failure_ttl_s": 3.0}


class Ticker:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


class SlowPings(FakeSlurmBackendFactory):
    """The fake cluster, whose service login takes ``delay_s`` to answer a ping (a real one
    takes three SSH round trips), so concurrent requests really overlap a cache miss."""

    def __init__(self, cluster: FakeCluster, delay_s: float) -> None:
        super().__init__(cluster)
        self.delay_s = delay_s
        self.concurrent = 0
        self.most_concurrent = 0
        self._lock = threading.Lock()

    def for_service(self) -> FakeSlurmBackend:
        backend = super().for_service()
        factory = self

        class Slow(FakeSlurmBackend):
            def ping(self) -> ClusterHealth:
                with factory._lock:
                    factory.concurrent += 1
                    factory.most_concurrent = max(factory.most_concurrent, factory.concurrent)
                try:
                    time.sleep(factory.delay_s)
                    return backend.ping()
                finally:
                    with factory._lock:
                        factory.concurrent -= 1

        return Slow(self.cluster, backend.login)


@pytest.fixture
def slow(fake_cluster: FakeCluster) -> SlowPings:
    return SlowPings(fake_cluster, delay_s=0.3)


@pytest.fixture
def backend_factory(request: pytest.FixtureRequest, backends: FakeSlurmBackendFactory) -> BackendFactory:
    """The slow pings for a test that asks for them (``slow``), the usual fake otherwise."""
    wanted = "slow" in request.fixturenames
    return plug(request.getfixturevalue("slow") if wanted else backends)


@pytest.fixture
def ticker(app: FastAPI, gateway: Gateway) -> Iterator[Ticker]:
    ticker = Ticker()
    cache = cluster_health_cache(gateway, monotonic=ticker)
    app.state.cluster_health = cache
    yield ticker
    cache.close()


@pytest.fixture
def alice(make_user: MakeUser) -> User:
    return make_user()


def test_fifty_concurrent_views_of_page_api_and_readyz_make_one_ping(
    app: FastAPI,
    slow: SlowPings,
    alice: User,
    auth_client: Callable[[User], TestClient],
    fake_cluster: FakeCluster,
) -> None:
    signed_in = auth_client(alice)
    anonymous = TestClient(app)
    requests: list[Callable[[], Any]] = [
        lambda: signed_in.get(f"/api/v1/clusters/{CLUSTER}"),
        lambda: signed_in.get("/cluster", headers={"Accept": "text/html"}),
        lambda: anonymous.get("/readyz"),
    ]

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(lambda i: requests[i % 3](), range(150)))

    assert {r.status_code for r in responses} == {200}, [r.text for r in responses if r.status_code != 200][
        :1
    ]
    assert fake_cluster.calls["ping"] == 1, "every view must share one cached ping"
    assert slow.most_concurrent == 1
    api = next(r.json() for r in responses if r.request.url.path.startswith("/api/"))
    assert api["health"]["reachable"] is True and api["health"]["partitions"]
    assert api["health"]["checked_at"] is not None and api["health"]["age_s"] < 5


def test_one_ping_per_period_whatever_the_rate_and_the_age_is_shown(
    alice: User, auth_client: Callable[[User], TestClient], ticker: Ticker, fake_cluster: FakeCluster
) -> None:
    client = auth_client(alice)
    first = client.get(f"/api/v1/clusters/{CLUSTER}").json()["health"]
    assert first["age_s"] == 0.0
    for _ in range(40):
        ticker.now += 0.2  # 8 s of requests at 5 per second
        assert client.get(f"/api/v1/clusters/{CLUSTER}").status_code == 200
    assert fake_cluster.calls["ping"] == 1
    later = client.get(f"/api/v1/clusters/{CLUSTER}").json()["health"]
    assert later["age_s"] == pytest.approx(8.0, abs=0.05)
    assert later["checked_at"] == first["checked_at"]
    page = client.get("/cluster", headers={"Accept": "text/html"}).text
    assert re.search(r"Checked 8 s ago", page), page

    ticker.now += 2.5  # 10.5 s: stale, the next request pings again (once)
    assert client.get(f"/api/v1/clusters/{CLUSTER}").json()["health"]["age_s"] == 0.0
    client.get("/cluster", headers={"Accept": "text/html"})
    assert fake_cluster.calls["ping"] == 2


def test_a_failing_cluster_is_cached_too_but_for_less_long(
    alice: User, auth_client: Callable[[User], TestClient], ticker: Ticker, fake_cluster: FakeCluster
) -> None:
    client = auth_client(alice)
    fake_cluster.set_unreachable()
    for _ in range(10):
        ticker.now += 0.25  # 2.5 s: inside the 3 s of a failure
        health = client.get(f"/api/v1/clusters/{CLUSTER}").json()["health"]
        assert health["reachable"] is False and "connection refused" in health["detail"]
    page = client.get("/cluster", headers={"Accept": "text/html"}).text
    assert "Not reachable right now" in page and "connection refused" not in page  # issue #15: plain words
    assert fake_cluster.calls["ping"] == 1

    fake_cluster.set_unreachable(False)
    ticker.now += 1.0  # 3.5 s after the failure: asked again, and seen back
    assert client.get(f"/api/v1/clusters/{CLUSTER}").json()["health"]["reachable"] is True
    assert fake_cluster.calls["ping"] == 2


def test_an_error_raised_by_the_ping_is_cached_and_shown_not_a_5xx(
    app: FastAPI, gateway: Gateway, alice: User, auth_client: Callable[[User], TestClient]
) -> None:
    calls: list[str] = []

    def broken(name: str) -> ClusterHealth:
        calls.append(name)
        raise ConfigError("no CA key for the service login")

    app.state.cluster_health = ClusterHealthCache(broken, ttl_s=10, failure_ttl_s=3, timeout_s=2)
    client = auth_client(alice)
    for _ in range(5):
        response = client.get(f"/api/v1/clusters/{CLUSTER}")
        assert response.status_code == 200
        assert response.json()["health"]["detail"] == "Configuration error: no CA key for the service login"
    assert calls == [CLUSTER]
    readyz = TestClient(app).get("/readyz").json()["checks"]["clusters"][CLUSTER]
    assert readyz["detail"] == "Configuration error"  # the title only, for anonymous probes
    assert calls == [CLUSTER]
    app.state.cluster_health.close()


def test_a_hung_ping_is_never_started_twice_and_callers_do_not_queue_behind_it() -> None:
    release = threading.Event()
    calls: list[str] = []
    ticker = Ticker()

    def hung(name: str) -> ClusterHealth:
        calls.append(name)
        release.wait(timeout=30)
        return ClusterHealth(reachable=True, slurm_version="22.05.8")

    cache = ClusterHealthCache(hung, ttl_s=10, failure_ttl_s=3, timeout_s=0.3, monotonic=ticker)
    try:
        first = cache.get(CLUSTER)
        assert not first.reachable and first.detail == "no answer within 0.3 s"
        started = time.monotonic()
        for _ in range(20):
            ticker.now += 1  # well past the failure's 3 s: stale, but the ping still hangs
            assert cache.get(CLUSTER).detail == "no answer within 0.3 s"
        assert time.monotonic() - started < 1.0, "callers waited on the hung ping again"
        assert calls == [CLUSTER]
        release.set()
        in_flight = cache.in_flight(CLUSTER)
        if in_flight is not None:
            in_flight.result(timeout=5)
        assert cache.get(CLUSTER).reachable  # the late answer replaced the "no answer"
        assert calls == [CLUSTER]
    finally:
        release.set()
        cache.close()
