"""A job submitted outside the gateway cannot escape its charge by carrying a gateway job's tag.

The attack (found 2026-12-05 on the dev cluster): bob submitted a job through the gateway that
never reached Slurm (cancelled while its inputs were staged; or refused by sbatch), then ran
jobs of his own from his shell with ``--comment=mg:<that job's id>``. The outside sweep skipped
every one of them for good: a tag whose gateway job has no Slurm id was taken for a lost
sbatch reply that reconciliation would find, even when that job had ended long ago, had been
looked up already, or belonged to another login. Free compute, as many jobs as he liked.
A tag shields an outside job only while its gateway job's submission is still open (submitting,
or cancelled while submitting and not yet looked up) and that job is of the same login: only
then can it be the very submission whose reply was lost.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.ledger import SqlLedger
from myriagate.db.models import Job, User
from myriagate.domain.costs import Cost
from myriagate.domain.states import JobState
from myriagate.errors import SchedulerRejected, SchedulerUnavailable
from myriagate.profiles.loader import load_profile
from myriagate.profiles.models import ClusterProfile
from myriagate.services.allocations import settlement
from myriagate.settings import Settings
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_slurm import FakeSlurmBackendFactory
from tests.unit import test_settlement as base


@pytest.fixture
def profile() -> ClusterProfile:
    return load_profile(CLUSTER, Settings(dev_mode=True))


@pytest.fixture
def allocation_id(session: Session, clock: FakeClock, alice: User) -> object:
    return base.allocation_id.__wrapped__(session, clock, alice)  # type: ignore[attr-defined]


def _run_outside(
    backends: FakeSlurmBackendFactory, clock: FakeClock, login: str, tag: str, n: int
) -> list[str]:
    ids = [base.outside_job(backends, login, tag=tag) for _ in range(n)]
    for slurm_job_id in ids:
        backends.cluster.set_state(slurm_job_id, "RUNNING")
    clock.advance(60)
    for slurm_job_id in ids:
        backends.cluster.finish(slurm_job_id)
    return ids


def _sweep(session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory, clock: FakeClock,
           profile: ClusterProfile) -> int:  # fmt: skip
    with session_factory() as s:
        return settlement.sweep_outside(
            s, cluster=CLUSTER, profile=profile, backends=backends, ledger=SqlLedger,
            since=clock.now().replace(year=2025), until=clock.advance(1),
        )  # fmt: skip


def _charged(session_factory: sessionmaker[Session]) -> list[str]:
    return sorted(j for k, j in base.kinds(session_factory) if k == "charge" and j)


def test_outside_jobs_tagged_with_a_gateway_job_that_never_reached_slurm_are_charged(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    clock: FakeClock, profile: ClusterProfile, alice: User, allocation_id: object,
) -> None:  # fmt: skip
    backends.cluster.fail_next_submit(SchedulerRejected("Invalid qos specification"))
    with pytest.raises(SchedulerRejected):
        base.submit(session, backends, profile, alice, clock)
    refused = session.scalars(sa.select(Job)).one()
    assert refused.state is JobState.FAILED and refused.slurm_job_id is None  # ended, never in Slurm
    forged = _run_outside(backends, clock, "alice", refused.tag, 3)
    base.worker(session_factory, backends, clock, profile).run_once()
    clock.advance(120)
    assert _sweep(session_factory, backends, clock, profile) == 3
    assert _charged(session_factory) == sorted(forged)
    assert base.balance(session_factory, allocation_id).charged == Cost(3 * base.cost_of(60).core_seconds, 0)


def test_an_outside_job_of_another_login_tagged_with_a_submission_in_doubt_is_charged(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    clock: FakeClock, profile: ClusterProfile, alice: User, allocation_id: object,
) -> None:  # fmt: skip
    backends.cluster.fail_next_submit(SchedulerUnavailable("connection refused"))
    doubt = base.submit(session, backends, profile, alice, clock)
    assert doubt.state is JobState.SUBMITTING and doubt.slurm_job_id is None  # in doubt
    # bob read alice's tag in squeue (comments are public) and copies it onto his own job; the
    # lookup that would find alice's lost job asks her login's jobs only, never his.
    forged = _run_outside(backends, clock, "bob", doubt.tag, 1)
    assert _sweep(session_factory, backends, clock, profile) == 1
    assert _charged(session_factory) == forged


def test_an_outside_job_tagged_after_reconciliation_said_the_job_never_reached_slurm_is_charged(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    clock: FakeClock, profile: ClusterProfile, alice: User, allocation_id: object,
) -> None:  # fmt: skip
    backends.cluster.fail_next_submit(SchedulerUnavailable("connection refused"))
    job = base.submit(session, backends, profile, alice, clock)
    with session_factory() as s:  # cancelled while submitting (its inputs being staged, say)
        row = s.get(Job, job.id)
        assert row is not None
        row.state, row.cancel_requested_at = JobState.CANCELLED, clock.now()
        s.commit()
    w = base.worker(session_factory, backends, clock, profile)
    for _ in range(3):  # two clean lookups the accounting lag apart: it never reached Slurm
        clock.advance(200)
        w.run_once()
    with session_factory() as s:
        row = s.get(Job, job.id)
        assert row is not None and row.reconciled_at is not None and row.slurm_job_id is None
    forged = _run_outside(backends, clock, "alice", job.tag, 2)
    assert _sweep(session_factory, backends, clock, profile) == 2
    assert _charged(session_factory) == sorted(forged)


def test_a_submission_kept_in_doubt_spares_one_outside_job_no_larger_than_its_hold(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    clock: FakeClock, profile: ClusterProfile, alice: User, allocation_id: object,
) -> None:  # fmt: skip
    # A login's start-up files run before every command of the gateway as that login: they
    # can make its sbatch time out and every tag lookup fail, so the job stays in doubt for
    # good (its hold with it). Its tag then spares one job of that login costing at most the
    # hold; the others carrying it, and a larger one, are charged.
    backends.cluster.fail_next_submit(SchedulerUnavailable("connection refused"))
    doubt = base.submit(session, backends, profile, alice, clock)  # held 600 core-seconds
    assert doubt.state is JobState.SUBMITTING and base.HOLD.core_seconds == 600
    small = _run_outside(backends, clock, "alice", doubt.tag, 3)  # 60 core-seconds each
    big = base.outside_job(backends, "alice", tag=doubt.tag)
    backends.cluster.set_state(big, "RUNNING")
    clock.advance(700)
    backends.cluster.finish(big)
    assert _sweep(session_factory, backends, clock, profile) == 3
    assert _charged(session_factory) == sorted([*small[1:], big])
