"""On the REAL dev cluster: a login cannot widen, move or re-tag its own gateway job.

The gateway holds a job's worst-case cost before sbatch and tags it ``--comment=mg:<uuid>``.
deploy/slurm/job_submit.lua (``JobSubmitPlugins=lua``, installed by deploy/devcluster/up.sh)
refuses, for anyone but root and the SlurmUser, every ``scontrol update`` of a gateway job that
could raise its cost or move its charge, and a forged ``mg:`` comment on any job. Its refusals
say "Job violates accounting/QOS policy" (shape) or "Access/permission denied" (comment);
Slurm's own refusals of a user's change (a raised time limit, a foreign account) are "Access/
permission denied" or another message, so every refusal asserted here fails without the plugin.
Jobs run outside the gateway are changed as before, and submissions pass through untouched.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from myriagate.clock import SystemClock
from myriagate.db.models.users import User
from myriagate.domain.jobs import TAG_PREFIX
from myriagate.profiles.loader import load_profile
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.settings import Settings
from myriagate.wiring import ClusterBackends
from tests.conftest import CLUSTER, FakeClock, make_user
from tests.integration.conftest import DevCluster

pytestmark = pytest.mark.slurm

CLOCK = SystemClock()
POLICY = "Job violates accounting/QOS policy"
DENIED = "Access/permission denied"
PENDING = "#!/bin/bash\n#SBATCH --begin=now+3600\n#SBATCH -t 10\ntrue\n"
# What a change could alter of a job's cost or charge, as scontrol show job prints it.
SHAPE_KEYS = ("NumCPUs", "NumNodes", "NumTasks", "CPUs/Task", "MinCPUsNode", "MinMemoryNode", "MinMemoryCPU",
              "TRES", "Partition", "Account", "QOS", "TimeLimit", "Licenses", "TresPerNode", "TresPerJob",
              "ReqNodeList", "Comment")  # fmt: skip
# Each scontrol update key a login could use on its own pending job to widen or move it.
WIDENINGS = ("NumCPUs=16", "MinMemoryNode=8000", "MinMemoryCPU=4000", "Partition=court", "TimeLimit=30",
             "Gres=gpu:1", "TresPerJob=gres/gpu:1", "NumTasks=4", "CPUsPerTask=4", "MinCPUsNode=4",
             "NumNodes=2", "ReqThreads=1", "NodeList=vm", "Licenses=matlab:1", "QOS=short")  # fmt: skip


@pytest.fixture(autouse=True)
def _as_root(devcluster: DevCluster) -> None:
    if os.geteuid() != 0:
        pytest.skip("acting as bob and carol on the dev cluster needs root (runuser)")


@pytest.fixture
def backends(gateway_settings: Settings) -> Iterator[ClusterBackends]:
    backends = ClusterBackends(load_profile(CLUSTER, gateway_settings), gateway_settings)
    yield backends
    backends.close()


@pytest.fixture
def jobs() -> Iterator[list[str]]:
    """Slurm ids to cancel at the end (as root)."""
    ids: list[str] = []
    yield ids
    if ids:
        subprocess.run(["scancel", *ids], check=False, capture_output=True)


@pytest.fixture
def people(db: sessionmaker[Session]) -> dict[str, User]:
    """bob (rouen-chimie) and carol (caen-climat and caen-bio) as gateway users."""
    with db() as session:
        return {
            "bob": make_user(session, "bob@univ-rouen.fr", "bob", ["rouen-chimie"], FakeClock()),
            "carol": make_user(
                session, "carol@unicaen.fr", "carol", ["caen-climat", "caen-bio"], FakeClock()
            ),
        }


def gateway_job(
    db: sessionmaker[Session],
    backends: ClusterBackends,
    user: User,
    jobs: list[str],
    script: str = PENDING,
    **overrides: str,
) -> str:
    """A job the gateway submits as ``user``'s login (over SSH, tagged), pending for an hour."""
    with db() as session:
        job = submit_job(
            session,
            backends=backends,
            profile=backends.profile,
            user=session.merge(user),
            request=SubmitRequest(
                script_text=script, cluster=CLUSTER, overrides={"partition": "debug", **overrides}
            ),
            clock=CLOCK,
        )
        assert job.slurm_job_id is not None, job.reason
        jobs.append(job.slurm_job_id)
        return job.slurm_job_id


def outside_job(login: str, account: str, jobs: list[str], *extra: str) -> str:
    """A job ``login`` submits from their own shell, without the gateway's tag."""
    argv = [
        "runuser",
        "-u",
        login,
        "--",
        "sbatch",
        "--parsable",
        "-A",
        account,
        "-p",
        "debug",
        "-t",
        "10",
        "--begin=now+3600",
        "-o",
        "/dev/null",
        *extra,
        "--wrap",
        "true",
    ]
    job_id = subprocess.run(argv, capture_output=True, text=True, check=True, cwd="/tmp").stdout.strip()
    jobs.append(job_id.split(";")[0])
    return jobs[-1]


def show(job_id: str) -> dict[str, str]:
    line = subprocess.run(
        ["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True, check=True
    ).stdout
    fields = dict(word.split("=", 1) for word in line.split() if "=" in word)
    return {key: fields.get(key, "") for key in SHAPE_KEYS}


def update(login: str, job_id: str, *changes: str) -> subprocess.CompletedProcess[str]:
    argv = ["scontrol", "update", f"jobid={job_id}", *changes]
    if login != "root":
        argv = ["runuser", "-u", login, "--", *argv]
    return subprocess.run(argv, capture_output=True, text=True, check=False, cwd="/tmp")


def test_the_dev_cluster_runs_the_guard() -> None:
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, check=True).stdout
    assert any(
        line.split("=")[0].strip() == "JobSubmitPlugins" and "lua" in line for line in config.splitlines()
    )


def test_bob_cannot_widen_or_move_his_pending_gateway_job(
    db: sessionmaker[Session], backends: ClusterBackends, jobs: list[str], people: dict[str, User]
) -> None:
    job_id = gateway_job(db, backends, people["bob"], jobs)
    before = show(job_id)
    assert before["Comment"].startswith(TAG_PREFIX)
    wrong: list[str] = []
    for change in WIDENINGS:
        result = update("bob", job_id, change)
        if result.returncode == 0 or POLICY not in result.stderr:
            wrong.append(f"{change}: exit {result.returncode}, {result.stderr.strip()!r}")
        if show(job_id) != before:
            wrong.append(f"{change} changed the job: {show(job_id)} (was {before})")
            break
    assert wrong == []


def test_carol_cannot_move_her_gateway_job_to_her_other_account(
    db: sessionmaker[Session], backends: ClusterBackends, jobs: list[str], people: dict[str, User]
) -> None:
    job_id = gateway_job(db, backends, people["carol"], jobs, account="caen-climat")
    before = show(job_id)
    result = update("carol", job_id, "Account=caen-bio")
    assert result.returncode != 0 and POLICY in result.stderr, result.stderr
    assert show(job_id) == before
    # Her own job outside the gateway moves as before.
    outside = outside_job("carol", "caen-climat", jobs)
    assert update("carol", outside, "Account=caen-bio").returncode == 0
    assert show(outside)["Account"] == "caen-bio"


def test_bob_cannot_change_or_remove_his_gateway_jobs_tag(
    db: sessionmaker[Session], backends: ClusterBackends, jobs: list[str], people: dict[str, User]
) -> None:
    job_id = gateway_job(db, backends, people["bob"], jobs)
    before = show(job_id)
    for comment in ("Comment=", "Comment=mine", f"Comment={TAG_PREFIX}{uuid.uuid4()}"):
        result = update("bob", job_id, comment)
        assert result.returncode != 0 and DENIED in result.stderr, (comment, result.stderr)
    assert show(job_id) == before


def test_bob_cannot_forge_a_gateway_tag_onto_his_own_job(jobs: list[str]) -> None:
    job_id = outside_job("bob", "rouen-chimie", jobs, "--comment=mine")
    for forged in (f"{TAG_PREFIX}{uuid.uuid4()}", f" MG:{uuid.uuid4()}"):
        result = update("bob", job_id, f"Comment={forged}")
        assert result.returncode != 0 and DENIED in result.stderr, (forged, result.stderr)
    assert show(job_id)["Comment"] == "mine"


def test_bob_still_changes_his_jobs_outside_the_gateway(jobs: list[str]) -> None:
    job_id = outside_job("bob", "rouen-chimie", jobs)
    for change in (
        "NumCPUs=2",
        "MinMemoryNode=3000",
        "Partition=court",
        "Gres=gpu:1",
        "QOS=short",
        "TimeLimit=5",
        "Comment=renamed",
    ):
        result = update("bob", job_id, change)
        assert result.returncode == 0, (change, result.stderr)
    after = show(job_id)
    assert (
        after["NumCPUs"],
        after["MinMemoryNode"],
        after["Partition"],
        after["QOS"],
        after["TimeLimit"],
        after["Comment"],
    ) == ("2", "3000M", "court", "short", "00:05:00", "renamed")
    assert "gpu" in after["TresPerNode"]


def test_bob_still_holds_releases_and_shortens_his_gateway_job(
    db: sessionmaker[Session], backends: ClusterBackends, jobs: list[str], people: dict[str, User]
) -> None:
    """What cannot raise a cost passes: hold, release, nice, a lower time limit, a new name."""
    job_id = gateway_job(db, backends, people["bob"], jobs)
    for argv in (["hold", job_id], ["release", job_id]):
        result = subprocess.run(
            ["runuser", "-u", "bob", "--", "scontrol", *argv],
            capture_output=True,
            text=True,
            check=False,
            cwd="/tmp",
        )
        assert result.returncode == 0, (argv, result.stderr)
    for change in ("Nice=10", "TimeLimit=5", "Name=renamed"):
        assert update("bob", job_id, change).returncode == 0, change
    assert show(job_id)["TimeLimit"] == "00:05:00"


def test_root_the_operator_may_still_change_a_gateway_job(
    db: sessionmaker[Session], backends: ClusterBackends, jobs: list[str], people: dict[str, User]
) -> None:
    job_id = gateway_job(db, backends, people["bob"], jobs)
    result = update("root", job_id, "NumCPUs=2", "TimeLimit=20")
    assert result.returncode == 0, result.stderr
    after = show(job_id)
    assert (after["NumCPUs"], after["TimeLimit"]) == ("2", "00:20:00")


def test_submissions_pass_through_unchanged(
    db: sessionmaker[Session], backends: ClusterBackends, jobs: list[str], people: dict[str, User]
) -> None:
    """slurm_job_submit changes nothing: a gateway job, a gateway array, an interactive srun."""
    single = gateway_job(
        db,
        backends,
        people["bob"],
        jobs,
        script="#!/bin/bash\n#SBATCH --begin=now+3600\n#SBATCH -t 7\n#SBATCH -c 2\n"
        "#SBATCH --mem=1500M\ntrue\n",
    )
    shape = show(single)
    assert (
        shape["NumCPUs"],
        shape["MinMemoryNode"],
        shape["Partition"],
        shape["Account"],
        shape["TimeLimit"],
    ) == ("2", "1500M", "debug", "rouen-chimie", "00:07:00")
    assert shape["Comment"].startswith(TAG_PREFIX)
    array = gateway_job(
        db,
        backends,
        people["bob"],
        jobs,
        script="#!/bin/bash\n#SBATCH --begin=now+3600\n#SBATCH -t 3\n#SBATCH --array=0-2\ntrue\n",
    )
    line = subprocess.run(
        ["scontrol", "-o", "show", "job", array], capture_output=True, text=True, check=True
    ).stdout
    assert "ArrayTaskId=0-2" in line and "TimeLimit=00:03:00" in line and f"Comment={TAG_PREFIX}" in line
    srun = subprocess.run(
        [
            "runuser",
            "-u",
            "bob",
            "--",
            "srun",
            "-A",
            "rouen-chimie",
            "-p",
            "debug",
            "-t",
            "1",
            "-c",
            "2",
            "--comment=interactive",
            "printenv",
            "SLURM_CPUS_PER_TASK",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd="/tmp",
    )
    assert (srun.returncode, srun.stdout.strip()) == (0, "2"), srun.stderr


def test_bob_cannot_widen_his_running_gateway_job_through_requeuehold(
    db: sessionmaker[Session], backends: ClusterBackends, jobs: list[str], people: dict[str, User]
) -> None:
    """requeuehold puts a running job back to pending: its widening is refused the same way."""
    job_id = gateway_job(db, backends, people["bob"], jobs, script="#!/bin/bash\n#SBATCH -t 2\nsleep 60\n")
    deadline = time.monotonic() + 60
    while _state(job_id) != "RUNNING" and time.monotonic() < deadline:
        time.sleep(1)
    assert _state(job_id) == "RUNNING"
    requeue = subprocess.run(["runuser", "-u", "bob", "--", "scontrol", "requeuehold", job_id],
                             capture_output=True, text=True, check=False, cwd="/tmp")  # fmt: skip
    assert requeue.returncode == 0, requeue.stderr
    before = show(job_id)
    result = update("bob", job_id, "NumCPUs=16")
    assert result.returncode != 0 and POLICY in result.stderr, result.stderr
    assert show(job_id) == before


def _state(job_id: str) -> str:
    return subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True,
                          check=False).stdout.strip()  # fmt: skip
