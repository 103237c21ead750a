"""A suspended project on the REAL dev cluster: alice's gateway submission is refused (409
``project_suspended``) and nothing reaches Slurm (no job of that name in squeue or sacct);
resumed, the same submission reaches Slurm (so the check above can fail)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from myriagate.clock import SystemClock
from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.db.repos import projects as projects_repo
from myriagate.errors import ProjectSuspended
from myriagate.profiles.loader import load_profile
from myriagate.services.allocations import suspension
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.settings import Settings
from myriagate.wiring import ClusterBackends
from tests.conftest import CLUSTER, add_project
from tests.integration.conftest import DevCluster

pytestmark = pytest.mark.slurm

CLOCK = SystemClock()
ACCOUNT = "caen-climat"


@pytest.fixture
def backends(devcluster: DevCluster, gateway_settings: Settings) -> Iterator[ClusterBackends]:
    backends = ClusterBackends(load_profile(CLUSTER, gateway_settings), gateway_settings)
    yield backends
    backends.close()


def _slurm_jobs_named(name: str) -> list[str]:
    queued = subprocess.run(
        ["squeue", "-h", "-n", name, "-o", "%i"], capture_output=True, text=True, check=True
    )
    run = subprocess.run(["sacct", "-n", "-X", "-P", "-S", "now-1hour", "--name", name, "-o", "JobID"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return sorted(set(queued.stdout.split()) | set(run.stdout.split()))


def test_a_suspended_projects_submission_is_refused_and_nothing_reaches_slurm(
    db: sessionmaker[Session], backends: ClusterBackends, users: dict[str, User]
) -> None:
    name = f"mg-suspended-{uuid.uuid4().hex[:8]}"
    request = SubmitRequest(script_text="#!/bin/bash\nsleep 1\n", cluster=CLUSTER,
                            overrides={"time": "00:02:00", "mem": "500M", "job-name": name})  # fmt: skip
    with db() as session:
        # Loaded, not merged: a merged user carries its projects as the fixture saw them (not suspended).
        admin, alice = session.get_one(User, users["bob"].id), session.get_one(User, users["alice"].id)
        admin.is_platform_admin = True
        if projects_repo.get_institution(session, "unicaen") is None:
            projects_repo.add_institution(session, code="unicaen", name="Caen")
        if projects_repo.get_project(session, CLUSTER, ACCOUNT) is None:
            add_project(session, cluster=CLUSTER, slurm_account=ACCOUNT, institution="unicaen",
                        created_at=CLOCK.now())  # fmt: skip
        session.commit()
        suspension.suspend(session, admin, CLUSTER, ACCOUNT, reason="security incident", clock=CLOCK)
        with pytest.raises(ProjectSuspended, match="security incident"):
            submit_job(session, backends=backends, profile=backends.profile, user=alice, request=request,
                       clock=CLOCK)  # fmt: skip
        assert session.query(Job).filter(Job.job_name == name).count() == 0
    assert _slurm_jobs_named(name) == []  # nothing reached Slurm

    with db() as session:  # the control: resumed, the same submission reaches Slurm
        admin, alice = session.get_one(User, users["bob"].id), session.get_one(User, users["alice"].id)
        suspension.resume(session, admin, CLUSTER, ACCOUNT, reason="closed", clock=CLOCK)
        job = submit_job(session, backends=backends, profile=backends.profile, user=alice, request=request,
                         clock=CLOCK)  # fmt: skip
        assert job.slurm_job_id is not None, job.reason
    try:
        assert _slurm_jobs_named(name) == [job.slurm_job_id]
    finally:
        subprocess.run(["scancel", job.slurm_job_id], check=False)
