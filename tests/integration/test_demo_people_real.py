"""Issue #15: the demo's admins (diane, Caen's university admin, and admin, the platform admin)
were seeded with the gateway's own service login, so on the dev cluster they met refusals. Each
now has a personal login that deploy/devcluster/up.sh makes: seeded by the demo on a real
gateway over the dev cluster's sshd, they sign in, see their cluster login and browse their
own home and scratch, as themselves (no project: no Slurm association, nothing to submit)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session, sessionmaker

from myriagate.clock import SystemClock
from myriagate.demo import data as demo_data
from myriagate.demo.seeding import seed_users
from myriagate.runners import SshRunner
from tests.integration import test_api_real_cluster as api_real

gateway, server = api_real.gateway, api_real.server

pytestmark = pytest.mark.slurm
ADMINS = (demo_data.DEMO_UNIVERSITY_ADMIN, demo_data.DEMO_ADMIN)


@pytest.mark.parametrize("person", ADMINS, ids=lambda p: p.username)
def test_a_demo_admin_signs_in_and_browses_their_own_files_as_their_own_login(
    person: demo_data.DemoUser, server: str, db: sessionmaker[Session],
    ssh_runner_for: Callable[[str], SshRunner],
) -> None:  # fmt: skip
    with db() as session:
        seeded = {u.username: u for u in seed_users(session, cluster="devcluster", clock=SystemClock())}
    user = seeded[person.username]
    # The dev cluster knows the login, and the gateway's CA certificate opens it.
    assert ssh_runner_for(person.login).run(["id", "-un"]).stdout.decode().strip() == person.login
    with api_real._client(server, db, user) as client:
        me = client.get("/me").json()
        assert me["cluster_login"] == person.login != "myriagate"
        areas = client.get("/clusters/devcluster/files/areas")
        assert areas.status_code == 200, areas.text
        assert [a["name"] for a in areas.json()] == ["home", "scratch"]
        for area in ("home", "scratch"):
            listed = client.get(f"/clusters/devcluster/files/{area}/list")
            assert listed.status_code == 200, listed.text
        stat = client.get("/clusters/devcluster/files/home/stat")
        assert stat.json()["uid"] == _uid(person.login)  # their own home, not the service login's
        jobs = client.get("/jobs")
        assert jobs.status_code == 200 and isinstance(jobs.json()["items"], list)


def test_the_admins_have_no_slurm_association() -> None:
    """No project, nothing to charge: Slurm itself would refuse their jobs."""
    for person in ADMINS:
        shown = subprocess.run(
            ["sacctmgr", "-n", "-P", "show", "assoc", "where", f"user={person.login}", "format=account"],
            capture_output=True, text=True, check=True, timeout=30,
        )  # fmt: skip
        assert shown.stdout.strip() == ""


def _uid(login: str) -> int:
    done = subprocess.run(["id", "-u", login], capture_output=True, text=True, check=True, timeout=10)
    return int(done.stdout)
