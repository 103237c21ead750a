"""slurm-sync and suspended projects (docs/slurm-sync.md): a project an admin suspended is
paused on Slurm (``GrpSubmitJobs=0``) whatever its balance; resuming it lifts the pause only
when nothing else keeps it paused (exhausted, no allocation), and only a pause of ours (0)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy.orm import Session

from myriagate.db.ledger import SqlLedger
from myriagate.db.repos import projects as projects_repo
from myriagate.domain.accounts import AccountUsage, SetLimits
from myriagate.domain.costs import Cost
from myriagate.profiles.loader import load_profile
from myriagate.profiles.models import ClusterProfile
from myriagate.services.allocations import slurm_sync
from myriagate.settings import Settings
from tests.conftest import CLUSTER, FakeClock
from tests.unit.test_slurm_sync import BASE, HOUR, T0, FakeSlurmAccounts, plan, seed


@pytest.fixture
def profile() -> ClusterProfile:
    return load_profile("devcluster", Settings(dev_mode=True))


def _suspend(session: Session, account: str, reason: str | None) -> None:
    """Set or clear the suspension as ``services.allocations.suspension`` does (its rules are
    tested in test_project_suspension.py)."""
    project = projects_repo.get_project(session, CLUSTER, account)
    assert project is not None
    project.suspended_at = T0 if reason else None
    project.suspended_by = "root@criann.fr" if reason else None
    project.suspension_reason = reason
    session.commit()


def test_a_suspended_project_with_hours_left_is_paused_and_resuming_lifts_it(
    session: Session, clock: FakeClock, profile: ClusterProfile
) -> None:
    seed(session, clock, granted=Cost(10 * HOUR))
    admin = FakeSlurmAccounts(BASE, {"caen-x": AccountUsage("caen-x", used={"billing": 70})})
    slurm_sync.apply(plan(session, profile, admin, clock), admin)
    assert admin.account("caen-x").grp_submit_jobs is None
    _suspend(session, "caen-x", "security incident")
    paused = plan(session, profile, admin, clock)
    # The limit is unchanged (the holds of queued jobs stay payable): only the pause is planned.
    assert [s.change for s in paused.steps] == [SetLimits("caen-x", (), 0, "suspended")]
    assert paused.steps[0].argv[-1] == "GrpSubmitJobs=0"
    slurm_sync.apply(paused, admin)
    assert admin.account("caen-x").grp_submit_jobs == 0
    assert plan(session, profile, admin, clock).is_empty  # twice plans nothing
    _suspend(session, "caen-x", None)
    lifted = plan(session, profile, admin, clock)
    assert [s.argv[-1] for s in lifted.steps] == ["GrpSubmitJobs=-1"]
    slurm_sync.apply(lifted, admin)
    assert admin.account("caen-x").grp_submit_jobs is None


def test_resuming_an_exhausted_project_keeps_it_paused(
    session: Session, clock: FakeClock, profile: ClusterProfile
) -> None:
    allocation_id = seed(session, clock, granted=Cost(HOUR))
    admin = FakeSlurmAccounts(BASE, {"caen-x": AccountUsage("caen-x", used={"billing": 70})})
    _suspend(session, "caen-x", "agreement expired")
    slurm_sync.apply(plan(session, profile, admin, clock), admin)
    assert admin.account("caen-x").grp_submit_jobs == 0
    SqlLedger(session, clock=clock).charge_outside(allocation_id, "4242", Cost(HOUR))  # all used
    session.commit()
    _suspend(session, "caen-x", None)
    steps = plan(session, profile, admin, clock).steps
    assert all(s.change.submit_jobs is None for s in steps if isinstance(s.change, SetLimits))
    slurm_sync.apply(plan(session, profile, admin, clock), admin)
    assert admin.account("caen-x").grp_submit_jobs == 0  # exhausted: still paused


def test_an_admins_other_submit_limit_is_left_alone_unless_the_project_is_suspended(
    session: Session, clock: FakeClock, profile: ClusterProfile
) -> None:
    seed(session, clock, granted=Cost(10 * HOUR))
    admin = FakeSlurmAccounts(BASE)
    slurm_sync.apply(plan(session, profile, admin, clock), admin)
    i = next(i for i, a in enumerate(admin.assocs) if a.account == "caen-x" and a.user is None)
    admin.assocs[i] = replace(admin.assocs[i], grp_submit_jobs=5)  # set by hand with sacctmgr
    assert plan(session, profile, admin, clock).is_empty
    _suspend(session, "caen-x", "misuse")
    slurm_sync.apply(plan(session, profile, admin, clock), admin)
    assert admin.account("caen-x").grp_submit_jobs == 0  # the suspension pauses it
