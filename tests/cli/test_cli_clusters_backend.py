# ruff: noqa: F811 - fixtures imported by name come back as test parameters
"""Issue #16: ``myriagate clusters`` says how the gateway drives each cluster's Slurm (cli,
pyslurm or rest), from the profile's ``[connection] backend``, in its table and its JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from myriagate.cli.context import CliDeps
from myriagate.cli.main import app as cli_app
from myriagate.db.models.users import User
from myriagate.profiles.models import Connection
from myriagate.web.api.clusters import _cluster_out
from tests.cli.test_cli_allocations import (  # noqa: F401 - fixtures by name
    URL,
    As,
    as_user,
    http,
    ok,
    people,
    quiet_server_logs,
    settings_overrides,
    world,
)
from tests.conftest import CLUSTER
from tests.fakes.profiles import dev_profile


@pytest.fixture
def alice(
    http: TestClient, tmp_path: Path, token_for: Callable[[User], str], people: dict[str, User], world: object
) -> As:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "MYRIAGATE_URL": URL, "NO_COLOR": "1",
           "MYRIAGATE_TOKEN": token_for(people["alice"]), "COLUMNS": "100"}  # fmt: skip

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli_app, list(args), env=env, obj=CliDeps(http=http))

    return run


def test_clusters_name_the_backend_in_the_table_and_the_json(alice: As) -> None:
    assert f"{CLUSTER} (default) — Slurm" in ok(alice("clusters")) and " via cli" in ok(alice("clusters"))
    listed = {c["name"]: c["backend"] for c in json.loads(ok(alice("clusters", "--json")))}
    assert listed[CLUSTER] == "cli"
    assert json.loads(ok(alice("clusters", CLUSTER, "--json")))["backend"] == "cli"


def test_a_rest_cluster_is_shown_as_rest() -> None:
    rest: dict[str, Any] = {
        "url": "http://127.0.0.1:6820",
        "jwt_key": "/etc/myriagate/jwt.key",
        "files": "none",
    }
    connection = Connection(backend="rest", service_login="myriagate", rest=rest)  # type: ignore[arg-type]
    profile = dev_profile().model_copy(update={"connection": connection})
    gateway: Any = SimpleNamespace(settings=SimpleNamespace(default_cluster=CLUSTER))

    assert _cluster_out(profile, gateway).backend == "rest"
