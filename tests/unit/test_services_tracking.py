"""Tracking ticks: one status call for all jobs, states only forward, reconciliation by tag."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from myriagate.db.models import Job, User
from myriagate.db.repos import jobs as jobs_repo
from myriagate.domain.states import JobState
from myriagate.errors import BackendError, SchedulerUnavailable, SubmissionUncertain
from myriagate.services.jobs.tracking import DEFAULT_ACCOUNTING_LAG_S, REASON_LOOKING_AGAIN, tick
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.fakes.profiles import dev_profile

UNCERTAIN_AFTER_S = 120.0


def submit(
    session: Session, backends: FakeSlurmBackendFactory, user: User, clock: FakeClock, **ov: str
) -> Job:
    overrides = {"job-name": "run", **ov}
    request = SubmitRequest(script_text="#!/bin/bash\nsleep 60\n", cluster=CLUSTER, overrides=overrides)
    return submit_job(
        session, backends=backends, profile=dev_profile(), user=user, request=request, clock=clock
    )


def run_tick(session: Session, backends: FakeSlurmBackendFactory, clock: FakeClock) -> tuple[int, int]:
    result = tick(
        session,
        cluster=CLUSTER,
        backends=backends,
        clock=clock,
        ledger=worker_ledger(clock),
        uncertain_after_s=UNCERTAIN_AFTER_S,
    )
    return result.changed, result.polled


def reload(session: Session, job: Job) -> Job:
    session.expire_all()
    fresh = session.get(Job, job.id)
    assert fresh is not None
    return fresh


def states(session: Session, job: Job) -> list[JobState]:
    return [c.to_state for c in jobs_repo.history(session, job.id)]


def test_a_job_is_followed_through_its_life(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    job = submit(session, backends, alice, clock)
    assert job.slurm_job_id is not None
    assert run_tick(session, backends, clock) == (0, 1)  # pending, as recorded at submit

    clock.advance(10)
    fake_cluster.set_state(job.slurm_job_id, "RUNNING")
    assert run_tick(session, backends, clock) == (1, 1)
    running = reload(session, job)
    assert (running.state, running.slurm_state, running.started_at) == (
        JobState.RUNNING,
        "RUNNING",
        clock.now(),
    )
    assert running.work_dir == "/home/alice"

    clock.advance(50)
    fake_cluster.finish(job.slurm_job_id, "FAILED", exit_code=3)
    assert run_tick(session, backends, clock) == (1, 1)
    done = reload(session, job)
    assert (done.state, done.exit_code, done.ended_at) == (JobState.FAILED, 3, clock.now())
    assert states(session, job) == [JobState.SUBMITTING, JobState.PENDING, JobState.RUNNING, JobState.FAILED]

    fake_cluster.reset_calls()
    assert run_tick(session, backends, clock) == (0, 0)  # finished jobs are not polled again
    assert fake_cluster.calls["squeue"] == 0


def test_one_status_call_per_tick_for_many_jobs(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    jobs = [submit(session, backends, alice, clock) for _ in range(12)]
    for job in jobs[:5]:
        assert job.slurm_job_id is not None
        fake_cluster.set_state(job.slurm_job_id, "RUNNING")
    fake_cluster.reset_calls()

    assert run_tick(session, backends, clock) == (5, 12)
    assert fake_cluster.calls["squeue"] == 1
    assert fake_cluster.calls["sacct"] == 0  # every job is still in the queue


def test_a_job_purged_from_squeue_gets_its_end_from_sacct(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    job = submit(session, backends, alice, clock)
    assert job.slurm_job_id is not None
    fake_cluster.finish(job.slurm_job_id, "TIMEOUT", exit_code=0, signal=9, purge=True)
    fake_cluster.reset_calls()

    assert run_tick(session, backends, clock) == (1, 1)
    assert (fake_cluster.calls["squeue"], fake_cluster.calls["sacct"]) == (1, 1)
    done = reload(session, job)
    assert (done.state, done.slurm_state, done.signal) == (JobState.TIMEOUT, "TIMEOUT", 9)


def test_a_job_nowhere_to_be_seen_keeps_its_state(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    job = submit(session, backends, alice, clock)
    assert job.slurm_job_id is not None
    fake_cluster.set_state(job.slurm_job_id, "RUNNING")
    run_tick(session, backends, clock)
    del fake_cluster.jobs[job.slurm_job_id]  # gone from squeue and sacct (a purged database)

    assert run_tick(session, backends, clock) == (0, 1)
    assert reload(session, job).state is JobState.RUNNING  # never assumed completed


def test_states_never_go_backwards(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    job = submit(session, backends, alice, clock)
    assert job.slurm_job_id is not None
    fake_cluster.set_state(job.slurm_job_id, "RUNNING")
    run_tick(session, backends, clock)
    fake_cluster.set_state(job.slurm_job_id, "REQUEUED")  # a stale or requeued view: pending

    run_tick(session, backends, clock)
    assert reload(session, job).state is JobState.RUNNING
    fake_cluster.finish(job.slurm_job_id, "COMPLETED")
    run_tick(session, backends, clock)
    fake_cluster.set_state(job.slurm_job_id, "RUNNING")
    run_tick(session, backends, clock)
    assert reload(session, job).state is JobState.COMPLETED
    assert states(session, job) == [
        JobState.SUBMITTING,
        JobState.PENDING,
        JobState.RUNNING,
        JobState.COMPLETED,
    ]


def test_an_unknown_slurm_state_keeps_the_state_and_records_the_raw_one(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    job = submit(session, backends, alice, clock)
    assert job.slurm_job_id is not None
    fake_cluster.set_state(job.slurm_job_id, "RESV_DEL_HOLD")

    assert run_tick(session, backends, clock) == (1, 1)
    seen = reload(session, job)
    assert (seen.state, seen.slurm_state) == (JobState.PENDING, "RESV_DEL_HOLD")
    assert states(session, job) == [JobState.SUBMITTING, JobState.PENDING]


@pytest.mark.parametrize("error", [SchedulerUnavailable("ssh: timed out"), BackendError("squeue: error")])
def test_a_poll_error_leaves_every_state_unchanged(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
    error: BackendError,
) -> None:
    jobs = [submit(session, backends, alice, clock) for _ in range(3)]
    for job in jobs:
        assert job.slurm_job_id is not None
        fake_cluster.finish(job.slurm_job_id, "COMPLETED")
    fake_cluster.fail_next("squeue", error)

    result = tick(session, cluster=CLUSTER, backends=backends, clock=clock, ledger=worker_ledger(clock))
    assert (result.changed, result.error) == (0, error.detail)
    assert [reload(session, j).state for j in jobs] == [JobState.PENDING] * 3

    assert run_tick(session, backends, clock) == (3, 3)  # the next tick catches up
    assert [reload(session, j).state for j in jobs] == [JobState.COMPLETED] * 3


def test_an_array_job_is_tracked_as_one_job(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    job = submit(session, backends, alice, clock, array="0-3")
    assert job.slurm_job_id is not None and job.array_task_count == 4
    fake_cluster.set_state(f"{job.slurm_job_id}_0", "RUNNING")
    run_tick(session, backends, clock)
    assert reload(session, job).state is JobState.RUNNING
    fake_cluster.finish(job.slurm_job_id, "COMPLETED")
    run_tick(session, backends, clock)
    assert reload(session, job).state is JobState.COMPLETED


def test_only_the_ticked_clusters_jobs_are_polled(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    submit(session, backends, alice, clock)
    result = tick(session, cluster="myria", backends=backends, clock=clock, ledger=worker_ledger(clock))
    assert (result.changed, result.polled) == (0, 0)


# --- reconciliation of jobs left in "submitting" ---------------------------------------------
def test_a_crash_between_sbatch_and_commit_ends_with_exactly_one_slurm_job(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    # sbatch created the job, the reply was lost, and the lookup right after failed too.
    fake_cluster.lose_response_after_submit()
    fake_cluster.fail_next("squeue", SchedulerUnavailable("ssh: connection reset"))
    job = submit(session, backends, alice, clock)
    assert (job.state, job.slurm_job_id) == (JobState.SUBMITTING, None)

    assert run_tick(session, backends, clock)[0] == 0  # too recent: may still be in flight
    clock.advance(UNCERTAIN_AFTER_S + 1)
    run_tick(session, backends, clock)
    run_tick(session, backends, clock)

    found = reload(session, job)
    assert found.state is JobState.PENDING
    assert [j.slurm_job_id for j in fake_cluster.jobs.values() if j.tag == job.tag] == [found.slurm_job_id]
    assert fake_cluster.calls["sbatch"] == 1


def test_a_submission_that_never_reached_slurm_is_submitted_once(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    fake_cluster.fail_next_submit(SchedulerUnavailable("ssh: connection refused"))
    job = submit(session, backends, alice, clock)
    assert job.state is JobState.SUBMITTING

    clock.advance(UNCERTAIN_AFTER_S + 1)
    run_tick(session, backends, clock)  # not found once: slurmdbd may lag, look again later
    assert fake_cluster.calls["sbatch"] == 1 and reload(session, job).reason == REASON_LOOKING_AGAIN
    clock.advance(DEFAULT_ACCOUNTING_LAG_S)
    changed, _ = run_tick(session, backends, clock)
    run_tick(session, backends, clock)

    assert changed >= 1
    resubmitted = reload(session, job)
    assert resubmitted.state is JobState.PENDING and resubmitted.slurm_job_id is not None
    assert fake_cluster.calls["sbatch"] == 2  # the failed one, then exactly one more
    assert fake_cluster.job(resubmitted.slurm_job_id).tag == job.tag


def test_a_resubmission_with_a_lost_reply_is_found_at_the_next_tick(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    fake_cluster.fail_next_submit(SubmissionUncertain("ssh: connection reset"))
    job = submit(session, backends, alice, clock)
    clock.advance(UNCERTAIN_AFTER_S + 1)
    run_tick(session, backends, clock)  # not found once
    clock.advance(DEFAULT_ACCOUNTING_LAG_S)
    fake_cluster.lose_response_after_submit()
    run_tick(session, backends, clock)  # not found again, the lag later -> resubmitted -> reply lost
    assert reload(session, job).state is JobState.SUBMITTING

    run_tick(session, backends, clock)  # found by its tag this time: no third sbatch
    assert reload(session, job).state is JobState.PENDING
    assert fake_cluster.calls["sbatch"] == 2
    assert len(fake_cluster.jobs) == 1


def test_reconciliation_waits_while_the_cluster_is_down(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    fake_cluster.fail_next_submit(SchedulerUnavailable("down"))
    job = submit(session, backends, alice, clock)
    clock.advance(UNCERTAIN_AFTER_S + 1)
    fake_cluster.set_unreachable()
    run_tick(session, backends, clock)
    assert reload(session, job).state is JobState.SUBMITTING
    assert fake_cluster.calls["sbatch"] == 1

    fake_cluster.set_unreachable(False)
    run_tick(session, backends, clock)
    clock.advance(DEFAULT_ACCOUNTING_LAG_S)
    run_tick(session, backends, clock)
    assert reload(session, job).state is JobState.PENDING
    assert fake_cluster.calls["sbatch"] == 2
    assert len(fake_cluster.jobs) == 1
