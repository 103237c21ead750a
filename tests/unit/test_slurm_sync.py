"""slurm-sync plans from the database and a fake Slurm: accounts, members, limits, pauses."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from myriagate.db.ledger import SqlLedger
from myriagate.db.repos import allocations as allocations_repo
from myriagate.db.repos import projects as projects_repo
from myriagate.domain.accounts import (
    AccountUsage,
    AddAccount,
    AddUser,
    Association,
    Change,
    RemoveUser,
    SetLimits,
)
from myriagate.domain.costs import Cost
from myriagate.errors import ConfigError, InvalidRequest
from myriagate.profiles.loader import load_profile
from myriagate.profiles.models import BillingWeights, ClusterProfile
from myriagate.services.allocations import slurm_sync
from myriagate.settings import Settings
from myriagate.slurm import sacctmgr
from tests.conftest import CLUSTER, FakeClock, make_user
from tests.fakes.fake_runner import FakeRunner

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HOUR = 3600


class FakeSlurmAccounts:
    """ports.AccountsAdmin over an in-memory association table that applies what runs."""

    def __init__(self, assocs: list[Association], usage: dict[str, AccountUsage] | None = None) -> None:
        self.assocs = list(assocs)
        self.usage_by_account = usage or {}
        self._pending: dict[tuple[str, ...], Change] = {}
        self.ran: list[tuple[str, ...]] = []
        self.busy: dict[str, set[str]] = {}  # account -> logins with jobs queued or running

    def busy_members(self, accounts: Collection[str]) -> dict[str, set[str]]:
        return {a: set(logins) for a, logins in self.busy.items() if a in accounts}

    def associations(self) -> list[Association]:
        return list(self.assocs)

    def usage(self, accounts: Collection[str]) -> dict[str, AccountUsage]:
        return {a: u for a, u in self.usage_by_account.items() if a in accounts}

    def command(self, change: Change) -> tuple[str, ...]:
        argv = sacctmgr.command(change)
        self._pending[argv] = change
        return argv

    def run(self, argv: Sequence[str]) -> None:
        change = self._pending[tuple(argv)]
        self.ran.append(tuple(argv))
        if isinstance(change, AddAccount):
            self.assocs.append(Association(CLUSTER, change.account, parent=change.parent))
        elif isinstance(change, AddUser):
            self.assocs.append(Association(CLUSTER, change.account, user=change.login))
        elif isinstance(change, RemoveUser):
            self.assocs = [a for a in self.assocs if (a.account, a.user) != (change.account, change.login)]
        else:
            assert isinstance(change, SetLimits)
            i = next(i for i, a in enumerate(self.assocs) if a.account == change.account and a.user is None)
            tres = dict(self.assocs[i].grp_tres_mins)
            tres.update({k: v for k, v in change.tres_mins if v >= 0})
            for k, v in change.tres_mins:
                if v < 0:
                    tres.pop(k, None)
            jobs = self.assocs[i].grp_submit_jobs
            if change.submit_jobs is not None:
                jobs = None if change.submit_jobs < 0 else change.submit_jobs
            self.assocs[i] = replace(self.assocs[i], grp_tres_mins=tres, grp_submit_jobs=jobs)

    def account(self, name: str) -> Association:
        return next(a for a in self.assocs if a.account == name and a.user is None)


BASE = [
    Association(CLUSTER, "root"),
    Association(CLUSTER, "root", user="root"),
    Association(CLUSTER, "unicaen", parent="root"),
]


@pytest.fixture
def profile() -> ClusterProfile:
    return load_profile("devcluster", Settings(dev_mode=True))


def seed(session: Session, clock: FakeClock, *, granted: Cost, account: str = "caen-x") -> uuid.UUID:
    """unicaen, project ``account`` with alice as member, a 2026 period, ``granted`` to it."""
    if projects_repo.get_institution(session, "unicaen") is None:
        projects_repo.add_institution(session, code="unicaen", name="Université de Caen")
    project = projects_repo.add_project(
        session, cluster=CLUSTER, slurm_account=account, institution="unicaen", created_at=T0, name="Projet X"
    )
    make_user(session, f"alice-{account}@unicaen.fr", "alice", [account], clock)
    period = allocations_repo.current_period(session, CLUSTER, T0) or allocations_repo.create_period(
        session,
        cluster=CLUSTER,
        name="2026",
        starts_at=datetime(2026, 1, 1, tzinfo=UTC),
        ends_at=datetime(2027, 1, 1, tzinfo=UTC),
    )
    if allocations_repo.get_quota(session, "unicaen", period.id) is None:
        allocations_repo.set_quota(
            session, institution="unicaen", period_id=period.id, amount=Cost(10**9, 10**9)
        )
    allocation = allocations_repo.create_allocation(
        session, project_id=project.id, period_id=period.id, created_at=T0
    )
    if not granted.is_zero:
        SqlLedger(session).grant(allocation.id, granted, author="admin", reason="call")
    session.commit()
    return allocation.id


def plan(session: Session, profile: ClusterProfile, admin: object, clock: FakeClock) -> slurm_sync.Plan:
    return slurm_sync.plan_sync(session, profile=profile, admin=admin, clock=clock, ledger=SqlLedger)  # type: ignore[arg-type]


def test_creates_missing_accounts_and_members_with_limits_first(
    session: Session, clock: FakeClock, profile: ClusterProfile
) -> None:
    seed(session, clock, granted=Cost(10 * HOUR))
    runner = FakeRunner().reply("sacctmgr", "".join(
        f"{a.cluster}|{a.account}|{a.user or ''}|{a.parent or ''}|||\n" for a in BASE
    ), when=lambda argv: "show" in argv)  # fmt: skip
    runner.reply("sshare", "")
    result = plan(session, profile, sacctmgr.SacctmgrAccounts(runner), clock)
    assert [step.argv for step in result.steps] == [
        ("sacctmgr", "-i", "add", "account", "caen-x", "parent=unicaen", "description=Projet X",
         "organization=unicaen"),
        # 10 core-hours are 600 minutes of Slurm's billing TRES (the gateway's core-seconds are
        # billing-seconds), + 1 of slack; no GPU-hours granted, and the dev cluster has a GPU
        # partition: 0 + 1 GPU-minute. (Before: cpu=601, CPU-minutes on the cheapest weight.)
        ("sacctmgr", "-i", "modify", "account", "where", "name=caen-x", "set",
         "GrpTRESMins=billing=601,gres/gpu=1"),
        ("sacctmgr", "-i", "add", "user", "alice", "account=caen-x"),
    ]  # fmt: skip
    assert runner.count("sacctmgr") == 1, "planning runs nothing but the read"
    assert result.steps[1].display == (
        "sacctmgr -i modify account where name=caen-x set GrpTRESMins=billing=601,gres/gpu=1"
    )


def test_second_run_plans_nothing(session: Session, clock: FakeClock, profile: ClusterProfile) -> None:
    seed(session, clock, granted=Cost(10 * HOUR))
    admin = FakeSlurmAccounts(BASE)
    first = plan(session, profile, admin, clock)
    slurm_sync.apply(first, admin)
    assert len(admin.ran) == 3
    assert plan(session, profile, admin, clock).is_empty


def test_limit_follows_slurm_usage_and_the_unspent_budget(
    session: Session, clock: FakeClock, profile: ClusterProfile
) -> None:
    allocation_id = seed(session, clock, granted=Cost(10 * HOUR))
    usage = {"caen-x": AccountUsage("caen-x", used={"billing": 5000, "cpu": 4000}, running={"billing": 60})}
    admin = FakeSlurmAccounts(BASE, usage)
    slurm_sync.apply(plan(session, profile, admin, clock), admin)
    assert admin.account("caen-x").grp_tres_mins == {"billing": 5000 + 1 + 600, "gres/gpu": 1}
    # A queued gateway job holding 2 h keeps its room: the limit does not move.
    ledger = SqlLedger(session, clock=clock)
    job = uuid.uuid4()
    ledger.hold(allocation_id=allocation_id, job_id=job, amount=Cost(2 * HOUR))
    session.commit()
    assert plan(session, profile, admin, clock).is_empty
    # It ran 1 h and was charged: 60 billing-minutes less for everything else.
    ledger.settle(job_id=job, actual=Cost(HOUR))
    session.commit()
    steps = plan(session, profile, admin, clock).steps
    assert [s.change for s in steps] == [SetLimits("caen-x", (("billing", 5000 + 1 + 540),), None, "balance")]


def test_usage_drift_within_tolerance_changes_nothing(
    session: Session, clock: FakeClock, profile: ClusterProfile
) -> None:
    seed(session, clock, granted=Cost(100 * HOUR))
    admin = FakeSlurmAccounts(BASE, {"caen-x": AccountUsage("caen-x", used={"billing": 1000})})
    slurm_sync.apply(plan(session, profile, admin, clock), admin)
    admin.usage_by_account["caen-x"] = AccountUsage("caen-x", used={"billing": 1040})  # decay, rounding
    assert plan(session, profile, admin, clock).is_empty
    admin.usage_by_account["caen-x"] = AccountUsage("caen-x", used={"billing": 2000})
    assert not plan(session, profile, admin, clock).is_empty


def test_exhausted_project_is_paused_and_a_top_up_lifts_it(
    session: Session, clock: FakeClock, profile: ClusterProfile
) -> None:
    allocation_id = seed(session, clock, granted=Cost(HOUR))
    admin = FakeSlurmAccounts(BASE, {"caen-x": AccountUsage("caen-x", used={"billing": 70})})
    slurm_sync.apply(plan(session, profile, admin, clock), admin)
    ledger = SqlLedger(session, clock=clock)
    ledger.charge_outside(allocation_id, "4242", Cost(HOUR))  # a job run outside used it all
    session.commit()
    paused = plan(session, profile, admin, clock)
    assert [s.change for s in paused.steps] == [SetLimits("caen-x", (("billing", 71),), 0, "exhausted")]
    slurm_sync.apply(paused, admin)
    assert admin.account("caen-x").grp_submit_jobs == 0
    assert plan(session, profile, admin, clock).is_empty
    ledger.grant(allocation_id, Cost(2 * HOUR), author="admin", reason="top-up")
    session.commit()
    lifted = plan(session, profile, admin, clock)
    assert [s.argv[-2:] for s in lifted.steps] == [("GrpTRESMins=billing=191", "GrpSubmitJobs=-1")]
    slurm_sync.apply(lifted, admin)
    assert admin.account("caen-x").grp_submit_jobs is None


def test_project_without_a_current_allocation_is_paused(
    session: Session, clock: FakeClock, profile: ClusterProfile
) -> None:
    seed(session, clock, granted=Cost(HOUR))
    admin = FakeSlurmAccounts(BASE)
    slurm_sync.apply(plan(session, profile, admin, clock), admin)
    assert admin.account("caen-x").grp_submit_jobs is None
    clock.current = datetime(2027, 2, 1, tzinfo=UTC)  # the 2026 period is over
    steps = plan(session, profile, admin, clock).steps
    assert [s.change for s in steps] == [
        SetLimits("caen-x", (("billing", 1),), 0, "no allocation in the current period")
    ]


def test_members_removed_in_the_gateway_lose_their_association(
    session: Session, clock: FakeClock, profile: ClusterProfile
) -> None:
    seed(session, clock, granted=Cost(HOUR))
    admin = FakeSlurmAccounts([*BASE, Association(CLUSTER, "caen-x", parent="unicaen")])
    admin.assocs.append(Association(CLUSTER, "caen-x", user="mallory"))
    changes = [s.change for s in plan(session, profile, admin, clock).steps]
    assert RemoveUser("mallory", "caen-x", "not a member in the gateway") in changes
    assert AddUser("alice", "caen-x", "member in the gateway") in changes
    # Accounts the gateway does not manage are never touched.
    assert all(c.account == "caen-x" for c in changes)


def test_a_removed_member_with_jobs_still_running_keeps_the_association_with_a_warning(
    session: Session, clock: FakeClock, profile: ClusterProfile
) -> None:
    """Found removing a member whose job was running: the plan removed the association, Slurm
    refused ("Job(s) active, cancel job(s) before remove", measured on the dev cluster) and the
    sync stopped there, so every later step (other members added or removed) waited too."""
    seed(session, clock, granted=Cost(HOUR))
    admin = FakeSlurmAccounts([*BASE, Association(CLUSTER, "caen-x", parent="unicaen")])
    admin.assocs += [
        Association(CLUSTER, "caen-x", user="mallory"),
        Association(CLUSTER, "caen-x", user="oscar"),
    ]
    admin.busy = {"caen-x": {"mallory"}, "caen-y": {"oscar"}}
    result = plan(session, profile, admin, clock)
    changes = [s.change for s in result.steps]
    assert RemoveUser("mallory", "caen-x", "not a member in the gateway") not in changes
    assert RemoveUser("oscar", "caen-x", "not a member in the gateway") in changes
    assert AddUser("alice", "caen-x", "member in the gateway") in changes
    assert any("mallory is no longer a member of caen-x but still has jobs" in w for w in result.warnings)
    # Once the jobs have ended, the next sync removes it.
    admin.busy = {}
    later = [s.change for s in plan(session, profile, admin, clock).steps]
    assert RemoveUser("mallory", "caen-x", "not a member in the gateway") in later


def test_squeue_lists_who_has_jobs_in_the_accounts() -> None:
    assert sacctmgr.squeue_members(["caen-y", "caen-x"]) == (
        "squeue", "--all", "-h", "-A", "caen-x,caen-y", "-o", "%a|%u"
    )  # fmt: skip
    assert sacctmgr.parse_squeue_members("caen-x|alice\ncaen-x|bob\ncaen-x|alice\nrouen|bob\n\n") == {
        "caen-x": {"alice", "bob"}, "rouen": {"bob"}
    }  # fmt: skip
    with pytest.raises(InvalidRequest):
        sacctmgr.squeue_members(["caen x; rm -rf /"])


def test_only_accounts_limits_the_plan(session: Session, clock: FakeClock, profile: ClusterProfile) -> None:
    seed(session, clock, granted=Cost(HOUR), account="caen-x")
    seed(session, clock, granted=Cost(HOUR), account="caen-y")
    admin = FakeSlurmAccounts(BASE)
    result = slurm_sync.plan_sync(
        session, profile=profile, admin=admin, clock=clock, ledger=SqlLedger, only_accounts={"caen-y"}
    )
    assert {s.change.account for s in result.steps} == {"caen-y"}


def test_a_project_account_under_another_parent_is_reported_not_moved(
    session: Session, clock: FakeClock, profile: ClusterProfile
) -> None:
    seed(session, clock, granted=Cost(HOUR))
    admin = FakeSlurmAccounts([*BASE, Association(CLUSTER, "caen-x", parent="root")])
    result = plan(session, profile, admin, clock)
    assert any("caen-x is under root" in w for w in result.warnings)
    assert not any(isinstance(s.change, AddAccount) for s in result.steps)


def test_hostile_project_account_stops_the_plan(
    session: Session, clock: FakeClock, profile: ClusterProfile
) -> None:
    projects_repo.add_institution(session, code="unicaen", name="Caen")
    projects_repo.add_project(
        session, cluster=CLUSTER, slurm_account="x; touch /tmp/p", institution="unicaen", created_at=T0
    )
    session.commit()
    admin = FakeSlurmAccounts(BASE)
    with pytest.raises(InvalidRequest):
        plan(session, profile, admin, clock)
    assert admin.ran == []


def test_several_clusters_in_slurmdbd_are_refused(
    session: Session, clock: FakeClock, profile: ClusterProfile
) -> None:
    admin = FakeSlurmAccounts([*BASE, Association("other", "root")])
    with pytest.raises(ConfigError, match="several clusters"):
        plan(session, profile, admin, clock)


def test_the_cpu_minutes_limit_of_earlier_gateways_is_lifted(
    session: Session, clock: FakeClock, profile: ClusterProfile
) -> None:
    # Before core-seconds were billing-seconds, the sync limited cpu: that figure is stale.
    seed(session, clock, granted=Cost(10 * HOUR))
    old = Association(CLUSTER, "caen-x", parent="unicaen", grp_tres_mins={"cpu": 601, "gres/gpu": 1})
    admin = FakeSlurmAccounts([*BASE, old, Association(CLUSTER, "caen-x", user="alice")])
    steps = plan(session, profile, admin, clock).steps
    assert [s.argv[-1] for s in steps] == ["GrpTRESMins=billing=601,cpu=-1"]
    slurm_sync.apply(plan(session, profile, admin, clock), admin)
    assert admin.account("caen-x").grp_tres_mins == {"billing": 601, "gres/gpu": 1}
    assert plan(session, profile, admin, clock).is_empty


def test_gpu_minutes_are_limited_whenever_the_cluster_has_gpus_whatever_their_weight(
    session: Session, clock: FakeClock, profile: ClusterProfile
) -> None:
    # GPU-seconds are the GPUs' real seconds: 2 GPU-hours are 120 gres/gpu minutes, even on a
    # profile whose GPU partition gives GPUs no billing weight.
    seed(session, clock, granted=Cost(10 * HOUR, 2 * HOUR))
    free_gpus = profile.model_copy(
        update={
            "partitions": tuple(
                p.model_copy(update={"billing_weights": BillingWeights()}) for p in profile.partitions
            )
        }
    )
    admin = FakeSlurmAccounts(BASE)
    slurm_sync.apply(plan(session, free_gpus, admin, clock), admin)
    assert admin.account("caen-x").grp_tres_mins == {"billing": 601, "gres/gpu": 121}
    no_gpus = profile.model_copy(
        update={"partitions": tuple(p for p in profile.partitions if p.gpus_per_node == 0)}
    )
    other = FakeSlurmAccounts(BASE)
    slurm_sync.apply(plan(session, no_gpus, other, clock), other)
    assert other.account("caen-x").grp_tres_mins == {"billing": 601}
