"""``/api/v1/clusters`` and ``/api/v1/templates``: what any signed-in user may read."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from myriagate.db.models.users import User
from myriagate.errors import ConfigError, SchedulerUnavailable
from myriagate.wiring import BackendFactory
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.web.conftest import MakeUser, RoleName, assert_problem, plug


class Broken:
    """A dev cluster whose every login fails with ``failure``."""

    def __init__(self, failure: Exception) -> None:
        self.failure = failure

    def for_service(self) -> object:
        raise self.failure

    def for_login(self, login: str) -> object:
        raise self.failure


@pytest.fixture
def backend_factory(request: pytest.FixtureRequest, backends: FakeSlurmBackendFactory) -> BackendFactory:
    """A broken dev cluster for a test parametrized with a ``failure``, the usual fake otherwise."""
    if "failure" in request.fixturenames:
        return plug(Broken(request.getfixturevalue("failure")))  # type: ignore[arg-type]
    return plug(backends)


ROLES: list[RoleName] = ["researcher", "project_lead", "university_admin", "platform_admin"]
AuthClient = Callable[[User], TestClient]


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_clusters_and_templates(
    role: RoleName, make_user: MakeUser, auth_client: AuthClient
) -> None:
    client = auth_client(make_user(role))
    clusters = client.get("/api/v1/clusters")
    assert clusters.status_code == 200, clusters.text
    assert {c["name"] for c in clusters.json()} == {"austral", "devcluster", "myria"}
    templates = client.get("/api/v1/templates")
    assert templates.status_code == 200
    assert {"hello", "python", "mpi", "array"} <= {t["name"] for t in templates.json()}


def test_anonymous_is_401(client: TestClient) -> None:
    for path in (
        "/api/v1/clusters",
        "/api/v1/clusters/devcluster",
        "/api/v1/templates",
        "/api/v1/templates/hello",
    ):
        assert_problem(client.get(path), 401, "not_authenticated")


def test_cluster_lists_partitions_from_the_profile(make_user: MakeUser, auth_client: AuthClient) -> None:
    clusters = {c["name"]: c for c in auth_client(make_user()).get("/api/v1/clusters").json()}
    dev = clusters["devcluster"]
    assert dev["is_default"] is True and clusters["myria"]["is_default"] is False
    court = next(p for p in dev["partitions"] if p["name"] == "court")
    assert court == {
        "name": "court",
        "description": "Short jobs (up to 4 hours)",
        "description_fr": "Jobs courts (jusqu'à 4 heures)",
        "max_walltime": "04:00:00",
        "default_walltime": "01:00:00",
        "max_nodes": 1,
        "cpus_per_node": 32,
        "mem_per_node_mb": 64000,
        "gpus_per_node": 0,
        "default": True,
    }
    assert [p["name"] for p in dev["partitions"] if p["default"]] == ["court"]


def test_cluster_detail_has_live_health(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster
) -> None:
    client = auth_client(make_user())
    health = client.get("/api/v1/clusters/devcluster").json()["health"]
    assert health["reachable"] is True and health["slurm_version"] == "22.05.8"
    assert health["partitions"] == {"court": "up", "long": "up", "debug": "up"}
    assert fake_cluster.calls["ping"] == 1


@pytest.mark.parametrize(
    "failure", [SchedulerUnavailable("ssh: connection refused"), ConfigError("no CA key configured")]
)
def test_a_failing_ping_is_reported_in_the_body_not_as_a_5xx(
    failure: Exception, make_user: MakeUser, auth_client: AuthClient
) -> None:
    response = auth_client(make_user()).get("/api/v1/clusters/devcluster")
    assert response.status_code == 200, response.text
    health = response.json()["health"]
    assert health["reachable"] is False and str(failure.detail) in health["detail"]  # type: ignore[attr-defined]


def test_unreachable_cluster_health(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster
) -> None:
    fake_cluster.set_unreachable()
    health = auth_client(make_user()).get("/api/v1/clusters/devcluster").json()["health"]
    assert health["reachable"] is False and "connection refused" in health["detail"]


def test_unknown_cluster_and_template_are_404(make_user: MakeUser, auth_client: AuthClient) -> None:
    client = auth_client(make_user())
    assert_problem(client.get("/api/v1/clusters/nowhere"), 404, "not_found")
    assert_problem(client.get("/api/v1/templates/nothing"), 404, "not_found")
    assert_problem(client.get("/api/v1/templates/..%2F..%2Fetc%2Fpasswd"), 404)


def test_template_detail_has_typed_parameters_with_limits_and_help(
    make_user: MakeUser, auth_client: AuthClient
) -> None:
    body = auth_client(make_user()).get("/api/v1/templates/hello").json()
    assert body["title"] == {"en": "Hello world", "fr": "Bonjour"}
    assert set(body["description"]) == {"en", "fr"}
    params = {p["name"]: p for p in body["parameters"]}
    assert params["repeat"]["type"] == "int"
    assert (params["repeat"]["default"], params["repeat"]["min"], params["repeat"]["max"]) == (1, 1, 100)
    assert params["message"]["type"] == "str" and params["message"]["max_length"] == 500
    assert params["message"]["default"] == "Hello from myriagate"
    for param in params.values():
        assert param["help"]["en"] and param["help"]["fr"]
