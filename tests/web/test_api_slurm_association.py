"""A submission Slurm refuses because the login has no association with the project's
account (a member just added, before ``admin slurm-sync``) says so and what to do, in the
caller's language, on the API and on the job it leaves failed."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from myriagate.errors import SchedulerRejected
from tests.fakes.fake_slurm import FakeCluster
from tests.web.conftest import MakeUser, assert_problem

JOBS = "/api/v1/jobs"
SCRIPT = "#!/bin/bash\n#SBATCH --time=00:10:00\necho hello\n"
REFUSAL = (
    "sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified"
)


def test_a_login_slurm_does_not_know_in_the_account_is_told_to_wait_for_slurm_sync(
    make_user: MakeUser, auth_client: Any, fake_cluster: FakeCluster
) -> None:
    client: TestClient = auth_client(make_user())
    fake_cluster.fail_next_submit(SchedulerRejected(REFUSAL))
    problem = assert_problem(client.post(JOBS, json={"script": SCRIPT}), 502, "scheduler_rejected")
    assert "is not a user of account" in problem["detail"]
    assert "myriagate admin slurm-sync" in problem["detail"]
    assert "Invalid account" in problem["detail"], "Slurm's own words stay"
    fake_cluster.fail_next_submit(SchedulerRejected(REFUSAL))
    french = client.post(JOBS, json={"script": SCRIPT}, headers={"Accept-Language": "fr"}).json()
    assert "n'est pas un utilisateur du compte" in french["detail"]
    failed = client.get(JOBS).json()["items"][0]
    assert failed["state"] == "failed"
