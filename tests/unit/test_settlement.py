"""Settlement against a fake Slurm: charged exactly once, holds of jobs that never ran or never
reached Slurm released, outside jobs charged once, and consistent after a crash anywhere."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.ledger import Closed, Hold, SettleItem, SqlLedger
from myriagate.db.models import Job, User
from myriagate.db.models.allocations import LedgerEntry
from myriagate.db.repos import projects as projects_repo
from myriagate.db.session import make_engine, make_session_factory
from myriagate.domain.costs import Cost
from myriagate.domain.jobs import RenderedScript
from myriagate.domain.states import JobState
from myriagate.errors import SchedulerRejected, SchedulerUnavailable
from myriagate.ports import Balance
from myriagate.profiles.loader import load_profile
from myriagate.profiles.models import ClusterProfile
from myriagate.services.allocations import grants as allocations
from myriagate.services.allocations import outside_charges, settlement
from myriagate.services.jobs import tracking
from myriagate.services.runtime.worker import Worker, WorkerOptions, settle_step
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.settings import Settings
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER, FakeClock, add_project
from tests.fakes.fake_slurm import FakeSlurmBackendFactory

SCRIPT = "#!/bin/bash\nsrun ./model\n"
SMALL = {"time": "00:10:00", "mem": "1000M"}
# Slurm bills 1 CPU + 1000 MB on court (CPU=1.0,Mem=0.25G) ⌊1.244⌋ = 1 per second: 600 for
# the 10-minute limit. (Before this rule: ⌈1.244 × 600⌉ = 747.)
HOLD = Cost(600, 0)


def cost_of(seconds: int, cpus: int = 1) -> Cost:
    """What the fake's jobs are charged: its accounting has no billing TRES (as older sacct
    records), so the partition's rule prices ``cpus`` CPUs with 1000 MB each on court:
    ⌊cpus × 1.0 + cpus × 1000/1024 × 0.25⌋ per second, × ``seconds``."""
    per_second = int(cpus * 1.0 + cpus * 1000 / 1024 * 0.25)
    return Cost(per_second * seconds, 0)


@pytest.fixture
def profile() -> ClusterProfile:
    return load_profile(CLUSTER, Settings(dev_mode=True))


@pytest.fixture
def allocation_id(session: Session, clock: FakeClock, alice: User) -> object:
    admin = alice  # reuse the row: a platform admin for the setup only
    admin.is_platform_admin = True
    projects_repo.add_institution(session, code="unicaen", name="Caen")
    add_project(session, cluster=CLUSTER, slurm_account="caen-climat", institution="unicaen",
                              created_at=clock.now())  # fmt: skip
    session.commit()
    period = allocations.create_period(session, admin, cluster=CLUSTER, name="2026",
                                       starts_at=datetime(2026, 1, 1, tzinfo=UTC),
                                       ends_at=datetime(2027, 1, 1, tzinfo=UTC), clock=clock)  # fmt: skip
    allocations.set_quota(session, admin, institution="unicaen", period_id=period.id,
                          amount=allocations.hours(100), clock=clock)  # fmt: skip
    result = allocations.grant(session, admin, cluster=CLUSTER, slurm_account="caen-climat",
                               amount=allocations.hours(10), clock=clock, ledger=SqlLedger)  # fmt: skip
    admin.is_platform_admin = False
    session.commit()
    return result.allocation_id


def submit(session: Session, backends: FakeSlurmBackendFactory, profile: ClusterProfile, user: User,
           clock: FakeClock, **overrides: str) -> Job:  # fmt: skip
    request = SubmitRequest(script_text=SCRIPT, cluster=CLUSTER, overrides={**SMALL, **overrides})
    return submit_job(session, backends=backends, profile=profile, user=user, request=request, clock=clock,
                      ledger=SqlLedger)  # fmt: skip


def sid(job: Job) -> str:
    """The job's Slurm id (it has one once submitted)."""
    assert job.slurm_job_id is not None
    return job.slurm_job_id


def worker(session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory, clock: FakeClock,
           profile: ClusterProfile, ledger: settlement.LedgerFactory = SqlLedger) -> Worker:  # fmt: skip
    settings = Settings(dev_mode=True)
    step = settle_step(cluster=CLUSTER, backends=backends, clock=clock, settings=settings, profile=profile,
                       ledger=ledger)  # fmt: skip
    options = WorkerOptions(cluster=CLUSTER, uncertain_after_s=60)
    return Worker(session_factory, backends, clock, options, ledger=worker_ledger(clock), settle=step)


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
    backends.cluster.set_state(sid(job), "RUNNING")
    clock.advance(300)
    backends.cluster.finish(sid(job))
    w = worker(session_factory, backends, clock, profile)
    w.run_once()
    after = balance(session_factory, allocation_id)
    assert (after.held, after.charged) == (Cost(), cost_of(300))
    clock.advance(120)
    w.run_once()
    w.run_once()
    assert balance(session_factory, allocation_id) == after
    assert sorted(k for k, _ in kinds(session_factory)) == ["charge", "grant", "hold"]
    with session_factory() as s:
        reason = s.scalar(sa.select(LedgerEntry.reason).where(LedgerEntry.kind == "charge"))
    # The fake's accounting has no billing TRES: the entry says the billing was computed.
    assert reason == "used (billing computed from cpu, mem and gres: none in sacct)"


def test_a_requeued_job_is_charged_every_run_once(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    clock: FakeClock, profile: ClusterProfile, alice: User, allocation_id: object,
) -> None:  # fmt: skip
    job = submit(session, backends, profile, alice, clock)
    cluster, w = backends.cluster, worker(session_factory, backends, clock, profile)
    cluster.set_state(sid(job), "RUNNING")
    clock.advance(100)
    cluster.requeue(sid(job))  # scontrol requeue: 100 s used, the job waits again
    w.run_once()
    clock.advance(50)  # waiting in the queue costs nothing
    w.run_once()
    assert balance(session_factory, allocation_id).charged == Cost()
    cluster.set_state(sid(job), "RUNNING")
    clock.advance(200)
    cluster.finish(sid(job))
    w.run_once()
    w.run_once()
    after = balance(session_factory, allocation_id)
    # 100 s + 200 s: not the last run alone (200 s), not the wall time since the first start (350 s).
    assert (after.held, after.charged) == (Cost(), cost_of(300))
    assert sorted(k for k, _ in kinds(session_factory)) == ["charge", "grant", "hold"]


def test_a_requeued_job_cancelled_while_waiting_is_charged_its_first_run(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    clock: FakeClock, profile: ClusterProfile, alice: User, allocation_id: object,
) -> None:  # fmt: skip
    job = submit(session, backends, profile, alice, clock)
    backends.cluster.set_state(sid(job), "RUNNING")
    clock.advance(80)
    backends.cluster.requeue(sid(job), run_state="NODE_FAIL")  # the node died
    clock.advance(30)
    backends.cluster.finish(sid(job), "CANCELLED")  # then cancelled while pending
    worker(session_factory, backends, clock, profile).run_once()
    after = balance(session_factory, allocation_id)
    assert (after.held, after.charged) == (Cost(), cost_of(80))  # charged, not released


def test_an_array_is_charged_the_sum_of_its_tasks_once_with_a_requeued_task(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    clock: FakeClock, profile: ClusterProfile, alice: User, allocation_id: object,
) -> None:  # fmt: skip
    array = submit(session, backends, profile, alice, clock, array="0-2")
    assert balance(session_factory, allocation_id).held == Cost(3 * HOLD.core_seconds, 0)
    cluster, w = backends.cluster, worker(session_factory, backends, clock, profile)
    cluster.set_state(sid(array), "RUNNING")
    clock.advance(100)
    cluster.finish(f"{sid(array)}_0")  # task 0: 100 s
    cluster.requeue(f"{sid(array)}_1")  # task 1: 100 s, then again below
    w.run_once()  # tasks 1 and 2 have not ended: nothing is charged
    assert balance(session_factory, allocation_id).charged == Cost()
    clock.advance(100)
    cluster.finish(f"{sid(array)}_2")  # task 2: 200 s
    cluster.set_state(f"{sid(array)}_1", "RUNNING")
    clock.advance(40)
    cluster.finish(f"{sid(array)}_1")  # task 1: 100 s + 40 s
    for _ in range(3):
        w.run_once()
        clock.advance(120)
    after = balance(session_factory, allocation_id)
    assert (after.held, after.charged) == (Cost(), cost_of(100 + 140 + 200))
    assert sorted(k for k, _ in kinds(session_factory)) == ["charge", "grant", "hold"]


def test_an_outside_job_requeued_after_a_node_failure_is_charged_both_runs_once(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    clock: FakeClock, profile: ClusterProfile, allocation_id: object,
) -> None:  # fmt: skip
    theirs = outside_job(backends, "bob")
    cluster, w = backends.cluster, worker(session_factory, backends, clock, profile)
    cluster.set_state(theirs, "RUNNING")
    clock.advance(60)
    cluster.requeue(theirs, run_state="NODE_FAIL")
    cluster.set_state(theirs, "RUNNING")
    clock.advance(120)
    w.run_once()  # its first run ended NODE_FAIL, but the job runs again: not charged yet
    assert balance(session_factory, allocation_id).charged == Cost()
    clock.advance(30)
    cluster.finish(theirs)
    for _ in range(2):  # two sweeps see the same job
        clock.advance(120)
        w.run_once()
    assert balance(session_factory, allocation_id).charged == cost_of(60 + 150)
    assert [j for k, j in kinds(session_factory) if k == "charge"] == [theirs]


def test_never_started_and_never_submitted_jobs_release_their_hold(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    clock: FakeClock, profile: ClusterProfile, alice: User, allocation_id: object,
) -> None:  # fmt: skip
    pending = submit(session, backends, profile, alice, clock)
    backends.cluster.fail_next_submit(SchedulerRejected("sbatch: error: invalid account"))
    with pytest.raises(SchedulerRejected):
        submit(session, backends, profile, alice, clock)
    backends.cluster.finish(sid(pending), "CANCELLED")  # cancelled while pending
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
    for slurm_job_id in (sid(ours), theirs, forged):
        backends.cluster.set_state(slurm_job_id, "RUNNING")
    clock.advance(60)
    for slurm_job_id in (sid(ours), theirs, forged):
        backends.cluster.finish(slurm_job_id)
    w = worker(session_factory, backends, clock, profile)
    w.run_once()
    clock.advance(120)  # past the sweep interval: a second sweep sees the same jobs
    w.run_once()
    assert sorted(j for k, j in kinds(session_factory) if k == "charge" and j) == sorted([theirs, forged])
    assert balance(session_factory, allocation_id).charged == Cost(3 * cost_of(60).core_seconds, 0)


class ServiceBackend:
    """A SlurmBackendFactory whose service login is a SlurmCliBackend over a FakeRunner."""

    def __init__(self, runner: object) -> None:
        from myriagate.slurm.cli_backend import SlurmCliBackend

        self.backend = SlurmCliBackend(runner)  # type: ignore[arg-type]

    def for_login(self, login: str) -> object:
        return self.backend

    def for_service(self) -> object:
        return self.backend


def usage_line(job: str, elapsed: int, cpus: int) -> str:
    from myriagate.slurm.commands import SEP

    return SEP.join([job, job, "COMPLETED", "0:0", str(elapsed), str(cpus), "1",
                     f"billing={cpus},cpu={cpus},mem=1000M,node=1", "court", "caen-climat", "bob",
                     "2026-06-01T10:00:00", "2026-06-01T11:00:00"])  # fmt: skip


def is_narrow(argv: tuple[str, ...]) -> bool:
    """The sweep's query restricted to some job ids (the check before a large charge)."""
    return "--duplicates" in argv and any(a.startswith("--jobs=") for a in argv)


@pytest.mark.parametrize("narrow_elapsed", [3600, 10], ids=["confirmed", "accounting-disagrees"])
def test_a_large_outside_charge_needs_a_narrow_sacct_to_confirm_it(
    session_factory: sessionmaker[Session], clock: FakeClock, profile: ClusterProfile, allocation_id: object,
    narrow_elapsed: int,
) -> None:  # fmt: skip
    """An outside charge above MYRIAGATE_OUTSIDE_CONFIRM_CORE_SECONDS is made only when
    ``sacct --jobs=<id> --accounts=<its account>`` reports that job at that cost: a record that
    is not in accounting (job 99999 here) or that accounting tells otherwise is not charged."""
    from tests.fakes.fake_runner import FakeRunner

    sweep = "\n".join([usage_line("900", 60, 1), usage_line("901", 3600, 2), usage_line("99999", 3600, 32)])
    narrow = usage_line("901", narrow_elapsed, 2) + "\n"
    runner = FakeRunner().reply("sacct", sweep + "\n")
    runner.reply("sacct", "".join(f"{i}\x1f\x1f{i}\n" for i in ("900", "901", "99999")),
                 when=lambda a: "--format=JobID,Comment,JobID" in a)  # fmt: skip
    runner.reply("sacct", narrow, when=is_narrow)
    backends = ServiceBackend(runner)
    with session_factory() as s:
        charged = settlement.sweep_outside(
            s, cluster=CLUSTER, profile=profile, backends=backends, ledger=SqlLedger,  # type: ignore[arg-type]
            since=datetime(2026, 6, 1, tzinfo=UTC), until=datetime(2026, 6, 2, tzinfo=UTC),
            confirm_above=3600,
        )  # fmt: skip
    narrow_calls = [a for a in runner.argvs("sacct") if is_narrow(a)]
    assert narrow_calls and all("--accounts=caen-climat" in a for a in narrow_calls)
    assert "--jobs=901,99999" in narrow_calls[0]  # only the large ones, in one call per account
    expected = ["900", "901"] if narrow_elapsed == 3600 else ["900"]
    assert sorted(j for k, j in kinds(session_factory) if k == "charge" and j) == expected
    assert charged == len(expected)


def test_a_backlog_of_outside_jobs_is_charged_a_bounded_number_per_sweep(
    session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory, clock: FakeClock,
    profile: ClusterProfile, allocation_id: object, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # A first sweep over days of a busy account must not hold the worker's tick (one commit
    # per charge): it charges a bounded number, and the next sweeps go on where it stopped.
    monkeypatch.setattr(outside_charges, "OUTSIDE_PER_RUN", 3)
    theirs = [outside_job(backends, "bob") for _ in range(7)]
    for slurm_job_id in theirs:
        backends.cluster.set_state(slurm_job_id, "RUNNING")
    clock.advance(60)
    for slurm_job_id in theirs:
        backends.cluster.finish(slurm_job_id)
    w = worker(session_factory, backends, clock, profile)
    charged = []
    for _ in range(5):
        w.run_once()
        charged.append(len([j for k, j in kinds(session_factory) if k == "charge" and j]))
        clock.advance(120)  # past the sweep interval
    per_sweep = [b - a for a, b in zip([0, *charged], charged, strict=False)]
    assert max(per_sweep) == 3 and charged[-1] == 7, charged  # 3 at most per sweep, then the rest
    assert balance(session_factory, allocation_id).charged == Cost(7 * cost_of(60).core_seconds, 0)


def test_crash_between_hold_and_sbatch_ends_consistent(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    clock: FakeClock, profile: ClusterProfile, alice: User, allocation_id: object,
) -> None:  # fmt: skip
    backends.cluster.fail_next_submit(SchedulerUnavailable("connection refused"))
    job = submit(session, backends, profile, alice, clock)  # durable intent + hold, no Slurm job
    assert job.state is JobState.SUBMITTING and not backends.cluster.jobs
    clock.advance(120)
    w = worker(session_factory, backends, clock, profile)
    w.run_once()  # reconciliation: the tag is not found; found nowhere again the lag later…
    clock.advance(tracking.DEFAULT_ACCOUNTING_LAG_S)
    w.run_once()  # …so Slurm never got it: it submits now
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


def three_finished_jobs(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    clock: FakeClock, profile: ClusterProfile, alice: User,
) -> Cost:  # fmt: skip
    """Three jobs that ran 30, 40 and 50 s and that tracking saw end; returns their total cost."""
    jobs = [submit(session, backends, profile, alice, clock) for _ in range(3)]
    for job in jobs:
        backends.cluster.set_state(sid(job), "RUNNING")
    for job in jobs:
        clock.advance(10 if job is not jobs[0] else 30)
        backends.cluster.finish(sid(job))
    with session_factory() as s:
        tracking.tick(s, cluster=CLUSTER, backends=backends, clock=clock, ledger=worker_ledger(clock))
    return cost_of(30) + cost_of(40) + cost_of(50)


def test_an_error_at_the_settlement_commit_leaves_nothing_half_done(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    clock: FakeClock, profile: ClusterProfile, alice: User, allocation_id: object,
) -> None:  # fmt: skip
    total = three_finished_jobs(session, session_factory, backends, clock, profile, alice)

    class FailsBeforeCommit(SqlLedger):
        def close_many(
            self, settle: Iterable[SettleItem], *, release: Iterable[UUID] = (), holds: Holds = None
        ) -> Closed:
            super().close_many(settle, release=release, holds=holds)
            raise RuntimeError("the database went away before commit")

    worker(session_factory, backends, clock, profile, ledger=FailsBeforeCommit).run_once()  # logged
    assert balance(session_factory, allocation_id).held == Cost(3 * HOLD.core_seconds, 0)
    clock.advance(120)  # the first worker's tick lease expires
    worker(session_factory, backends, clock, profile).run_once()
    after = balance(session_factory, allocation_id)
    assert (after.held, after.charged) == (Cost(), total)


Holds = Mapping[UUID, Hold] | None
CRASH = 17  # the exit status of a worker killed at a step boundary


def _crash_at(point: str, db_url: str, backends: FakeSlurmBackendFactory, clock: FakeClock,
              profile: ClusterProfile) -> None:  # fmt: skip
    """A worker process that dies (os._exit: no rollback, no cleanup) at ``point``."""
    from myriagate.db import settlement as bulk

    settlement.BATCH = 1  # one job per chunk, so a crash can fall between two chunks
    calls = 0

    class Dies(SqlLedger):
        def close_many(
            self, settle: Iterable[SettleItem], *, release: Iterable[UUID] = (), holds: Holds = None
        ) -> Closed:
            nonlocal calls
            calls += 1
            if point == "after sacct" or (point == "between chunks" and calls == 2):
                os._exit(CRASH)
            closed = super().close_many(settle, release=release, holds=holds)
            if point == "before commit":
                os._exit(CRASH)
            return closed

    if point == "inside close_many":  # entries inserted, totals not written yet
        bulk._write_totals = lambda *args: os._exit(CRASH)
    factory = make_session_factory(make_engine(db_url))
    worker(factory, backends, clock, profile, ledger=Dies).run_once()
    os._exit(0)


@pytest.mark.parametrize("point", ["after sacct", "inside close_many", "before commit", "between chunks"])
def test_a_worker_killed_mid_settlement_leaves_a_consistent_ledger_and_a_restart_charges_once(
    point: str, db_url: str, session: Session, session_factory: sessionmaker[Session],
    backends: FakeSlurmBackendFactory, clock: FakeClock, profile: ClusterProfile, alice: User,
    allocation_id: object,
) -> None:  # fmt: skip
    total = three_finished_jobs(session, session_factory, backends, clock, profile, alice)
    child = multiprocessing.get_context("fork").Process(
        target=_crash_at, args=(point, db_url, backends, clock, profile)
    )
    child.start()
    child.join(60)
    assert child.exitcode == CRASH

    # What the dead worker committed is whole: whole chunks, each job's charge with its totals.
    done = 1 if point == "between chunks" else 0
    crashed = balance(session_factory, allocation_id)
    assert crashed.held == Cost((3 - done) * HOLD.core_seconds, 0)
    assert len([k for k, _ in kinds(session_factory) if k == "charge"]) == done
    assert crashed.charged.core_seconds in (
        {0} if not done else {cost_of(s).core_seconds for s in (30, 40, 50)}
    )

    clock.advance(120)  # the dead worker's leases expire
    restarted = worker(session_factory, backends, clock, profile)
    restarted.run_once()
    restarted.run_once()
    after = balance(session_factory, allocation_id)
    assert (after.held, after.charged) == (Cost(), total)
    assert sorted(k for k, _ in kinds(session_factory)).count("charge") == 3


def _settle_at_once(db_url: str, backends: FakeSlurmBackendFactory, profile: ClusterProfile,
                    start: Any) -> None:  # fmt: skip
    factory = make_session_factory(make_engine(db_url))
    with factory() as s:
        start.wait(30)
        settled, _ = settlement.settle_finished(s, cluster=CLUSTER, profile=profile, backends=backends,
                                                ledger=SqlLedger)  # fmt: skip
    os._exit(10 + settled)


def test_workers_settling_the_same_jobs_at_the_same_time_charge_each_once(
    db_url: str, session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    clock: FakeClock, profile: ClusterProfile, alice: User, allocation_id: object,
) -> None:  # fmt: skip
    # Past the settle lease (which normally keeps them apart): the database alone must do it.
    total = three_finished_jobs(session, session_factory, backends, clock, profile, alice)
    context = multiprocessing.get_context("fork")
    start = context.Event()
    workers = [
        context.Process(target=_settle_at_once, args=(db_url, backends, profile, start)) for _ in range(3)
    ]
    for w in workers:
        w.start()
    start.set()
    for w in workers:
        w.join(60)
    assert sum((w.exitcode or 0) - 10 for w in workers) == 3  # three jobs settled, by whoever came first
    after = balance(session_factory, allocation_id)
    assert (after.held, after.charged) == (Cost(), total)
    assert sorted(k for k, _ in kinds(session_factory)).count("charge") == 3


def test_sweep_reads_sacct_and_adds_up_the_runs_of_a_requeued_job() -> None:
    from myriagate.slurm import commands
    from myriagate.slurm.cli_backend import accounted_jobs

    argv = commands.sacct_by_accounts(["caen-climat"], "2026-01-05T00:00:00", "2026-01-06T00:00:00")
    assert "--allusers" in argv and "--duplicates" in argv and "--accounts=caen-climat" in argv
    sep = commands.SEP

    def line(job: str, raw: str, state: str, elapsed: int) -> str:
        return sep.join([job, raw, state, "0:0", str(elapsed), "2", "1", "billing=2,cpu=2,mem=2000M,node=1",
                         "court", "caen-climat", "alice", "2026-01-05T10:00:00",
                         "2026-01-05T10:10:00"])  # fmt: skip

    text = "\n".join([
        line("500", "500", "REQUEUED", 40), line("500", "500", "COMPLETED", 60),  # two runs of one job
        line("501", "501", "REQUEUED", 10),  # requeued, not ended yet: later
        line("502_3", "505", "FAILED", 5),
        line("503", "504", "COMPLETED", 5),  # JobIDRaw disagrees with JobID: no record
    ])  # fmt: skip
    found = {u.slurm_job_id: u for u in accounted_jobs(text)}
    assert sorted(found) == ["500", "502_3"]
    assert found["500"].elapsed_s == 100 and found["500"].alloc_mem_mb == 2000
