"""Holds do not leak (threat F05). A job neither squeue nor sacct knows, in
clean answers, for MYRIAGATE_VANISHED_JOB_RELEASE_S ends failed and its hold is released once;
a cluster that does not answer never counts, and a job that shows up again restarts the clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.ledger import SqlLedger
from myriagate.db.models import Job, User
from myriagate.db.repos import audit as audit_repo
from myriagate.db.repos import projects as projects_repo
from myriagate.domain.costs import Cost
from myriagate.domain.states import JobState
from myriagate.ports import Balance
from myriagate.profiles.loader import load_profile
from myriagate.profiles.models import ClusterProfile
from myriagate.services.allocations import grants as allocations
from myriagate.services.jobs import vanished
from myriagate.services.runtime.worker import Worker, WorkerOptions, settle_step
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.settings import Settings
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER, FakeClock, add_project
from tests.fakes.fake_slurm import FakeSlurmBackendFactory

BOUND = 3 * 3600.0
HOLD = Cost(600, 0)  # 1 CPU, 1000 MB, 10 min on court: billing=1 × 600 s (as in test_settlement)
GRANT = Cost(10 * 3600, 0)


@pytest.fixture
def profile() -> ClusterProfile:
    return load_profile(CLUSTER, Settings(dev_mode=True))


@pytest.fixture
def allocation_id(session: Session, clock: FakeClock, alice: User) -> object:
    alice.is_platform_admin = True  # for the setup only
    projects_repo.add_institution(session, code="unicaen", name="Caen")
    add_project(session, cluster=CLUSTER, slurm_account="caen-climat", institution="unicaen",
                              created_at=clock.now())  # fmt: skip
    session.commit()
    period = allocations.create_period(session, alice, cluster=CLUSTER, name="2026",
                                       starts_at=datetime(2026, 1, 1, tzinfo=UTC),
                                       ends_at=datetime(2027, 1, 1, tzinfo=UTC), clock=clock)  # fmt: skip
    allocations.set_quota(session, alice, institution="unicaen", period_id=period.id,
                          amount=allocations.hours(100), clock=clock)  # fmt: skip
    result = allocations.grant(session, alice, cluster=CLUSTER, slurm_account="caen-climat",
                               amount=allocations.hours(10), clock=clock, ledger=SqlLedger)  # fmt: skip
    alice.is_platform_admin = False
    session.commit()
    return result.allocation_id


def submit(session: Session, backends: FakeSlurmBackendFactory, profile: ClusterProfile, alice: User,
           clock: FakeClock) -> Job:  # fmt: skip
    request = SubmitRequest(script_text="#!/bin/bash\nsrun ./model\n", cluster=CLUSTER,
                            overrides={"time": "00:10:00", "mem": "1000M"})  # fmt: skip
    job = submit_job(session, backends=backends, profile=profile, user=alice, request=request, clock=clock,
                     ledger=SqlLedger)  # fmt: skip
    assert job.slurm_job_id is not None
    return job


def worker(session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory, clock: FakeClock,
           profile: ClusterProfile) -> Worker:  # fmt: skip
    step = settle_step(cluster=CLUSTER, backends=backends, clock=clock, settings=Settings(dev_mode=True),
                       profile=profile, ledger=SqlLedger)  # fmt: skip
    options = WorkerOptions(cluster=CLUSTER, uncertain_after_s=60, vanished_after_s=BOUND)
    return Worker(session_factory, backends, clock, options, ledger=worker_ledger(clock), settle=step)


def balance(session_factory: sessionmaker[Session], allocation_id: object) -> Balance:
    with session_factory() as s:
        return SqlLedger(s).balance(allocation_id)  # type: ignore[arg-type]


def state_of(session_factory: sessionmaker[Session], job: Job) -> tuple[JobState, str | None]:
    with session_factory() as s:
        row = s.get(Job, job.id)
        assert row is not None
        return row.state, row.reason


def actions(session_factory: sessionmaker[Session], job: Job) -> list[str]:
    with session_factory() as s:
        return [e.action for e in audit_repo.for_target(s, "job", str(job.id))]


def vanished_count() -> float:
    return REGISTRY.get_sample_value("myriagate_jobs_vanished_total", {"cluster": CLUSTER}) or 0.0


def test_a_job_slurm_lost_fails_and_its_hold_is_released_once_after_the_bound(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    clock: FakeClock, profile: ClusterProfile, alice: User, allocation_id: object,
) -> None:  # fmt: skip
    job = submit(session, backends, profile, alice, clock)
    backends.cluster.set_state(job.slurm_job_id or "", "RUNNING")
    w = worker(session_factory, backends, clock, profile)
    w.run_once()
    assert state_of(session_factory, job)[0] is JobState.RUNNING
    before = vanished_count()

    backends.cluster.forget(job.slurm_job_id or "")
    w.run_once()  # first clean miss: the clock starts, nothing else changes
    assert actions(session_factory, job).count(vanished.MISSING) == 1
    clock.advance(BOUND - 1)
    w.run_once()
    assert state_of(session_factory, job)[0] is JobState.RUNNING
    assert balance(session_factory, allocation_id).held == HOLD

    clock.advance(1)
    w.run_once()
    state, reason = state_of(session_factory, job)
    assert state is JobState.FAILED
    assert reason == (f"lost by Slurm: neither the queue nor the accounting knows job {job.slurm_job_id} "
                      "after 3 h; its hold was released")  # fmt: skip
    after = balance(session_factory, allocation_id)
    assert (after.held, after.charged, after.remaining) == (Cost(), Cost(), GRANT)
    assert vanished_count() == before + 1
    with session_factory() as s:
        [event] = [e for e in audit_repo.for_target(s, "job", str(job.id)) if e.action == vanished.RELEASED]
        assert event.detail["last_state"] == "running"
        assert event.detail["slurm_job_id"] == job.slurm_job_id

    clock.advance(BOUND)
    w.run_once()
    w.run_once()
    assert balance(session_factory, allocation_id) == after  # released once, nothing charged later
    assert actions(session_factory, job).count(vanished.RELEASED) == 1
    assert vanished_count() == before + 1


def test_an_unreachable_cluster_neither_starts_nor_ends_the_clock(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    clock: FakeClock, profile: ClusterProfile, alice: User, allocation_id: object,
) -> None:  # fmt: skip
    job = submit(session, backends, profile, alice, clock)
    w = worker(session_factory, backends, clock, profile)
    backends.cluster.forget(job.slurm_job_id or "")
    backends.cluster.set_unreachable()
    for _ in range(4):
        clock.advance(BOUND)
        w.run_once()
    assert state_of(session_factory, job)[0] is JobState.PENDING
    assert vanished.MISSING not in actions(session_factory, job)
    assert balance(session_factory, allocation_id).held == HOLD

    backends.cluster.set_unreachable(False)
    w.run_once()  # the first clean answer without the job starts the clock now
    clock.advance(BOUND / 2)
    backends.cluster.set_unreachable()
    clock.advance(BOUND)  # past the bound, but the cluster does not answer
    w.run_once()
    assert state_of(session_factory, job)[0] is JobState.PENDING
    assert balance(session_factory, allocation_id).held == HOLD

    backends.cluster.set_unreachable(False)
    w.run_once()  # a clean answer past the bound
    assert state_of(session_factory, job)[0] is JobState.FAILED
    assert balance(session_factory, allocation_id).held == Cost()


def test_a_job_that_reappears_restarts_the_clock(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    clock: FakeClock, profile: ClusterProfile, alice: User, allocation_id: object,
) -> None:  # fmt: skip
    job = submit(session, backends, profile, alice, clock)
    w = worker(session_factory, backends, clock, profile)
    records = backends.cluster.forget(job.slurm_job_id or "")
    w.run_once()  # missed: the clock starts
    clock.advance(BOUND - 60)
    for record in records:  # slurmdbd caught up: the job is known again
        backends.cluster.jobs[record.slurm_job_id] = record
    w.run_once()
    seen = actions(session_factory, job)
    assert (seen.count(vanished.MISSING), seen.count(vanished.SEEN_AGAIN)) == (1, 1)
    backends.cluster.forget(job.slurm_job_id or "")
    clock.advance(120)  # past the first miss + bound: but the clock restarted
    w.run_once()
    clock.advance(BOUND - 1)
    w.run_once()
    assert state_of(session_factory, job)[0] is JobState.PENDING
    assert balance(session_factory, allocation_id).held == HOLD
    clock.advance(1)
    w.run_once()
    assert state_of(session_factory, job)[0] is JobState.FAILED
    assert balance(session_factory, allocation_id).held == Cost()


def test_the_bound_must_exceed_the_accounting_lag() -> None:
    with pytest.raises(ValueError, match="VANISHED_JOB_RELEASE_S"):
        Settings(dev_mode=True, accounting_lag_s=600, vanished_job_release_s=300)
