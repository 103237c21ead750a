"""Settlement against a fake Slurm: charged exactly once, holds of jobs that never ran or never
reached Slurm released, outside jobs charged once, and consistent after a crash anywhere."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.ledger import SqlLedger
from myriagate.db.models import Job, User
from myriagate.db.models.allocations import LedgerEntry
from myriagate.db.repos import projects as projects_repo
from myriagate.domain.costs import Cost
from myriagate.domain.jobs import RenderedScript
from myriagate.domain.states import JobState
from myriagate.errors import SchedulerRejected, SchedulerUnavailable
from myriagate.ports import Balance
from myriagate.profiles.loader import load_profile
from myriagate.profiles.models import ClusterProfile
from myriagate.services import allocations, settlement, tracking
from myriagate.services.submit import SubmitRequest, submit_job
from myriagate.services.worker import Worker, WorkerOptions, settle_step
from myriagate.settings import Settings
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_slurm import FakeSlurmBackendFactory

SCRIPT = "#!/bin/bash\nsrun ./model\n"
SMALL = {"time": "00:10:00", "mem": "1000M"}
HOLD = Cost(747, 0)  # (1 + 1000/1024 × 0.25) × 600 s, rounded up


def cost_of(seconds: int, cpus: int = 1) -> Cost:
    """What the fake charges: ``cpus`` CPUs with 1000 MB each on court, for ``seconds``."""
    from decimal import ROUND_CEILING, Decimal

    per_second = Decimal(cpus) + Decimal(1000 * cpus) / 1024 * Decimal("0.25")
    return Cost(int((per_second * seconds).to_integral_value(rounding=ROUND_CEILING)), 0)


@pytest.fixture
def profile() -> ClusterProfile:
    return load_profile(CLUSTER, Settings(dev_mode=True))


@pytest.fixture
def allocation_id(session: Session, clock: FakeClock, alice: User) -> object:
    admin = alice  # reuse the row: a platform admin for the setup only
    admin.is_platform_admin = True
    projects_repo.add_institution(session, code="unicaen", name="Caen")
    projects_repo.add_project(session, cluster=CLUSTER, slurm_account="caen-climat", institution="unicaen",
                              created_at=clock.now())  # fmt: skip
    session.commit()
    period = allocations.create_period(session, admin, cluster=CLUSTER, name="2026",
                                       starts_at=datetime(2026, 1, 1, tzinfo=UTC),
                                       ends_at=datetime(2027, 1, 1, tzinfo=UTC), clock=clock)  # fmt: skip
    allocations.set_quota(session, admin, institution="unicaen", period_id=period.id,
                          amount=allocations.hours(100), clock=clock)  # fmt: skip
    result = allocations.grant(session, admin, cluster=CLUSTER, slurm_account="caen-climat",
                               amount=allocations.hours(10), clock=clock)  # fmt: skip
    admin.is_platform_admin = False
    session.commit()
    return result.allocation_id


def submit(session: Session, backends: FakeSlurmBackendFactory, profile: ClusterProfile, user: User,
           clock: FakeClock, **overrides: str) -> Job:  # fmt: skip
    request = SubmitRequest(script_text=SCRIPT, cluster=CLUSTER, overrides={**SMALL, **overrides})
    return submit_job(session, backends=backends, profile=profile, user=user, request=request, clock=clock,
                      ledger=SqlLedger)  # fmt: skip


def worker(session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory, clock: FakeClock,
           profile: ClusterProfile, ledger: settlement.LedgerFactory = SqlLedger) -> Worker:  # fmt: skip
    settings = Settings(dev_mode=True)
    step = settle_step(cluster=CLUSTER, backends=backends, clock=clock, settings=settings, profile=profile,
                       ledger=ledger)  # fmt: skip
    options = WorkerOptions(cluster=CLUSTER, uncertain_after_s=60)
    return Worker(session_factory, backends, clock, options, settle=step)


def balance(session_factory: sessionmaker[Session], allocation_id: object) -> Balance:
    with session_factory() as s:
        return SqlLedger(s).balance(allocation_id)  # type: ignore[arg-type]


def kinds(session_factory: sessionmaker[Session]) -> list[tuple[str, str | None]]:
    with session_factory() as s:
        rows = s.execute(sa.select(LedgerEntry.kind, LedgerEntry.slurm_job_id).order_by(LedgerEntry.id))
        return [(str(k), j) for k, j in rows]


def test_a_finished_job_is_charged_exactly_once(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    clock: FakeClock, profile: ClusterProfile, alice: User, allocation_id: object,
) -> None:  # fmt: skip
    job = submit(session, backends, profile, alice, clock)
    assert balance(session_factory, allocation_id).held == HOLD
    backends.cluster.set_state(job.slurm_job_id, "RUNNING")
    clock.advance(300)
    backends.cluster.finish(job.slurm_job_id)
    w = worker(session_factory, backends, clock, profile)
    w.run_once()
    after = balance(session_factory, allocation_id)
    assert (after.held, after.charged) == (Cost(), cost_of(300))
    clock.advance(120)
    w.run_once()
    w.run_once()
    assert balance(session_factory, allocation_id) == after
    assert sorted(k for k, _ in kinds(session_factory)) == ["charge", "grant", "hold"]


def test_array_and_requeued_jobs_are_charged_what_they_used(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    clock: FakeClock, profile: ClusterProfile, alice: User, allocation_id: object,
) -> None:  # fmt: skip
    array = submit(session, backends, profile, alice, clock, array="0-2")
    requeued = submit(session, backends, profile, alice, clock)
    assert balance(session_factory, allocation_id).held == Cost(4 * HOLD.core_seconds, 0)
    cluster = backends.cluster
    cluster.set_state(array.slurm_job_id, "RUNNING")
    cluster.set_state(requeued.slurm_job_id, "RUNNING")
    clock.advance(100)
    cluster.set_state(requeued.slurm_job_id, "REQUEUED")
    cluster.finish(f"{array.slurm_job_id}_0")
    w = worker(session_factory, backends, clock, profile)
    w.run_once()  # nothing has ended for good yet: nothing is charged
    assert balance(session_factory, allocation_id).charged == Cost()
    clock.advance(100)
    cluster.set_state(requeued.slurm_job_id, "RUNNING")
    for task in ("1", "2"):  # the other tasks end at 200 s
        cluster.finish(f"{array.slurm_job_id}_{task}")
    cluster.finish(requeued.slurm_job_id)
    clock.advance(1)
    w.run_once()
    usage = backends.for_service().accounting([array.slurm_job_id, requeued.slurm_job_id])
    assert usage[array.slurm_job_id].elapsed_s == 100 + 200 + 200
    expected = cost_of(500) + cost_of(usage[requeued.slurm_job_id].elapsed_s)
    after = balance(session_factory, allocation_id)
    assert (after.held, after.charged) == (Cost(), expected)


def test_never_started_and_never_submitted_jobs_release_their_hold(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    clock: FakeClock, profile: ClusterProfile, alice: User, allocation_id: object,
) -> None:  # fmt: skip
    pending = submit(session, backends, profile, alice, clock)
    backends.cluster.fail_next_submit(SchedulerRejected("sbatch: error: invalid account"))
    with pytest.raises(SchedulerRejected):
        submit(session, backends, profile, alice, clock)
    backends.cluster.finish(pending.slurm_job_id, "CANCELLED")  # cancelled while pending
    assert balance(session_factory, allocation_id).held == Cost(2 * HOLD.core_seconds, 0)
    worker(session_factory, backends, clock, profile).run_once()
    after = balance(session_factory, allocation_id)
    assert (after.held, after.charged, after.remaining) == (Cost(), Cost(), Cost(10 * 3600, 0))


def outside_job(backends: FakeSlurmBackendFactory, login: str = "alice", tag: str = "") -> str:
    script = RenderedScript(text="#!/bin/bash\n", sbatch_args=("--account=caen-climat", "--mem=1000M"))
    return backends.for_login(login).submit(script, tag=tag)


def test_jobs_submitted_outside_the_gateway_are_charged_once(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    clock: FakeClock, profile: ClusterProfile, alice: User, allocation_id: object,
) -> None:  # fmt: skip
    ours = submit(session, backends, profile, alice, clock)
    theirs = outside_job(backends, "bob")
    forged = outside_job(backends, "bob", tag=ours.tag)  # a copied tag does not make it ours
    for slurm_job_id in (ours.slurm_job_id, theirs, forged):
        backends.cluster.set_state(slurm_job_id, "RUNNING")
    clock.advance(60)
    for slurm_job_id in (ours.slurm_job_id, theirs, forged):
        backends.cluster.finish(slurm_job_id)
    w = worker(session_factory, backends, clock, profile)
    w.run_once()
    clock.advance(120)  # past the sweep interval: a second sweep sees the same jobs
    w.run_once()
    assert sorted(j for k, j in kinds(session_factory) if k == "charge" and j) == sorted([theirs, forged])
    assert balance(session_factory, allocation_id).charged == Cost(3 * cost_of(60).core_seconds, 0)


def test_crash_between_hold_and_sbatch_ends_consistent(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    clock: FakeClock, profile: ClusterProfile, alice: User, allocation_id: object,
) -> None:  # fmt: skip
    backends.cluster.fail_next_submit(SchedulerUnavailable("connection refused"))
    job = submit(session, backends, profile, alice, clock)  # durable intent + hold, no Slurm job
    assert job.state is JobState.SUBMITTING and not backends.cluster.jobs
    clock.advance(120)
    w = worker(session_factory, backends, clock, profile)
    w.run_once()  # reconciliation: the tag is unknown, so it submits now
    assert len(backends.cluster.jobs) == 1
    slurm_job_id = next(iter(backends.cluster.jobs))
    backends.cluster.set_state(slurm_job_id, "RUNNING")
    clock.advance(30)
    backends.cluster.finish(slurm_job_id)
    w.run_once()
    assert balance(session_factory, allocation_id).charged == cost_of(30)
    assert balance(session_factory, allocation_id).held == Cost()


def test_crash_between_sbatch_and_commit_is_never_charged_as_outside(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    clock: FakeClock, profile: ClusterProfile, alice: User, allocation_id: object,
) -> None:  # fmt: skip
    backends.cluster.lose_response_after_submit()
    backends.cluster.fail_next("squeue", SchedulerUnavailable("down"))  # the tag lookup fails too
    job = submit(session, backends, profile, alice, clock)
    assert job.slurm_job_id is None and len(backends.cluster.jobs) == 1
    slurm_job_id = next(iter(backends.cluster.jobs))
    backends.cluster.set_state(slurm_job_id, "RUNNING")
    clock.advance(20)
    backends.cluster.finish(slurm_job_id)
    with session_factory() as s:  # the sweep runs before reconciliation found the job
        settlement.sweep_outside(s, cluster=CLUSTER, profile=profile, backends=backends, ledger=SqlLedger,
                                 since=clock.now().replace(year=2025), until=clock.advance(1))  # fmt: skip
    assert balance(session_factory, allocation_id).charged == Cost()
    clock.advance(120)
    worker(session_factory, backends, clock, profile).run_once()  # reconciles by tag, then settles
    after = balance(session_factory, allocation_id)
    assert (after.held, after.charged) == (Cost(), cost_of(20))


def test_crash_during_settlement_then_restart_charges_once(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    clock: FakeClock, profile: ClusterProfile, alice: User, allocation_id: object,
) -> None:  # fmt: skip
    job = submit(session, backends, profile, alice, clock)
    backends.cluster.set_state(job.slurm_job_id, "RUNNING")
    clock.advance(50)
    backends.cluster.finish(job.slurm_job_id)

    class CrashAfterSettle(SqlLedger):
        def settle(self, *, job_id: object, actual: Cost) -> None:  # type: ignore[override]
            super().settle(job_id=job_id, actual=actual)  # type: ignore[arg-type]
            raise RuntimeError("the worker died before commit")

    with session_factory() as s:
        tracking.tick(s, cluster=CLUSTER, backends=backends, clock=clock)
    crashing = worker(session_factory, backends, clock, profile, ledger=CrashAfterSettle)
    crashing.run_once()  # the failure is logged; the transaction is rolled back
    assert balance(session_factory, allocation_id).held == HOLD
    clock.advance(60)  # the crashed worker's settle lease has expired or was released
    worker(session_factory, backends, clock, profile).run_once()
    after = balance(session_factory, allocation_id)
    assert (after.held, after.charged) == (Cost(), cost_of(50))


def test_sweep_reads_sacct_and_adds_up_the_runs_of_a_requeued_job() -> None:
    from myriagate.slurm import commands
    from myriagate.slurm.cli_backend import accounted_jobs

    argv = commands.sacct_by_accounts(["caen-climat"], "2026-01-05T00:00:00", "2026-01-06T00:00:00")
    assert "--allusers" in argv and "--duplicates" in argv and "--accounts=caen-climat" in argv
    sep = commands.SEP

    def line(job: str, state: str, elapsed: int, comment: str) -> str:
        return sep.join([job, job, state, "0:0", str(elapsed), "2", "1", "billing=2,cpu=2,mem=2000M,node=1",
                         "court", "caen-climat", "alice", "2026-01-05T10:00:00", "2026-01-05T10:10:00",
                         comment])  # fmt: skip

    text = "\n".join([
        line("500", "REQUEUED", 40, ""), line("500", "COMPLETED", 60, ""),  # two runs of one job
        line("501", "REQUEUED", 10, ""),  # requeued, not ended yet: later
        line("502_3", "FAILED", 5, f"mg:x{sep}with a separator"),
    ])  # fmt: skip
    found = {a.usage.slurm_job_id: a for a in accounted_jobs(text)}
    assert sorted(found) == ["500", "502_3"]
    assert found["500"].usage.elapsed_s == 100 and found["500"].usage.alloc_mem_mb == 2000
    assert found["502_3"].comment == f"mg:x{sep}with a separator"
