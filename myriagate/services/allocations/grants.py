"""Allocation use cases: periods, institution quotas, project grants, adjustments, balances.

Who may do what (docs/allocations.md): platform admins create periods and set quotas;
university admins grant and adjust within their institution's quota (platform admins
anywhere); members see their projects' balances and history, university admins their
institution's, platform admins everything. Amounts come in hours from people and are stored
as integer seconds (``domain.costs.hours_to_seconds`` refuses NaN, negatives, huge and
sub-second amounts). Every change is audited in its own transaction, and any refusal leaves
nothing changed. The ledger is reached through the ``ports.LedgerFactory`` each function
receives. Usage reports are in ``services.allocations.reports``; the estimate of a job is
``services.allocations.holds.estimate`` (re-exported here).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.clock import SystemClock
from myriagate.db.models.allocations import Allocation, AllocationPeriod, InstitutionQuota
from myriagate.db.models.users import Project, User
from myriagate.db.repos import allocations as allocations_repo
from myriagate.db.repos import projects as projects_repo
from myriagate.domain.costs import Cost, hours_to_seconds
from myriagate.errors import InvalidRequest, NotFound, PermissionDenied, Text
from myriagate.ports import Balance, Clock, LedgerFactory, LedgerPage
from myriagate.services.allocations.holds import Estimate, estimate
from myriagate.services.common import audit, authz

__all__ = ["Estimate", "ProjectBalance", "estimate", "hours"]

Hours = Decimal | int | str


@dataclass(frozen=True)
class ProjectBalance:
    """A project's allocation for one period and its balance."""

    cluster: str
    slurm_account: str
    institution: str
    period_id: uuid.UUID
    period_name: str
    allocation_id: uuid.UUID
    balance: Balance
    # The project's suspension by an admin, if any (services.allocations.suspension).
    suspended_at: datetime | None = None
    suspension_reason: str | None = None


def hours(core_hours: Hours = 0, gpu_hours: Hours = 0) -> Cost:
    """An amount given in hours by a person, as whole seconds (InvalidRequest when implausible)."""
    return Cost(hours_to_seconds(core_hours), hours_to_seconds(gpu_hours))


def _clock(clock: Clock | None) -> Clock:
    return clock or SystemClock()


# --- periods and quotas (platform admins) ---------------------------------------------
def create_period(
    session: Session,
    actor: User,
    *,
    cluster: str,
    name: str,
    starts_at: datetime,
    ends_at: datetime,
    source: str = "api",
    clock: Clock | None = None,
) -> AllocationPeriod:
    """A new allocation period; Conflict when it overlaps another period of the cluster."""
    authz.require_platform_admin(actor)
    if not name.strip():
        raise InvalidRequest(Text("a period needs a name"))
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InvalidRequest(Text("period bounds must carry a time zone"))
    period = allocations_repo.create_period(
        session, cluster=cluster, name=name, starts_at=starts_at, ends_at=ends_at
    )
    audit.record(session, actor.id, "allocation.period_create", ("period", period.id),
                 {"cluster": cluster, "name": name, "starts_at": starts_at.isoformat(),
                  "ends_at": ends_at.isoformat()}, source, at=_clock(clock).now())  # fmt: skip
    session.commit()
    return period


def set_quota(
    session: Session,
    actor: User,
    *,
    institution: str,
    period_id: uuid.UUID,
    amount: Cost,
    source: str = "api",
    clock: Clock | None = None,
) -> InstitutionQuota:
    """Set an institution's quota for a period (the cap on its projects' grants)."""
    authz.require_platform_admin(actor)
    if projects_repo.get_institution(session, institution) is None:
        raise NotFound(Text("unknown institution %(institution)s", institution=repr(institution)))
    quota = allocations_repo.set_quota(session, institution=institution, period_id=period_id, amount=amount)
    audit.record(session, actor.id, "allocation.quota_set", ("institution", institution),
                 {"period_id": str(period_id), "core_seconds": amount.core_seconds,
                  "gpu_seconds": amount.gpu_seconds}, source, at=_clock(clock).now())  # fmt: skip
    session.commit()
    return quota


# --- grants and adjustments (university admins within quota, platform admins) ---------
def _project(session: Session, cluster: str, slurm_account: str) -> Project:
    project = projects_repo.get_project(session, cluster, slurm_account)
    if project is None:
        raise NotFound(
            Text(
                "unknown project %(slurm_account)s on %(cluster)s",
                slurm_account=repr(slurm_account),
                cluster=cluster,
            )
        )
    return project


def _require_manage(actor: User, project: Project) -> None:
    if not authz.can_manage_membership(actor, project_institution=project.institution):
        raise PermissionDenied(
            Text(
                "only an admin of %(institution)s or a platform admin can change the allocation of "
                "%(slurm_account)s",
                institution=project.institution,
                slurm_account=project.slurm_account,
            )
        )


def _period(session: Session, cluster: str, period_id: uuid.UUID | None, now: datetime) -> AllocationPeriod:
    period = (
        allocations_repo.get_period(session, period_id)
        if period_id is not None
        else allocations_repo.current_period(session, cluster, now)
    )
    if period is None or period.cluster != cluster:
        raise NotFound(
            Text("no such allocation period on %(cluster)s", cluster=cluster)
            if period_id
            else Text("%(cluster)s has no current period", cluster=cluster)
        )
    return period


def grant(
    session: Session,
    actor: User,
    *,
    cluster: str,
    slurm_account: str,
    amount: Cost,
    ledger: LedgerFactory,
    reason: str = "",
    period_id: uuid.UUID | None = None,
    source: str = "api",
    clock: Clock | None = None,
) -> ProjectBalance:
    """Grant (or top up) a project's allocation for a period (the current one by default).

    Refused (Conflict, nothing changed) when the institution's grants would exceed its quota.
    """
    now = _clock(clock).now()
    project = _project(session, cluster, slurm_account)
    _require_manage(actor, project)
    if amount.is_zero:
        raise InvalidRequest(Text("a grant must be more than zero"))
    period = _period(session, cluster, period_id, now)
    allocation = allocations_repo.allocation_for(session, project.id, period.id)
    try:
        if allocation is None:
            allocation = allocations_repo.create_allocation(
                session, project_id=project.id, period_id=period.id, created_at=now
            )
        balance = ledger(session, clock=clock).grant(
            allocation.id, amount, author=actor.username, reason=reason
        )
        audit.record(session, actor.id, "allocation.grant", ("project", project.id),
                     {"account": slurm_account, "period_id": str(period.id),
                      "core_seconds": amount.core_seconds, "gpu_seconds": amount.gpu_seconds,
                      "reason": reason}, source, at=now)  # fmt: skip
    except Exception:
        session.rollback()
        raise
    session.commit()
    return _project_balance(project, period, allocation, balance)


def adjust(
    session: Session,
    actor: User,
    *,
    allocation_id: uuid.UUID,
    core_seconds: int,
    gpu_seconds: int,
    reason: str,
    ledger: LedgerFactory,
    source: str = "api",
    clock: Clock | None = None,
) -> Balance:
    """A signed correction of a grant, with its author and reason (never below what is used)."""
    now = _clock(clock).now()
    allocation, project, _ = _allocation(session, allocation_id)
    _require_manage(actor, project)
    try:
        balance = ledger(session, clock=clock).adjust(
            allocation_id,
            core_seconds=core_seconds,
            gpu_seconds=gpu_seconds,
            author=actor.username,
            reason=reason,
        )
        audit.record(session, actor.id, "allocation.adjust", ("allocation", allocation.id),
                     {"core_seconds": core_seconds, "gpu_seconds": gpu_seconds, "reason": reason},
                     source, at=now)  # fmt: skip
    except Exception:
        session.rollback()
        raise
    session.commit()
    return balance


# --- reading: balances and history ----------------------------------------------------
def can_view_project(actor: User, project: Project) -> bool:
    """Members of the project, admins of its institution, platform admins."""
    if actor.is_platform_admin or actor.university_admin_of == project.institution:
        return True
    return any(
        m.cluster == project.cluster and m.slurm_account == project.slurm_account for m in actor.memberships
    )


def _allocation(session: Session, allocation_id: uuid.UUID) -> tuple[Allocation, Project, AllocationPeriod]:
    row = session.execute(
        sa.select(Allocation, Project, AllocationPeriod)
        .join(Project, Project.id == Allocation.project_id)
        .join(AllocationPeriod, AllocationPeriod.id == Allocation.period_id)
        .where(Allocation.id == allocation_id)
    ).one_or_none()
    if row is None:
        raise NotFound(Text("no allocation %(allocation)s", allocation=allocation_id))
    return row[0], row[1], row[2]


def _project_balance(
    project: Project, period: AllocationPeriod, allocation: Allocation, balance: Balance
) -> ProjectBalance:
    return ProjectBalance(
        cluster=project.cluster,
        slurm_account=project.slurm_account,
        institution=project.institution,
        period_id=period.id,
        period_name=period.name,
        allocation_id=allocation.id,
        balance=balance,
        suspended_at=project.suspended_at,
        suspension_reason=project.suspension_reason,
    )


def balances(
    session: Session,
    actor: User,
    *,
    ledger: LedgerFactory,
    cluster: str | None = None,
    at: datetime | None = None,
) -> list[ProjectBalance]:
    """Balances of the projects ``actor`` may see, for the period containing ``at`` (now)."""
    when = at or SystemClock().now()
    stmt = (
        sa.select(Allocation, Project, AllocationPeriod)
        .join(Project, Project.id == Allocation.project_id)
        .join(AllocationPeriod, AllocationPeriod.id == Allocation.period_id)
        .where(AllocationPeriod.starts_at <= when, AllocationPeriod.ends_at > when)
        .order_by(Project.cluster, Project.slurm_account)
    )
    if cluster is not None:
        stmt = stmt.where(Project.cluster == cluster)
    book = ledger(session)
    return [
        _project_balance(project, period, allocation, book.balance(allocation.id))
        for allocation, project, period in session.execute(stmt)
        if can_view_project(actor, project)
    ]


def balance_of(
    session: Session, actor: User, allocation_id: uuid.UUID, *, ledger: LedgerFactory
) -> ProjectBalance:
    """One allocation's balance (NotFound when ``actor`` may not see it, as if it did not exist)."""
    allocation, project, period = _allocation(session, allocation_id)
    if not can_view_project(actor, project):
        raise NotFound(Text("no allocation %(allocation)s", allocation=allocation_id))
    return _project_balance(project, period, allocation, ledger(session).balance(allocation_id))


def history(
    session: Session,
    actor: User,
    allocation_id: uuid.UUID,
    *,
    ledger: LedgerFactory,
    limit: int = 50,
    cursor: int | None = None,
) -> LedgerPage:
    """An allocation's ledger entries, newest first, a page at a time."""
    balance_of(session, actor, allocation_id, ledger=ledger)  # visibility
    return ledger(session).entries(allocation_id, limit=limit, cursor=cursor)
