"""Allocations on the REAL dev cluster: a job held at submit, settled by the worker from real
sacct, and a job submitted outside the gateway (plain sbatch as alice) charged once by the sweep."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from uuid import UUID

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from myriagate.clock import SystemClock
from myriagate.db.ledger import SqlLedger
from myriagate.db.models.allocations import EntryKind, LedgerEntry
from myriagate.db.models.users import User
from myriagate.db.repos import projects as projects_repo
from myriagate.domain.costs import Cost
from myriagate.profiles.loader import load_profile
from myriagate.services.allocations import grants as allocations
from myriagate.services.allocations import settlement
from myriagate.services.jobs import tracking
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.settings import Settings
from myriagate.slurm.parse import parse_tres
from myriagate.wiring import ClusterBackends, worker_ledger
from tests.conftest import CLUSTER, add_project
from tests.integration.conftest import DevCluster

pytestmark = pytest.mark.slurm

CLOCK = SystemClock()
ACCOUNT = "caen-climat"


@pytest.fixture
def backends(devcluster: DevCluster, gateway_settings: Settings) -> Iterator[ClusterBackends]:
    backends = ClusterBackends(load_profile(CLUSTER, gateway_settings), gateway_settings)
    yield backends
    backends.close()


@pytest.fixture
def allocation_id(db: sessionmaker[Session], users: dict[str, User]) -> UUID:
    with db() as session:
        admin = session.merge(users["bob"])
        admin.is_platform_admin = True
        projects_repo.add_institution(session, code="unicaen", name="Caen")
        add_project(session, cluster=CLUSTER, slurm_account=ACCOUNT, institution="unicaen",
                                  created_at=CLOCK.now())  # fmt: skip
        session.commit()
        period = allocations.create_period(session, admin, cluster=CLUSTER, name="now",
                                           starts_at=CLOCK.now() - timedelta(days=1),
                                           ends_at=CLOCK.now() + timedelta(days=1))  # fmt: skip
        allocations.set_quota(session, admin, institution="unicaen", period_id=period.id,
                              amount=allocations.hours(100))  # fmt: skip
        granted = allocations.grant(session, admin, cluster=CLUSTER, slurm_account=ACCOUNT,
                                    amount=allocations.hours(10), ledger=SqlLedger)  # fmt: skip
        return granted.allocation_id


def sacct_cost(slurm_job_id: str, backends: ClusterBackends) -> Cost:
    """What sacct reports for the job: its billing TRES × elapsed seconds, read independently."""
    out = subprocess.run(
        ["sacct", "-n", "-P", "-X", "-j", slurm_job_id, "-o", "ElapsedRaw,AllocTRES,State"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    elapsed, tres_text, _state = out.splitlines()[0].split("|")
    tres = parse_tres(tres_text)
    return Cost(tres["billing"] * int(elapsed), tres.get("gres/gpu", 0) * int(elapsed))


def settle_until(db: sessionmaker[Session], backends: ClusterBackends, done: object, since_s: float,
                 timeout_s: float = 120.0) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with db() as session:
            tracking.tick(
                session, cluster=CLUSTER, backends=backends, clock=CLOCK, ledger=worker_ledger(CLOCK)
            )
            settlement.settle(session, cluster=CLUSTER, profile=backends.profile, backends=backends,
                              ledger=SqlLedger, clock=CLOCK, sweep_every_s=0.5,
                              sweep_window_s=time.time() - since_s + 5)  # fmt: skip
            if done(session):  # type: ignore[operator]
                return
        time.sleep(1.5)
    pytest.fail("settlement did not happen in time")


def charges(session: Session, **where: object) -> list[LedgerEntry]:
    stmt = sa.select(LedgerEntry).where(LedgerEntry.kind == EntryKind.CHARGE).filter_by(**where)
    return list(session.scalars(stmt))


def test_a_gateway_job_is_held_then_charged_what_sacct_reports(
    db: sessionmaker[Session], backends: ClusterBackends, users: dict[str, User], allocation_id: UUID
) -> None:
    started = time.time()
    with db() as session:
        overrides = {"time": "00:05:00", "mem": "1000M", "job-name": "mg-alloc-test"}
        request = SubmitRequest(script_text="#!/bin/bash\nsleep 3\n", cluster=CLUSTER, overrides=overrides)
        alice = session.merge(users["alice"])
        job = submit_job(session, backends=backends, profile=backends.profile, user=alice, request=request,
                         clock=CLOCK, ledger=SqlLedger)  # fmt: skip
        job_id, slurm_job_id = job.id, job.slurm_job_id
        assert slurm_job_id is not None, job.reason
        held = SqlLedger(session).balance(allocation_id).held
        # Slurm bills 1 CPU + 1000 MB on court ⌊1 + 0.244⌋ = 1 per second: × 300 s. (Before,
        # the gateway rounded (1.244 × 300) up: 374.)
        assert held == Cost(300, 0) and SqlLedger(session).hold_of(job_id) == held
    settle_until(db, backends, lambda s: bool(charges(s, job_id=job_id)), started)
    with db() as session:
        [charge] = charges(session, job_id=job_id)
        expected = sacct_cost(slurm_job_id, backends)
        assert Cost(charge.core_seconds, charge.gpu_seconds) == expected
        assert expected.core_seconds >= 3  # it really ran
        assert charge.reason == "used (billing from sacct)"
        balance = SqlLedger(session).balance(allocation_id)
        assert balance.held == Cost() and not charges(
            session, slurm_job_id=slurm_job_id
        )  # not also "outside"


def test_a_job_submitted_outside_the_gateway_is_charged_once(
    db: sessionmaker[Session], backends: ClusterBackends, users: dict[str, User], allocation_id: UUID
) -> None:
    started = time.time()
    sbatch = ["runuser", "-u", "alice", "--", "sbatch", "--parsable", "-A", ACCOUNT, "--time=00:02:00",
              "--mem=500M", "--job-name=mg-outside-test", "--output=/dev/null", "--wrap=sleep 2"]  # fmt: skip
    slurm_job_id = (
        subprocess.run(sbatch, capture_output=True, text=True, check=True).stdout.strip().split(";")[0]
    )
    settle_until(db, backends, lambda s: bool(charges(s, slurm_job_id=slurm_job_id)), started)
    time.sleep(1)
    with db() as session:  # one more sweep over the same window charges nothing more
        settlement.settle(session, cluster=CLUSTER, profile=backends.profile, backends=backends,
                          ledger=SqlLedger, clock=CLOCK, sweep_every_s=0.5,
                          sweep_window_s=time.time() - started + 5)  # fmt: skip
        [charge] = charges(session, slurm_job_id=slurm_job_id)
        assert Cost(charge.core_seconds, charge.gpu_seconds) == sacct_cost(slurm_job_id, backends)
        assert SqlLedger(session).balance(allocation_id).charged.core_seconds >= charge.core_seconds


def sacct_runs(slurm_job_id: str) -> list[tuple[str, int, dict[str, int]]]:
    """(state, elapsed s, AllocTRES) of every run of the job, as ``sacct -D`` prints them."""
    out = subprocess.run(
        ["sacct", "-n", "-P", "-X", "-D", "-j", slurm_job_id, "-o", "State,ElapsedRaw,AllocTRES"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [(state, int(elapsed), parse_tres(tres)) for state, elapsed, tres in (line.split("|") for line in
            out.splitlines() if line)]  # fmt: skip


def squeue_state(slurm_job_id: str) -> str:
    out = subprocess.run(
        ["squeue", "-h", "-j", slurm_job_id, "-o", "%T"], capture_output=True, text=True
    ).stdout
    return out.strip() or "GONE"


def start_requeued_now(slurm_job_id: str, timeout_s: float = 60.0) -> None:
    """Once the requeued job is pending again, move its begin time to now (``scontrol update
    StartTime=now``, as root), so its second run starts at the next scheduling pass instead of
    after Slurm's requeue delay; returns when it left pending.

    That delay (cred_expire, 120 s) covers slurmd's record of the first run's revoked
    credential: a launch whose credential is dated the same second as the revocation is
    refused ('Job credential revoked', the run FAILED at once, seen when the update came
    0.4 s after the requeue). The first run has ended on the node once the job is pending
    again; 2 s later every new credential is dated after the revocation."""
    pending_since: float | None = None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["squeue", "-h", "-j", slurm_job_id, "-o", "%T|%r"], capture_output=True, text=True
        ).stdout.strip()
        state, _, reason = out.partition("|")
        if state == "PENDING":
            pending_since = pending_since or time.monotonic()
            if reason == "BeginTime" and time.monotonic() - pending_since >= 2:
                subprocess.run(["scontrol", "update", f"jobid={slurm_job_id}", "StartTime=now"], check=False)
        elif pending_since is not None:
            return
        time.sleep(0.5)
    pytest.fail(f"requeued job {slurm_job_id} did not start again within {timeout_s:g} s")


def test_a_requeued_gateway_job_is_charged_every_run_once(
    db: sessionmaker[Session], backends: ClusterBackends, users: dict[str, User], allocation_id: UUID
) -> None:
    started = time.time()
    with db() as session:
        overrides = {"time": "00:05:00", "mem": "1000M", "job-name": "mg-requeue-test"}
        request = SubmitRequest(script_text="#!/bin/bash\nsleep 8\n", cluster=CLUSTER, overrides=overrides)
        alice = session.merge(users["alice"])
        job = submit_job(session, backends=backends, profile=backends.profile, user=alice, request=request,
                         clock=CLOCK, ledger=SqlLedger)  # fmt: skip
        job_id, slurm_job_id = job.id, job.slurm_job_id
        assert slurm_job_id is not None, job.reason
    try:
        deadline = time.monotonic() + 60
        while squeue_state(slurm_job_id) != "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(4)
        # An operator's requeue (root), of this test's own job only: the cluster is shared.
        subprocess.run(["scontrol", "requeue", slurm_job_id], check=True)
        # Slurm holds a requeued job about 2 minutes (BeginTime) before it runs again; what is
        # tested here is the charge of both runs, not that delay, so the operator lets it start.
        start_requeued_now(slurm_job_id)
        settle_until(db, backends, lambda s: bool(charges(s, job_id=job_id)), started, timeout_s=300)
    finally:
        if squeue_state(slurm_job_id) not in ("GONE", "COMPLETED"):
            subprocess.run(["scancel", slurm_job_id], check=False)
    runs = sacct_runs(slurm_job_id)
    assert [state for state, _, _ in runs] == ["REQUEUED", "COMPLETED"]
    # Σ runs billing × elapsed: computed here from sacct's own lines.
    expected = Cost(sum(tres["billing"] * elapsed for _, elapsed, tres in runs), 0)
    last_run_only = sacct_cost(slurm_job_id, backends)
    with db() as session:
        [charge] = charges(session, job_id=job_id)
        assert Cost(charge.core_seconds, charge.gpu_seconds) == expected
        assert expected.core_seconds > last_run_only.core_seconds  # the first run is billed too
        assert SqlLedger(session).balance(allocation_id).held == Cost()
        assert not charges(session, slurm_job_id=slurm_job_id)  # not also "outside"


class _NeverReachingSlurm:
    """The real backends, except that sbatch is never run: the gateway is told a job id the
    real Slurm never had (as when a reply is garbled, or slurmdbd lost the record)."""

    LOST_ID = "67000000"

    def __init__(self, real: ClusterBackends) -> None:
        self.real = real

    def for_login(self, login: str) -> object:
        real = self.real.for_login(login)

        class Login:
            def __getattr__(self, name: str) -> object:
                return getattr(real, name)

            def submit(self, script: object, *, tag: str) -> str:
                return _NeverReachingSlurm.LOST_ID

        return Login()

    def for_service(self) -> object:
        return self.real.for_service()


def test_issue_12_item_7_a_job_the_real_slurm_never_had_has_its_hold_released_after_the_bound(
    db: sessionmaker[Session], backends: ClusterBackends, users: dict[str, User], allocation_id: UUID
) -> None:
    from myriagate.db.models.jobs import Job
    from myriagate.db.repos import audit as audit_repo
    from myriagate.domain.states import JobState
    from myriagate.services.jobs import vanished

    bound_s = 3.0
    with db() as session:
        request = SubmitRequest(script_text="#!/bin/bash\nsleep 3\n", cluster=CLUSTER,
                                overrides={"time": "00:05:00", "mem": "1000M"})  # fmt: skip
        alice = session.merge(users["alice"])
        job = submit_job(session, backends=_NeverReachingSlurm(backends), profile=backends.profile,  # type: ignore[arg-type]
                         user=alice, request=request, clock=CLOCK, ledger=SqlLedger)  # fmt: skip
        job_id, hold = job.id, SqlLedger(session).balance(allocation_id).held
    assert (job.slurm_job_id, hold.core_seconds > 0) == (_NeverReachingSlurm.LOST_ID, True)

    def tick() -> None:
        with db() as session:
            tracking.tick(
                session,
                cluster=CLUSTER,
                backends=backends,
                clock=CLOCK,
                ledger=worker_ledger(CLOCK),
                vanished_after_s=bound_s,
            )

    tick()  # real squeue ("Invalid job id") and real sacct (nothing): the clock starts
    with db() as session:
        row = session.get(Job, job_id)
        assert row is not None and row.state is JobState.PENDING
        assert SqlLedger(session).balance(allocation_id).held == hold
    time.sleep(bound_s + 0.5)
    tick()
    with db() as session:
        row = session.get(Job, job_id)
        assert row is not None and row.state is JobState.FAILED
        assert row.reason is not None and row.reason.startswith("lost by Slurm: neither the queue nor")
        after = SqlLedger(session).balance(allocation_id)
        assert (after.held, after.charged) == (Cost(), Cost())
        events = [e.action for e in audit_repo.for_target(session, "job", str(job_id))]
        assert events.count(vanished.MISSING) == 1 and events.count(vanished.RELEASED) == 1
