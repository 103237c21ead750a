"""Issue #15, the Cluster page as a new researcher met it on the dev stack: two production
clusters the gateway cannot reach, shown as "Erreur de configuration", with the partitions
described in English on a French page. Now a dev stack serves only the clusters it names
(``MYRIAGATE_CLUSTERS``), a researcher reads that a cluster is unreachable right now in plain
words (what went wrong is for platform admins), and a partition's ``description_fr`` is shown
on French pages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from myriagate.db.models.users import User
from myriagate.errors import ConfigError
from myriagate.ports import ClusterHealth
from myriagate.profiles.loader import load_all_profiles
from myriagate.services.runtime.cluster_health import ClusterHealthCache
from myriagate.settings import Settings
from tests.conftest import CLUSTER
from tests.web.conftest import MakeUser
from tests.web.pages_helpers import logged_in


def broken(name: str) -> ClusterHealth:
    raise ConfigError("no CA key for the service login in /etc/myriagate/ca (MYRIAGATE_SSH_CA_KEY_PATH)")


@pytest.fixture
def unconfigured(app: FastAPI) -> FastAPI:
    app.state.cluster_health = ClusterHealthCache(broken, ttl_s=10, failure_ttl_s=3, timeout_s=2)
    return app


def test_a_researcher_reads_unreachable_in_plain_words_an_admin_reads_why(
    unconfigured: FastAPI, make_user: MakeUser
) -> None:
    researcher = logged_in(unconfigured, make_user(username="alice", login="alice"), lang="fr")
    page = researcher.get("/cluster").text
    assert "Injoignable pour le moment : la passerelle ne parvient pas à joindre ce cluster" in page
    assert "Erreur de configuration" not in page and "CA key" not in page and "MYRIAGATE_" not in page
    english = logged_in(unconfigured, make_user(username="bob", login="bob")).get("/cluster").text
    assert "Not reachable right now: the gateway cannot reach this cluster" in english
    assert "Configuration error" not in english

    admin = logged_in(unconfigured, make_user("platform_admin", username="root-admin", login="radmin"))
    page = admin.get("/cluster").text
    assert "Not reachable: Configuration error" in page and "no CA key for the service login" in page
    unconfigured.state.cluster_health.close()


def test_partitions_are_described_in_the_page_language(app: FastAPI, make_user: MakeUser) -> None:
    user = make_user(username="alice", login="alice")
    french = logged_in(app, user, lang="fr").get("/cluster").text
    assert "Tests rapides (jusqu&#39;à 30 minutes)" in french
    assert "Quick tests (up to 30 minutes)" not in french
    assert "Quick tests (up to 30 minutes)" in logged_in(app, user).get("/cluster").text


def test_the_gateway_serves_only_the_clusters_it_names() -> None:
    assert {"devcluster", "myria", "austral"} <= set(load_all_profiles(Settings(dev_mode=True)))
    assert list(load_all_profiles(Settings(dev_mode=True, clusters="devcluster"))) == ["devcluster"]
    assert list(load_all_profiles(Settings(dev_mode=True, clusters=" myria , devcluster,"))) == [
        "devcluster",
        "myria",
    ]
    with pytest.raises(ConfigError, match="no cluster profile 'mars'"):
        load_all_profiles(Settings(dev_mode=True, clusters="devcluster,mars"))
    assert CLUSTER == "devcluster"


def test_dev_env_names_only_the_dev_cluster() -> None:
    lines = (Path(__file__).parents[2] / "deploy" / "dev.env").read_text(encoding="utf-8").splitlines()
    assert "MYRIAGATE_CLUSTERS=devcluster" in lines


def test_the_api_gives_both_descriptions(client_for_api: TestClient) -> None:
    parts = {p["name"]: p for p in client_for_api.get(f"/api/v1/clusters/{CLUSTER}").json()["partitions"]}
    assert parts["debug"]["description"] == "Quick tests (up to 30 minutes)"
    assert parts["debug"]["description_fr"] == "Tests rapides (jusqu'à 30 minutes)"


@pytest.fixture
def client_for_api(make_user: MakeUser, auth_client: Callable[[User], TestClient]) -> TestClient:
    return auth_client(make_user(username="carol", login="carol"))
