"""Submitting a job: validation before any write, the outbox, and every sbatch outcome."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models import AuditEvent, Job, JobStateChange, User
from myriagate.db.repos import jobs as jobs_repo
from myriagate.domain.jobs import array_task_count
from myriagate.domain.states import JobState
from myriagate.errors import (
    JobSpecInvalid,
    ProfileViolation,
    SchedulerRejected,
    SchedulerUnavailable,
    SubmissionUncertain,
    UnsafeValue,
)
from myriagate.profiles.loader import load_profile
from myriagate.services.jobs import transitions
from myriagate.services.jobs.dispatch import REASON_UNAVAILABLE
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.settings import Settings
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.fakes.profiles import dev_profile

SCRIPT = "#!/bin/bash\n#SBATCH --job-name=climate-run\nsrun ./model\n"
PARTITIONS = ("court", "long", "debug")


def submit(
    session: Session,
    backends: FakeSlurmBackendFactory,
    user: User,
    clock: FakeClock,
    **overrides: str,
) -> Job:
    request = SubmitRequest(script_text=SCRIPT, cluster=CLUSTER, overrides=overrides)
    return submit_job(
        session, backends=backends, profile=dev_profile(), user=user, request=request, clock=clock
    )


def count(session: Session, model: type[object]) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def history(session: Session, job: Job) -> list[tuple[JobState | None, JobState]]:
    return [(c.from_state, c.to_state) for c in jobs_repo.history(session, job.id)]


# --- happy path ---------------------------------------------------------------------------
def test_a_submitted_job_is_pending_with_its_slurm_id(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    job = submit(session, backends, alice, clock)

    assert job.state is JobState.PENDING
    assert job.slurm_job_id is not None
    assert job.tag == f"mg:{job.id}"
    assert job.slurm_account == "caen-climat"  # the lone membership fills the account in
    assert job.partition == "court"
    assert job.submitted_at == clock.now()
    assert job.output_pattern == "slurm-%j.out"
    slurm_job = fake_cluster.job(job.slurm_job_id)
    assert (slurm_job.tag, slurm_job.login, slurm_job.account) == (job.tag, "alice", "caen-climat")
    assert fake_cluster.calls["sbatch"] == 1

    session.expunge_all()
    stored = session.get(Job, job.id)
    assert stored is not None and stored.state is JobState.PENDING
    assert stored.sbatch_args == [
        "--job-name=climate-run",
        "--partition=court",
        "--account=caen-climat",
        "--time=01:00:00",
        "--ignore-pbs",
    ]
    assert history(session, job) == [(None, JobState.SUBMITTING), (JobState.SUBMITTING, JobState.PENDING)]
    actions = session.scalars(sa.select(AuditEvent.action).where(AuditEvent.target_id == str(job.id))).all()
    assert actions == ["job.submit"]


def test_the_intent_is_committed_before_sbatch_runs(
    session_factory: sessionmaker[Session], alice: User, clock: FakeClock
) -> None:
    seen_during_sbatch: list[list[tuple[str, JobState]]] = []

    def cluster_clock() -> datetime:
        # The fake cluster reads its clock while sbatch runs: look at the database from
        # another session at that very moment, as a crash would leave it.
        with session_factory() as other:
            seen_during_sbatch.append([(j.tag, j.state) for j in other.scalars(sa.select(Job))])
        return clock.now()

    backends = FakeSlurmBackendFactory(FakeCluster(name=CLUSTER, clock=cluster_clock))
    with session_factory() as session:
        job = submit(session, backends, alice, clock)
    assert seen_during_sbatch[0] == [(job.tag, JobState.SUBMITTING)]


def test_a_cancel_requested_while_sbatch_runs_is_sent_once_slurm_has_the_job(
    session_factory: sessionmaker[Session], alice: User, clock: FakeClock
) -> None:
    def cluster_clock() -> datetime:
        # The owner cancels from another request while sbatch runs.
        with session_factory() as other:
            other.execute(sa.update(Job).values(cancel_requested_at=clock.now()))
            other.commit()
        return clock.now()

    cluster = FakeCluster(name=CLUSTER, clock=cluster_clock)
    with session_factory() as session:
        job = submit(session, FakeSlurmBackendFactory(cluster), alice, clock)
        assert (job.state, job.cancel_requested_at) == (JobState.PENDING, clock.now())
        assert history(session, job) == [(None, JobState.SUBMITTING), (JobState.SUBMITTING, JobState.PENDING)]
    slurm_job = cluster.job_by_tag(job.tag)
    assert slurm_job is not None and slurm_job.state == "CANCELLED"


def test_a_job_the_worker_recorded_while_sbatch_ran_moves_to_pending_once(
    session_factory: sessionmaker[Session], alice: User, clock: FakeClock
) -> None:
    worker_saw = clock.now()

    def cluster_clock() -> datetime:
        # The worker's tag lookup got there first (as after a lost sbatch reply).
        with session_factory() as other:
            found = other.scalars(sa.select(Job)).one()
            if found.state is JobState.SUBMITTING:
                transitions.record_submitted(other, found, "4242", at=worker_saw)
                other.commit()
        clock.advance(5)
        return clock.now()

    cluster = FakeCluster(name=CLUSTER, clock=cluster_clock)
    with session_factory() as session:
        job = submit(session, FakeSlurmBackendFactory(cluster), alice, clock)
        slurm_job = cluster.job_by_tag(job.tag)
        assert slurm_job is not None
        assert (job.state, job.slurm_job_id, job.submitted_at) == (
            JobState.PENDING, slurm_job.slurm_job_id, worker_saw,
        )  # fmt: skip
        assert history(session, job) == [(None, JobState.SUBMITTING), (JobState.SUBMITTING, JobState.PENDING)]


def test_an_array_job_records_its_task_count(
    session: Session, backends: FakeSlurmBackendFactory, alice: User, clock: FakeClock
) -> None:
    job = submit(session, backends, alice, clock, array="0-9:2%2")
    assert job.array_task_count == 5
    assert job.output_pattern == "slurm-%A_%a.out"


@pytest.mark.parametrize(("array", "tasks"), [("0-15", 16), ("1,3,5-9:2%4", 5), ("7", 1)])
def test_array_task_count(array: str, tasks: int) -> None:
    assert array_task_count(array) == tasks


# --- bad input: nothing written -------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"time": "abc"}, JobSpecInvalid),
        ({"bad": "x"}, UnsafeValue),
        ({"partition": "gpu-h100"}, ProfileViolation),
        ({"account": "rouen-chimie"}, ProfileViolation),
    ],
)
def test_invalid_requests_write_nothing(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
    overrides: dict[str, str],
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        submit(session, backends, alice, clock, **overrides)
    session.rollback()
    assert (count(session, Job), count(session, JobStateChange), count(session, AuditEvent)) == (0, 0, 0)
    assert fake_cluster.calls["sbatch"] == 0


def test_a_user_without_an_account_on_the_cluster_is_refused(
    session: Session, backends: FakeSlurmBackendFactory, alice: User, clock: FakeClock
) -> None:
    request = SubmitRequest(script_text=SCRIPT, cluster="myria")
    with pytest.raises(ProfileViolation, match="no Slurm account on cluster myria"):
        submit_job(
            session, backends=backends, profile=dev_profile(), user=alice, request=request, clock=clock
        )
    assert count(session, Job) == 0


def test_a_user_with_several_accounts_must_choose(
    session: Session, backends: FakeSlurmBackendFactory, carol: User, clock: FakeClock
) -> None:
    with pytest.raises(ProfileViolation, match="caen-bio, caen-climat"):
        submit(session, backends, carol, clock)
    assert count(session, Job) == 0
    job = submit(session, backends, carol, clock, account="caen-bio")
    assert (job.state, job.slurm_account) == (JobState.PENDING, "caen-bio")


# --- what sbatch says -----------------------------------------------------------------------
def test_a_rejection_fails_the_job_with_slurms_message_and_reraises(
    session_factory: sessionmaker[Session],
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    message = "sbatch: error: Batch job submission failed: Invalid account or account/partition combination"
    fake_cluster.fail_next_submit(SchedulerRejected(message))
    with session_factory() as session, pytest.raises(SchedulerRejected):
        submit(session, backends, alice, clock)
    with session_factory() as session:
        job = session.scalars(sa.select(Job)).one()
        assert (job.state, job.reason, job.slurm_job_id) == (JobState.FAILED, message, None)
        assert history(session, job)[-1] == (JobState.SUBMITTING, JobState.FAILED)


def test_a_lost_sbatch_reply_is_resolved_by_tag_without_resubmitting(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    fake_cluster.lose_response_after_submit()
    job = submit(session, backends, alice, clock)

    assert job.state is JobState.PENDING
    assert fake_cluster.calls["sbatch"] == 1
    assert len([j for j in fake_cluster.jobs.values() if j.tag == job.tag]) == 1
    assert fake_cluster.job_by_tag(job.tag) is not None
    assert job.slurm_job_id == fake_cluster.job_by_tag(job.tag).slurm_job_id  # type: ignore[union-attr]


def test_an_uncertain_submit_not_found_by_tag_stays_submitting(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    fake_cluster.fail_next_submit(SubmissionUncertain("ssh: connection reset"))
    job = submit(session, backends, alice, clock)

    assert (job.state, job.slurm_job_id) == (JobState.SUBMITTING, None)
    assert fake_cluster.calls["sbatch"] == 1  # never resubmitted blindly
    assert fake_cluster.jobs == {}


def test_an_unreachable_cluster_leaves_the_job_submitting_for_the_worker(
    session_factory: sessionmaker[Session],
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    fake_cluster.fail_next_submit(SchedulerUnavailable("ssh: connect to host 127.0.0.1 port 2222: refused"))
    with session_factory() as session:
        job = submit(session, backends, alice, clock)
    with session_factory() as session:
        stored = session.get(Job, job.id)
        assert stored is not None
        assert (stored.state, stored.reason, stored.slurm_job_id) == (
            JobState.SUBMITTING,
            REASON_UNAVAILABLE,
            None,
        )
    assert fake_cluster.jobs == {}


# --- the real parser, profile check and preparer, seen from the submitted script ---------------
def test_the_real_pipeline_submits_a_script_with_directives(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    profile = load_profile(CLUSTER, Settings(dev_mode=True))
    script = "#!/bin/bash\n#SBATCH --job-name=t1\n#SBATCH --time=00:10:00\necho hi\n"
    request = SubmitRequest(script_text=script, cluster=CLUSTER, overrides={"partition": "debug"})
    job = submit_job(session, backends=backends, profile=profile, user=alice, request=request, clock=clock)

    assert (job.state, job.partition, job.slurm_account, job.job_name) == (
        JobState.PENDING,
        "debug",
        "caen-climat",
        "t1",
    )
    assert job.slurm_job_id is not None
    slurm_job = fake_cluster.job(job.slurm_job_id)
    assert (slurm_job.partition, slurm_job.time_limit_s, slurm_job.account) == ("debug", 600, "caen-climat")


def test_the_real_pipeline_refuses_hostile_values_before_writing(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    profile = load_profile(CLUSTER, Settings(dev_mode=True))
    request = SubmitRequest(
        script_text="#!/bin/bash\necho hi\n", cluster=CLUSTER, overrides={"partition": "court;rm -rf ~"}
    )
    with pytest.raises((UnsafeValue, ProfileViolation)):
        submit_job(session, backends=backends, profile=profile, user=alice, request=request, clock=clock)
    session.rollback()
    assert count(session, Job) == 0
    assert fake_cluster.calls["sbatch"] == 0
