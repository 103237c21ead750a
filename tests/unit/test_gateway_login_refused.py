"""A person never acts on a cluster as the gateway's own login (a trial found the demo's
platform and university admins, seeded with the service login, browsing the service account's
home and files): the Slurm backends and the file areas refuse it, the service itself still works."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from myriagate.db.models.users import User
from myriagate.errors import PermissionDenied
from myriagate.profiles.loader import load_profile
from myriagate.profiles.logins import check_personal_login
from myriagate.services.files.browser import FileBrowser
from myriagate.settings import Settings
from myriagate.wiring import ClusterBackends
from myriagate.wiring_files import ClusterFileAccess


@pytest.fixture
def profile_and_settings(tmp_path: Path) -> tuple[Any, Settings]:
    """The dev cluster's profile, run locally (no SSH CA needed to build its backends)."""
    settings = Settings(dev_mode=True, database_url=f"sqlite:///{tmp_path / 'db.sqlite'}")
    profile = load_profile("devcluster", settings)
    local = profile.connection.model_copy(update={"runner": "local"})
    return profile.model_copy(update={"connection": local}), settings


@pytest.mark.parametrize("login", ["myriagate"])
def test_the_service_login_is_refused_for_a_person(
    login: str, profile_and_settings: tuple[object, Settings]
) -> None:
    profile, settings = profile_and_settings
    backends = ClusterBackends(profile, settings)  # type: ignore[arg-type]
    with pytest.raises(PermissionDenied, match="gateway's own login on devcluster"):
        backends.for_login(login)
    with pytest.raises(PermissionDenied, match="gateway's own login"):
        ClusterFileAccess(profile, settings, backends).for_login(login)  # type: ignore[arg-type]
    assert backends.for_service() is not None  # the gateway itself still reaches the cluster
    backends.for_login("alice")  # and a person's own login is fine


def test_a_person_with_the_service_login_has_no_file_areas(
    profile_and_settings: tuple[object, Settings],
) -> None:
    profile, _ = profile_and_settings
    browser = FileBrowser(profile=lambda _name: profile, files_for=lambda _name: None)  # type: ignore[arg-type,return-value]
    admin = User(username="admin", cluster_login="myriagate")
    alice = User(username="alice", cluster_login="alice")
    assert browser.areas(admin, "devcluster") == []
    assert [a.name for a in browser.areas(alice, "devcluster")] == ["home", "scratch"]


def test_an_operator_login_is_refused_too(profile_and_settings: tuple[Any, Settings]) -> None:
    profile, _ = profile_and_settings
    operator = profile.connection.model_copy(update={"operator_login": "slurmop"})
    with_operator = profile.model_copy(update={"connection": operator})
    with pytest.raises(PermissionDenied):
        check_personal_login(with_operator, "slurmop")
