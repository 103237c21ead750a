"""Cancelling: owner only, idempotent, confirmed by tracking, and safe before Slurm knows the job."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models import AuditEvent, Job, User
from myriagate.domain.states import JobState
from myriagate.errors import JobNotCancellable, NotFound, SchedulerUnavailable, SubmissionUncertain
from myriagate.services.jobs.cancel import cancel_job
from myriagate.services.jobs.tracking import tick
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.fakes.profiles import dev_profile


def submit(session: Session, backends: FakeSlurmBackendFactory, user: User, clock: FakeClock) -> Job:
    request = SubmitRequest(
        script_text="#!/bin/bash\nsleep 60\n", cluster=CLUSTER, overrides={"job-name": "run"}
    )
    return submit_job(
        session, backends=backends, profile=dev_profile(), user=user, request=request, clock=clock
    )


def cancel(
    session: Session, backends: FakeSlurmBackendFactory, job: Job, user: User, clock: FakeClock
) -> Job:
    return cancel_job(session, job_id=job.id, user=user, backends=backends, clock=clock)


def reload(session: Session, job: Job) -> Job:
    session.expire_all()
    fresh = session.get(Job, job.id)
    assert fresh is not None
    return fresh


def test_a_cancel_is_sent_as_the_owner_and_confirmed_by_tracking(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    job = submit(session, backends, alice, clock)
    assert job.slurm_job_id is not None
    fake_cluster.set_state(job.slurm_job_id, "RUNNING")
    tick(session, cluster=CLUSTER, backends=backends, clock=clock, ledger=worker_ledger(clock))

    clock.advance(5)
    cancelled = cancel(session, backends, job, alice, clock)
    assert fake_cluster.job(job.slurm_job_id).state == "CANCELLED"
    assert fake_cluster.calls["scancel"] == 1
    # Recorded as requested; the state itself comes from Slurm at the next tick.
    assert (cancelled.state, cancelled.cancel_requested_at) == (JobState.RUNNING, clock.now())
    audit = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "job.cancel")).one()
    assert (audit.actor, audit.target_id, audit.detail) == (
        str(alice.id),
        str(job.id),
        {"slurm_job_id": job.slurm_job_id},
    )

    tick(session, cluster=CLUSTER, backends=backends, clock=clock, ledger=worker_ledger(clock))
    assert reload(session, job).state is JobState.CANCELLED


def test_cancelling_twice_is_harmless(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    job = submit(session, backends, alice, clock)
    cancel(session, backends, job, alice, clock)
    cancel(session, backends, job, alice, clock)  # before tracking confirmed: scancel again, fine
    tick(session, cluster=CLUSTER, backends=backends, clock=clock, ledger=worker_ledger(clock))
    fake_cluster.reset_calls()

    again = cancel(session, backends, job, alice, clock)
    assert again.state is JobState.CANCELLED
    assert fake_cluster.calls["scancel"] == 0  # already cancelled: nothing sent


def test_someone_elses_job_is_not_found(
    session: Session, backends: FakeSlurmBackendFactory, fake_cluster: FakeCluster, alice: User, bob: User,
    clock: FakeClock,
) -> None:  # fmt: skip
    job = submit(session, backends, alice, clock)
    with pytest.raises(NotFound) as not_owner:
        cancel(session, backends, job, bob, clock)
    with pytest.raises(NotFound) as missing:
        cancel_job(session, job_id=uuid.uuid4(), user=bob, backends=backends, clock=clock)
    assert type(not_owner.value) is type(missing.value)  # same answer: existence does not leak
    assert fake_cluster.calls["scancel"] == 0
    assert reload(session, job).cancel_requested_at is None


def test_a_finished_job_cannot_be_cancelled(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    job = submit(session, backends, alice, clock)
    assert job.slurm_job_id is not None
    fake_cluster.finish(job.slurm_job_id, "COMPLETED")
    tick(session, cluster=CLUSTER, backends=backends, clock=clock, ledger=worker_ledger(clock))

    with pytest.raises(JobNotCancellable, match="completed"):
        cancel(session, backends, job, alice, clock)
    assert fake_cluster.calls["scancel"] == 0


def test_a_failed_scancel_records_nothing(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    job = submit(session, backends, alice, clock)
    fake_cluster.fail_next("scancel", SchedulerUnavailable("ssh: timed out"))
    with pytest.raises(SchedulerUnavailable):
        cancel(session, backends, job, alice, clock)
    session.rollback()
    assert reload(session, job).cancel_requested_at is None
    assert session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "job.cancel")).all() == []


def test_a_job_slurm_never_got_is_cancelled_at_once(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    fake_cluster.fail_next_submit(SchedulerUnavailable("down"))
    job = submit(session, backends, alice, clock)

    cancelled = cancel(session, backends, job, alice, clock)
    assert cancelled.state is JobState.CANCELLED
    assert fake_cluster.calls["scancel"] == 0

    clock.advance(600)
    # Not found once: look again later.
    tick(session, cluster=CLUSTER, backends=backends, clock=clock, ledger=worker_ledger(clock))
    assert reload(session, job).reconciled_at is None
    clock.advance(600)
    # Reconciliation must not resubmit.
    tick(session, cluster=CLUSTER, backends=backends, clock=clock, ledger=worker_ledger(clock))
    assert fake_cluster.calls["sbatch"] == 1
    assert fake_cluster.jobs == {}
    assert reload(session, job).reconciled_at is not None


def test_a_job_cancelled_while_its_submission_was_uncertain_is_cancelled_in_slurm_too(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    # sbatch created the job but the reply and the lookup were lost: the gateway has no id.
    fake_cluster.lose_response_after_submit()
    fake_cluster.fail_next("squeue", SubmissionUncertain("ssh: connection reset"))
    job = submit(session, backends, alice, clock)
    assert job.slurm_job_id is None
    cancel(session, backends, job, alice, clock)

    clock.advance(600)
    tick(session, cluster=CLUSTER, backends=backends, clock=clock, ledger=worker_ledger(clock))
    found = reload(session, job)
    slurm_job = fake_cluster.job_by_tag(job.tag)
    assert slurm_job is not None and slurm_job.state == "CANCELLED"
    assert (found.state, found.slurm_job_id) == (JobState.CANCELLED, slurm_job.slurm_job_id)


def test_no_database_connection_is_held_while_scancel_runs(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    # scancel over SSH may take seconds under load: a request holding its pooled connection
    # meanwhile starves the pool (the others time out: 503).
    job = submit(session, backends, alice, clock)
    session.expire_all()  # a fresh request: nothing loaded, no transaction yet
    seen: list[bool] = []
    fake_cluster.on_call = lambda _command: seen.append(session.in_transaction())
    cancelled = cancel(session, backends, job, alice, clock)
    assert seen == [False]
    assert cancelled.cancel_requested_at == clock.now()
    assert reload(session, job).cancel_requested_at == clock.now()  # recorded afterwards all the same
