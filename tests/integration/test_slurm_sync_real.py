"""slurm-sync on the real dev cluster: Slurm itself enforces what the gateway decided.

Only ever touches a throw-away account ``mgtest-<random>`` under ``unicaen`` (the cluster is
shared with other tests), and removes it at the end.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from myriagate.clock import SystemClock
from myriagate.db.ledger import SqlLedger
from myriagate.db.repos import allocations as allocations_repo
from myriagate.db.repos import projects as projects_repo
from myriagate.domain.accounts import AddAccount, AddUser, Association, SetLimits
from myriagate.domain.costs import Cost
from myriagate.profiles.loader import load_profile
from myriagate.runners import LocalRunner
from myriagate.services.allocations import slurm_sync
from myriagate.settings import Settings
from myriagate.slurm import sacctmgr
from tests.conftest import FakeClock, make_user
from tests.integration.conftest import DevCluster

pytestmark = pytest.mark.slurm


def _run(argv: list[str] | tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False)


def _as_alice_sbatch(account: str, minutes: int) -> subprocess.CompletedProcess[str]:
    """A job submitted OUTSIDE the gateway, as a researcher logged in on the cluster would."""
    return _run(
        ["runuser", "-u", "alice", "--", "sbatch", "--parsable", f"--account={account}",
         "--partition=debug", f"--time={minutes}", "--cpus-per-task=1", "--mem=100M",
         "--chdir=/tmp", "--output=/dev/null", "--job-name=mgtest-outside", "--wrap=sleep 120"]
    )  # fmt: skip


def _job(job_id: str) -> tuple[str, str]:
    out = _run(["squeue", "--noheader", f"--jobs={job_id}", "--format=%T|%r"]).stdout.strip()
    state, _, reason = out.partition("|")
    return state, reason


def _wait(condition: Callable[[], bool], limit: float = 60.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(1.0)
    return condition()


def _account_line(account: str) -> Association:
    assocs = sacctmgr.parse_show_assoc(_run(sacctmgr.show_assoc()).stdout)
    return next(a for a in assocs if a.account == account and a.user is None)


@pytest.fixture
def test_account(devcluster: DevCluster) -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("sacctmgr changes need root (or a Slurm operator)")
    account = f"mgtest-{uuid.uuid4().hex[:8]}"
    yield account
    _run(["scancel", f"--account={account}"])
    _wait(lambda: not _run(["squeue", "--noheader", f"--account={account}"]).stdout.strip(), 60)
    _run(["sacctmgr", "-i", "remove", "user", "where", "name=alice", f"account={account}"])
    _run(sacctmgr.remove_account(account))


def test_exhausted_project_is_stopped_by_slurm_itself(
    db: sessionmaker[Session], gateway_settings: Settings, test_account: str
) -> None:
    account = test_account
    profile = load_profile("devcluster", gateway_settings)
    admin = sacctmgr.SacctmgrAccounts(LocalRunner())  # root on the cluster host
    clock = SystemClock()
    now = clock.now()
    with db() as session:
        if projects_repo.get_institution(session, "unicaen") is None:
            projects_repo.add_institution(session, code="unicaen", name="Université de Caen")
        project = projects_repo.add_project(
            session, cluster="devcluster", slurm_account=account, institution="unicaen", created_at=now
        )
        make_user(session, "alice@unicaen.fr", "alice", [account], FakeClock())
        period = allocations_repo.create_period(
            session, cluster="devcluster", name="test", starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=1),
        )  # fmt: skip
        allocations_repo.set_quota(session, institution="unicaen", period_id=period.id, amount=Cost(10**6))
        allocation = allocations_repo.create_allocation(
            session, project_id=project.id, period_id=period.id, created_at=now
        )
        ledger = SqlLedger(session)
        ledger.grant(allocation.id, Cost(10 * 60), author="test", reason="ten core-minutes")
        session.commit()

        def sync() -> slurm_sync.Plan:
            plan = slurm_sync.plan_sync(
                session, profile=profile, admin=admin, clock=clock, ledger=SqlLedger, only_accounts={account}
            )
            slurm_sync.apply(plan, admin)
            return plan

        # 1. The account appears under unicaen, with alice, limited to its 10 billing-minutes (+1)
        # and, with no GPU-hours granted, 1 GPU-minute (the gpu partition bills GPUs).
        first = sync()
        assert [type(s.change) for s in first.steps] == [AddAccount, SetLimits, AddUser]
        line = _account_line(account)
        assert line.parent == "unicaen" and line.grp_tres_mins == {"billing": 11, "gres/gpu": 1}
        assert slurm_sync.plan_sync(
            session, profile=profile, admin=admin, clock=clock, ledger=SqlLedger, only_accounts={account}
        ).is_empty, "a second run must plan nothing"

        # 2. A 30-minute job submitted outside the gateway does not fit (billing=1 × 30 min):
        # Slurm keeps it pending on the billing-minutes limit.
        big = _as_alice_sbatch(account, 30)
        assert big.returncode == 0, big.stderr
        big_id = big.stdout.strip().split(";")[0]
        assert _wait(lambda: _job(big_id) == ("PENDING", "AssocGrpBillingMinutes"), 30), _job(big_id)

        # 3. Everything is used up (charged by the gateway): the project is paused.
        ledger.charge_outside(allocation.id, "mgtest-spent", Cost(10 * 60))
        session.commit()
        paused = sync()
        assert [s.change for s in paused.steps] == [SetLimits(account, (("billing", 1),), 0, "exhausted")]
        line = _account_line(account)
        assert line.grp_submit_jobs == 0 and line.grp_tres_mins == {"billing": 1, "gres/gpu": 1}
        # Measured: with GrpSubmitJobs=0 Slurm refuses a new job at submission, and a job
        # already queued stays pending on the billing-minutes limit.
        refused = _as_alice_sbatch(account, 1)
        assert refused.returncode != 0
        assert "AssocGrpSubmitJobsLimit" in refused.stderr or "accounting/QOS policy" in refused.stderr
        assert _job(big_id) == ("PENDING", "AssocGrpBillingMinutes")

        # 4. A top-up lifts the pause and the limit: the queued job starts.
        ledger.grant(allocation.id, Cost(60 * 60), author="test", reason="top-up")
        session.commit()
        lifted = sync()
        assert [s.argv[-2:] for s in lifted.steps] == [("GrpTRESMins=billing=61", "GrpSubmitJobs=-1")]
        line = _account_line(account)
        assert line.grp_submit_jobs is None and line.grp_tres_mins == {"billing": 61, "gres/gpu": 1}
        assert _wait(lambda: _job(big_id)[0] == "RUNNING", 90), _job(big_id)
