"""``admin slurm-sync``: make Slurm's associations match the gateway (the cluster is the backstop).

Desired state, from the database: each institution with projects on the cluster is an account
under ``root``; each project is an account under its institution; each active member is a user
association of the project's account; each project's account carries ``GrpTRESMins`` from its
balance and a pause (``GrpSubmitJobs=0``) when it is exhausted or has no allocation in the
current period, or when an admin suspended the project (``services.allocations.suspension``);
the pause is lifted only when none of these holds, and only a pause of ours (0). The plan is the
ordered list of ``sacctmgr`` commands that gets Slurm there;
it changes nothing until ``apply``; running it twice plans nothing the second time.

The limit (docs/slurm-sync.md, "The limit"): Slurm with ``AccountingStorageEnforce=safe``
starts a job only if ``used + running_rest + job_limit <= GrpTRESMins``, where ``used`` is the
account's (decayed) usage counter. So the limit is set *relative to that counter*:
``used + 1 + budget``, with ``budget = granted − charged`` (= remaining + held: the holds of
the gateway's queued and running jobs stay payable, so Slurm never blocks a job the gateway
accepted), in minutes rounded down. Gateway core-seconds are Slurm's billing TRES × seconds
(``domain.billing``), and Slurm counts the ``billing`` TRES of a job as that same integer ×
seconds, so the compute limit is ``GrpTRESMins=billing=…`` with no conversion; GPU-seconds
are GPUs × seconds, so ``gres/gpu`` minutes are GPU-seconds ÷ 60, whatever the GPU weight.
"""

from __future__ import annotations

import shlex
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from myriagate.db.models.users import Institution, Membership, Project, User
from myriagate.db.repos import allocations as allocations_repo
from myriagate.domain.accounts import (
    CLEAR,
    CPU,
    GPU,
    AccountUsage,
    AddAccount,
    AddUser,
    Association,
    Change,
    RemoveUser,
    SetLimits,
)
from myriagate.domain.costs import Cost
from myriagate.errors import ConfigError
from myriagate.ports import AccountsAdmin, Clock, Ledger
from myriagate.profiles.models import ClusterProfile

log = structlog.get_logger(__name__)

ROOT_ACCOUNT = "root"
BILLING = "billing"  # Slurm's billing TRES: what the gateway's core-seconds count
SLACK_MIN = 1  # usage counters print whole minutes: one more so rounding never cuts a job short


@dataclass(frozen=True)
class Step:
    change: Change
    argv: tuple[str, ...]

    @property
    def display(self) -> str:
        """The command as one would type it (for display only: it runs as argv)."""
        return shlex.join(self.argv)


@dataclass
class Plan:
    cluster: str
    steps: list[Step] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.steps


@dataclass(frozen=True)
class Weighting:
    """Which of Slurm's TRES-minutes carry the gateway's balance, and how many minutes it is.

    Core-seconds are billing-seconds, so ``billing`` is always limited; GPU-seconds are GPU
    seconds, so ``gres/gpu`` is limited when the profile has GPU partitions.
    """

    gpu: bool

    @classmethod
    def of(cls, profile: ClusterProfile) -> Weighting:
        return cls(gpu=any(p.gpus_per_node > 0 for p in profile.partitions))

    @staticmethod
    def minutes(seconds: int) -> int:
        return seconds // 60


@dataclass(frozen=True)
class Desired:
    account: str
    parent: str
    description: str
    organization: str
    users: frozenset[str] = frozenset()
    limits: tuple[tuple[str, int], ...] | None = None  # None: an institution (not limited)
    paused: bool = False
    why: str = ""


def tolerance(desired_minutes: int) -> int:
    """Usage counters move (decay, running jobs) between runs: ignore drift within 1 % (≥ 2 min)."""
    return max(2, desired_minutes // 100)


def _budget(session: Session, ledger: Ledger, project: Project, at: datetime) -> tuple[Cost, Cost, str]:
    """(granted − charged, remaining, why) of the project's allocation at ``at``.

    No current allocation: only the holds of jobs still in flight on its latest one stay payable.
    """
    allocation = allocations_repo.allocation_at(session, project.cluster, project.slurm_account, at)
    if allocation is None:
        past = allocations_repo.allocations_of_project(session, project.id)
        held = ledger.balance(past[0].id).held if past else Cost()
        return held, Cost(), "no allocation in the current period"
    balance = ledger.balance(allocation.id)
    return balance.granted.minus_floor_zero(balance.charged), balance.remaining, "allocation"


def desired_state(
    session: Session,
    *,
    profile: ClusterProfile,
    usage: dict[str, AccountUsage],
    at: datetime,
    ledger: Callable[[Session], Ledger],
    only_accounts: Collection[str] | None = None,
) -> list[Desired]:
    """Institutions first (parents before children), then projects, sorted by name; balances
    are read through ``ledger``."""
    weighting = Weighting.of(profile)
    book = ledger(session)
    stmt = sa.select(Project).where(Project.cluster == profile.name).order_by(Project.slurm_account)
    projects = [p for p in session.scalars(stmt) if only_accounts is None or p.slurm_account in only_accounts]
    members: dict[str, set[str]] = defaultdict(set)
    rows = session.execute(
        sa.select(Project.slurm_account, User.cluster_login)
        .join(Membership, Membership.project_id == Project.id)
        .join(User, User.id == Membership.user_id)
        .where(Project.cluster == profile.name, User.is_active.is_(True))
    )
    for account, login in rows:
        members[account].add(login)
    institutions = {i.code: i for i in session.scalars(sa.select(Institution))}
    out = [
        Desired(code, ROOT_ACCOUNT, institutions[code].name if code in institutions else code, code)
        for code in sorted({p.institution for p in projects})
    ]
    for project in projects:
        budget, remaining, why = _budget(session, book, project, at)
        used = usage.get(project.slurm_account, AccountUsage(project.slurm_account))
        base = used.used.get(BILLING, 0) + SLACK_MIN
        limits: list[tuple[str, int]] = [(BILLING, base + Weighting.minutes(budget.core_seconds))]
        exhausted = Weighting.minutes(remaining.core_seconds) == 0
        if weighting.gpu:
            base = used.used.get(GPU, 0) + SLACK_MIN
            limits.append((GPU, base + Weighting.minutes(budget.gpu_seconds)))
        paused = why != "allocation" or exhausted or project.suspended_at is not None
        if project.suspended_at is not None:  # an admin's suspension is the reason shown first
            why = "suspended"
        out.append(
            Desired(
                account=project.slurm_account,
                parent=project.institution,
                description=project.name or project.slurm_account,
                organization=project.institution,
                users=frozenset(members.get(project.slurm_account, ())),
                limits=tuple(limits),
                paused=paused,
                why=why if why != "allocation" else ("exhausted" if exhausted else "balance"),
            )
        )
    return out


def _limit_change(want: Desired, actual: Association | None) -> SetLimits | None:
    assert want.limits is not None
    have = dict(actual.grp_tres_mins) if actual is not None else {}
    tres = tuple(
        (name, minutes)
        for name, minutes in want.limits
        if have.get(name) is None or abs(have[name] - minutes) > tolerance(minutes)
    )
    # The CPU-minutes limit earlier gateways set (before core-seconds were billing-seconds)
    # would keep stopping jobs at a stale figure: it is lifted.
    if have.get(CPU) is not None and CPU not in dict(want.limits):
        tres += ((CPU, CLEAR),)
    submit = actual.grp_submit_jobs if actual is not None else None
    new_submit: int | None = None
    if want.paused and submit != 0:
        new_submit = 0
    elif not want.paused and submit == 0:
        new_submit = CLEAR  # lift our pause; any other GrpSubmitJobs an admin set stays
    if not tres and new_submit is None:
        return None
    return SetLimits(want.account, tres, new_submit, reason=want.why)


def diff(desired: Iterable[Desired], actual: Iterable[Association]) -> tuple[list[Change], list[str]]:
    """Changes that take Slurm from ``actual`` to ``desired`` (accounts, limits, then users)."""
    accounts: dict[str, Association] = {}
    users: dict[str, set[str]] = defaultdict(set)
    for assoc in actual:
        if assoc.user is None:
            accounts[assoc.account] = assoc
        else:
            users[assoc.account].add(assoc.user)
    adds: list[Change] = []
    limits: list[Change] = []
    user_changes: list[Change] = []
    warnings: list[str] = []
    for want in desired:
        have = accounts.get(want.account)
        if have is None:
            adds.append(AddAccount(want.account, want.parent, want.description, want.organization, "missing"))
        elif have.parent != want.parent and want.account != ROOT_ACCOUNT:
            warnings.append(
                f"account {want.account} is under {have.parent} in Slurm, under {want.parent} in the "
                "gateway: not moved (move it with sacctmgr if that is right)"
            )
        if want.limits is None:
            continue
        change = _limit_change(want, have)
        if change is not None:
            limits.append(change)
        for login in sorted(want.users - users.get(want.account, set())):
            user_changes.append(AddUser(login, want.account, "member in the gateway"))
        for login in sorted(users.get(want.account, set()) - want.users):
            user_changes.append(RemoveUser(login, want.account, "not a member in the gateway"))
    # Limits before users: a new member never gets a moment without the project's limits.
    return adds + limits + user_changes, warnings


def _keep_busy_members(changes: list[Change], warnings: list[str], admin: AccountsAdmin) -> list[Change]:
    """Removals of members whose jobs are still queued or running are left for a later sync,
    with a warning: Slurm refuses them ("Job(s) active, cancel job(s) before remove"), and the
    plan stops at the first refusal, so every step after it would wait too."""
    removals = {c.account for c in changes if isinstance(c, RemoveUser)}
    busy = admin.busy_members(removals) if removals else {}
    kept: list[Change] = []
    for change in changes:
        if isinstance(change, RemoveUser) and change.login in busy.get(change.account, set()):
            warnings.append(
                f"{change.login} is no longer a member of {change.account} but still has jobs queued "
                "or running there: the association is kept until they end (Slurm refuses to remove "
                "it before; cancel them to remove it now)"
            )
            continue
        kept.append(change)
    return kept


def plan_sync(
    session: Session,
    *,
    profile: ClusterProfile,
    admin: AccountsAdmin,
    clock: Clock,
    ledger: Callable[[Session], Ledger],
    only_accounts: Collection[str] | None = None,
) -> Plan:
    """Read Slurm, compare with the gateway (balances through ``ledger``), return the commands
    (nothing is changed)."""
    actual = admin.associations()
    clusters = {a.cluster for a in actual if a.cluster}
    if len(clusters) > 1:
        raise ConfigError(
            f"slurmdbd serves several clusters ({', '.join(sorted(clusters))}): slurm-sync supports one"
        )
    stmt = sa.select(Project.slurm_account).where(Project.cluster == profile.name)
    accounts = [a for a in session.scalars(stmt) if only_accounts is None or a in only_accounts]
    usage = admin.usage(accounts)
    desired = desired_state(
        session, profile=profile, usage=usage, at=clock.now(), ledger=ledger, only_accounts=only_accounts
    )
    changes, warnings = diff(desired, actual)
    changes = _keep_busy_members(changes, warnings, admin)
    plan = Plan(profile.name, [Step(c, admin.command(c)) for c in changes], warnings)
    log.info("slurm_sync.planned", cluster=profile.name, steps=len(plan.steps), warnings=len(warnings))
    return plan


def apply(plan: Plan, admin: AccountsAdmin) -> list[Step]:
    """Run the plan in order; stop at the first refusal (later steps may depend on it)."""
    done: list[Step] = []
    for step in plan.steps:
        admin.run(step.argv)
        log.info("slurm_sync.applied", cluster=plan.cluster, command=step.display)
        done.append(step)
    return done


__all__ = ["Desired", "Plan", "Step", "apply", "desired_state", "diff", "plan_sync"]
