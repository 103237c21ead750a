"""The whole job lifecycle through the services, on the REAL dev cluster.

Jobs are submitted by the submit service as alice and bob, over SSH (pooled paramiko,
short-lived certificates) and locally (as root switching to the login); the tracking tick
follows them to their true final state from Slurm; output is read back; jobs are cancelled.
Nothing here is faked: Slurm, slurmdbd, sshd and the database are real.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from myriagate.clock import SystemClock
from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.db.repos import jobs as jobs_repo
from myriagate.domain.states import JobState
from myriagate.errors import JobSpecInvalid, ProfileViolation, UnsafeValue
from myriagate.profiles.loader import load_profile
from myriagate.profiles.models import ClusterProfile
from myriagate.services.jobs import cancel, outputs, tracking
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.settings import Settings
from myriagate.wiring import ClusterBackends, worker_ledger
from tests.conftest import CLUSTER
from tests.fakes.hostile import CANARY, HOSTILE_STRINGS
from tests.integration.conftest import DevCluster

pytestmark = pytest.mark.slurm

CLOCK = SystemClock()


@pytest.fixture(scope="module", params=["ssh", "local"])
def cluster_backends(
    request: pytest.FixtureRequest, devcluster: DevCluster, gateway_settings: Settings
) -> Iterator[ClusterBackends]:
    """The gateway's real wiring for the dev cluster, over SSH or on this host."""
    profile = load_profile(CLUSTER, gateway_settings)
    if request.param == "local":
        connection = profile.connection.model_copy(update={"runner": "local"})
        profile = profile.model_copy(update={"connection": connection})
    backends = ClusterBackends(profile, gateway_settings)
    yield backends
    backends.close()


@pytest.fixture
def profile(cluster_backends: ClusterBackends) -> ClusterProfile:
    return cluster_backends.profile


def submit(
    db: sessionmaker[Session],
    backends: ClusterBackends,
    user: User,
    script: str,
    **overrides: str,
) -> str:
    with db() as session:
        job = submit_job(
            session,
            backends=backends,
            profile=backends.profile,
            user=session.merge(user),
            request=SubmitRequest(script_text=script, cluster=CLUSTER, overrides=overrides),
            clock=CLOCK,
        )
        assert job.slurm_job_id is not None, job.reason
        return str(job.id)


def track_until(
    db: sessionmaker[Session],
    backends: ClusterBackends,
    done: Callable[[dict[str, JobState]], bool],
    timeout_s: float = 120.0,
) -> dict[str, JobState]:
    """Tick like the worker does until ``done`` holds for {job id: state}."""
    deadline = time.monotonic() + timeout_s
    while True:
        with db() as session:
            tracking.tick(
                session, cluster=CLUSTER, backends=backends, clock=CLOCK, ledger=worker_ledger(CLOCK)
            )
            states = {str(job.id): job.state for job in jobs_repo_all(session)}
        if done(states) or time.monotonic() > deadline:
            return states
        time.sleep(1.0)


def jobs_repo_all(session: Session) -> list[Job]:
    from sqlalchemy import select

    return list(session.scalars(select(Job)))


def final(*job_ids: str) -> Callable[[dict[str, JobState]], bool]:
    return lambda states: all(states[j].is_final for j in job_ids)


def sacct_field(slurm_job_id: str, field: str, timeout_s: float = 30.0) -> str:
    """A field of the job's accounting record; slurmdbd lags a few seconds behind slurmctld."""
    deadline = time.monotonic() + timeout_s
    while True:
        out = subprocess.run(
            ["sacct", "-n", "-X", "-P", "-j", slurm_job_id, "-o", field],
            capture_output=True,
            text=True,
            check=True,
        )
        if out.stdout.strip() or time.monotonic() > deadline:
            return out.stdout.strip()
        time.sleep(1)


def read(
    db: sessionmaker[Session],
    backends: ClusterBackends,
    user: User,
    job_id: str,
    stream: outputs.Stream = "output",
) -> str:
    import uuid

    with db() as session:
        data = outputs.read_output(
            session, job_id=uuid.UUID(job_id), user=session.merge(user), backends=backends, stream=stream
        )
    return data.decode()


def test_jobs_run_as_their_researcher_and_end_in_their_true_state(
    db: sessionmaker[Session], cluster_backends: ClusterBackends, users: dict[str, User]
) -> None:
    ok = submit(
        db, cluster_backends, users["alice"],
        "#!/bin/bash\n#SBATCH --job-name=mg-it-ok\n#SBATCH --time=00:02:00\necho \"ran as $(id -un)\"\n",
        partition="debug",
    )  # fmt: skip
    failing = submit(
        db, cluster_backends, users["bob"],
        "#!/bin/bash\n#SBATCH -J mg-it-fail -t 2 -p debug\n"
        "echo \"ran as $(id -un)\"\necho oops >&2\nexit 3\n",
    )  # fmt: skip
    states = track_until(db, cluster_backends, final(ok, failing))
    assert states[ok] is JobState.COMPLETED
    assert states[failing] is JobState.FAILED

    with db() as session:
        import uuid

        ok_job = jobs_repo.get(session, uuid.UUID(ok))
        fail_job = jobs_repo.get(session, uuid.UUID(failing))
        assert ok_job is not None and fail_job is not None
        assert ok_job.exit_code == 0
        assert fail_job.exit_code == 3
        history = [change.to_state for change in jobs_repo.history(session, fail_job.id)]
        assert history[0] is JobState.SUBMITTING and history[-1] is JobState.FAILED
        assert history == sorted(history, key=lambda s: s.rank)  # never backwards
        # The Slurm record carries the gateway's tag and the researcher's account.
        assert sacct_field(ok_job.slurm_job_id or "", "Comment") == ok_job.tag
        assert sacct_field(fail_job.slurm_job_id or "", "Account") == "rouen-chimie"

    assert "ran as alice" in read(db, cluster_backends, users["alice"], ok)
    bob_out = read(db, cluster_backends, users["bob"], failing)
    assert "ran as bob" in bob_out and "oops" in bob_out


def test_cancel_is_confirmed_by_slurm_and_idempotent(
    db: sessionmaker[Session], cluster_backends: ClusterBackends, users: dict[str, User]
) -> None:
    import uuid

    job_id = submit(
        db, cluster_backends, users["alice"], "#!/bin/bash\nsleep 300\n", partition="debug", time="5"
    )
    track_until(db, cluster_backends, lambda s: s[job_id] is JobState.RUNNING, timeout_s=60)
    for _ in range(2):  # the second cancel is a no-op, not an error
        with db() as session:
            cancel.cancel_job(session, job_id=uuid.UUID(job_id), user=session.merge(users["alice"]),
                              backends=cluster_backends)  # fmt: skip
    states = track_until(db, cluster_backends, final(job_id), timeout_s=60)
    assert states[job_id] is JobState.CANCELLED


def test_bob_cannot_see_or_cancel_alices_job(
    db: sessionmaker[Session], cluster_backends: ClusterBackends, users: dict[str, User]
) -> None:
    import uuid

    from myriagate.errors import NotFound

    job_id = submit(
        db, cluster_backends, users["alice"], "#!/bin/bash\nsleep 60\n", partition="debug", time="2"
    )
    with db() as session, pytest.raises(NotFound):
        cancel.cancel_job(session, job_id=uuid.UUID(job_id), user=session.merge(users["bob"]),
                          backends=cluster_backends)  # fmt: skip
    with db() as session:
        cancel.cancel_job(session, job_id=uuid.UUID(job_id), user=session.merge(users["alice"]),
                          backends=cluster_backends)  # fmt: skip
    assert track_until(db, cluster_backends, final(job_id), timeout_s=60)[job_id] is JobState.CANCELLED


def test_array_job_reports_its_tasks_and_completes(
    db: sessionmaker[Session], cluster_backends: ClusterBackends, users: dict[str, User]
) -> None:
    job_id = submit(
        db, cluster_backends, users["alice"],
        "#!/bin/bash\n#SBATCH --array=0-2\n#SBATCH -t 2\necho task $SLURM_ARRAY_TASK_ID\n",
        partition="debug",
    )  # fmt: skip
    assert track_until(db, cluster_backends, final(job_id))[job_id] is JobState.COMPLETED
    import uuid

    with db() as session:
        data = outputs.read_output(session, job_id=uuid.UUID(job_id), user=session.merge(users["alice"]),
                                   backends=cluster_backends, array_task_id=2)  # fmt: skip
    assert data.decode().strip() == "task 2"


def test_script_cannot_smuggle_options_past_the_gateway(
    db: sessionmaker[Session], cluster_backends: ClusterBackends, users: dict[str, User]
) -> None:
    import uuid

    # Overrides win over directives, and the directives are neutralised: Slurm's record
    # shows the gateway's partition and job name, not the script's.
    job_id = submit(
        db, cluster_backends, users["alice"],
        "#!/bin/bash\n#SBATCH --partition=long\n#SBATCH --job-name=from-script\n#SBATCH -t 2\ntrue\n",
        partition="debug", **{"job-name": "from-gateway"},
    )  # fmt: skip
    with db() as session:
        job = jobs_repo.get(session, uuid.UUID(job_id))
        assert job is not None and job.slurm_job_id is not None
        slurm_id = job.slurm_job_id
    assert sacct_field(slurm_id, "Partition") == "debug"
    assert sacct_field(slurm_id, "JobName") == "from-gateway"
    # Options the gateway owns are refused outright, with nothing sent to Slurm.
    for smuggled in (
        "--comment=mg:someone-else",
        "--uid=0",
        "--export=LD_PRELOAD=/tmp/x.so",
        "--account=rouen-chimie",
    ):
        with db() as session:
            before = len(jobs_repo_all(session))
            with pytest.raises((JobSpecInvalid, ProfileViolation, UnsafeValue)):
                submit_job(
                    session, backends=cluster_backends, profile=cluster_backends.profile,
                    user=session.merge(users["alice"]),
                    request=SubmitRequest(script_text=f"#!/bin/bash\n#SBATCH {smuggled}\ntrue\n",
                                          cluster=CLUSTER),
                    clock=CLOCK,
                )  # fmt: skip
            assert len(jobs_repo_all(session)) == before


@pytest.mark.parametrize("name", [h for h in HOSTILE_STRINGS if "\x00" not in h])
def test_hostile_job_names_arrive_verbatim_or_are_refused(
    name: str, db: sessionmaker[Session], cluster_backends: ClusterBackends, users: dict[str, User]
) -> None:
    import uuid

    Path(CANARY).unlink(missing_ok=True)
    try:
        job_id = submit(db, cluster_backends, users["alice"], "#!/bin/bash\ntrue\n",
                        partition="debug", time="1", **{"job-name": name})  # fmt: skip
    except (JobSpecInvalid, UnsafeValue) as exc:
        assert exc.detail  # refused with a reason
    else:
        with db() as session:
            job = jobs_repo.get(session, uuid.UUID(job_id))
            assert job is not None and job.slurm_job_id is not None
            out = subprocess.run(["squeue", "-h", "-j", job.slurm_job_id, "-o", "%j"],
                                 capture_output=True, check=True)  # fmt: skip
            shown = out.stdout.decode("utf-8", "replace").rstrip("\n")
            if shown:  # still queued; otherwise it already ran
                assert shown == name
            subprocess.run(["scancel", job.slurm_job_id], check=False)
    assert not Path(CANARY).exists(), "a hostile string was executed"


def test_purged_job_gets_its_final_state_from_accounting(
    db: sessionmaker[Session], cluster_backends: ClusterBackends, users: dict[str, User]
) -> None:
    """A job that ran and left squeue before the first poll is resolved by sacct, not guessed."""
    import uuid

    if cluster_backends.profile.connection.runner == "local":
        pytest.skip("one transport is enough: this waits for slurmctld to purge the job")
    job_id = submit(db, cluster_backends, users["bob"], "#!/bin/bash\nexit 3\n", partition="debug", time="1")
    with db() as session:
        job = jobs_repo.get(session, uuid.UUID(job_id))
        assert job is not None and job.slurm_job_id is not None
        slurm_id = job.slurm_job_id
    deadline = time.monotonic() + 150  # MinJobAge=10 plus slurmctld's purge interval
    while time.monotonic() < deadline:
        out = subprocess.run(["squeue", "-h", "-j", slurm_id, "-o", "%i"], capture_output=True, text=True)
        if slurm_id not in out.stdout:
            break
        time.sleep(3)
    else:
        pytest.fail(f"job {slurm_id} never left squeue")
    states = track_until(db, cluster_backends, final(job_id), timeout_s=30)
    assert states[job_id] is JobState.FAILED
    with db() as session:
        job = jobs_repo.get(session, uuid.UUID(job_id))
        assert job is not None and job.exit_code == 3


@pytest.mark.timeout(400)
@pytest.mark.long_wait
def test_job_over_its_time_limit_ends_in_timeout(
    db: sessionmaker[Session], cluster_backends: ClusterBackends, users: dict[str, User]
) -> None:
    if cluster_backends.profile.connection.runner == "local":
        pytest.skip("one transport is enough: this waits for Slurm to enforce a one-minute limit")
    job_id = submit(
        db, cluster_backends, users["alice"], "#!/bin/bash\nsleep 600\n", partition="debug", time="1"
    )
    states = track_until(db, cluster_backends, final(job_id), timeout_s=240)
    assert states[job_id] is JobState.TIMEOUT
