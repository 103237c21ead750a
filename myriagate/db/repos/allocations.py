"""Allocation periods, institution quotas and project allocations (the rows, not the money).

Money moves only through ``myriagate.db.ledger.SqlLedger``; this module creates the rows it
works on and finds them. Like every repo it never commits: the caller owns the transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.allocations import Allocation, AllocationPeriod, InstitutionQuota
from myriagate.db.models.users import Project
from myriagate.domain.costs import Cost
from myriagate.errors import AlreadyExists, Conflict, Hours, InvalidRequest, NotFound, Text


# --- periods --------------------------------------------------------------------------
def create_period(
    session: Session, *, cluster: str, name: str, starts_at: datetime, ends_at: datetime
) -> AllocationPeriod:
    """A new period ``[starts_at, ends_at)``; refuses one that overlaps another of the cluster.

    The overlap check is a read then an insert: two admins racing to create overlapping
    periods at the same instant could both pass. Periods are created a few times a year by
    platform admins, so that race is accepted rather than locking the table.
    """
    if ends_at <= starts_at:
        raise InvalidRequest(Text("a period must end after it starts"))
    overlapping = session.scalars(
        sa.select(AllocationPeriod).where(
            AllocationPeriod.cluster == cluster,
            AllocationPeriod.starts_at < ends_at,
            AllocationPeriod.ends_at > starts_at,
        )
    ).first()
    if overlapping is not None:
        raise Conflict(
            Text(
                "period %(period)s overlaps %(other)s (%(starts_at)s to %(ends_at)s) on %(cluster)s",
                period=repr(name),
                other=repr(overlapping.name),
                starts_at=format(overlapping.starts_at, "%Y-%m-%d"),
                ends_at=format(overlapping.ends_at, "%Y-%m-%d"),
                cluster=cluster,
            )
        )
    period = AllocationPeriod(cluster=cluster, name=name, starts_at=starts_at, ends_at=ends_at)
    session.add(period)
    session.flush()
    return period


def get_period(session: Session, period_id: uuid.UUID) -> AllocationPeriod | None:
    return session.get(AllocationPeriod, period_id)


def periods(session: Session, cluster: str) -> list[AllocationPeriod]:
    """The cluster's periods, oldest first."""
    stmt = sa.select(AllocationPeriod).where(AllocationPeriod.cluster == cluster)
    return list(session.scalars(stmt.order_by(AllocationPeriod.starts_at)))


def current_period(session: Session, cluster: str, at: datetime) -> AllocationPeriod | None:
    """The period of ``cluster`` that contains the instant ``at`` (at most one: no overlaps)."""
    stmt = sa.select(AllocationPeriod).where(
        AllocationPeriod.cluster == cluster,
        AllocationPeriod.starts_at <= at,
        AllocationPeriod.ends_at > at,
    )
    return session.scalars(stmt).first()


# --- quotas ---------------------------------------------------------------------------
def granted_total(session: Session, institution: str, period_id: uuid.UUID) -> Cost:
    """What the institution's projects have been granted in the period, all together."""
    stmt = (
        sa.select(
            sa.func.coalesce(sa.func.sum(Allocation.granted_core_seconds), 0),
            sa.func.coalesce(sa.func.sum(Allocation.granted_gpu_seconds), 0),
        )
        .join(Project, Project.id == Allocation.project_id)
        .where(Project.institution == institution, Allocation.period_id == period_id)
    )
    core, gpu = session.execute(stmt).one()
    return Cost(int(core), int(gpu))


def get_quota(session: Session, institution: str, period_id: uuid.UUID) -> InstitutionQuota | None:
    return session.get(InstitutionQuota, (institution, period_id))


def quotas(session: Session, period_id: uuid.UUID) -> list[InstitutionQuota]:
    stmt = sa.select(InstitutionQuota).where(InstitutionQuota.period_id == period_id)
    return list(session.scalars(stmt.order_by(InstitutionQuota.institution)))


def set_quota(session: Session, *, institution: str, period_id: uuid.UUID, amount: Cost) -> InstitutionQuota:
    """Set (or change) an institution's quota; refuses one below what it has already granted."""
    if get_period(session, period_id) is None:
        raise NotFound(Text("no allocation period %(period)s", period=period_id))
    already = granted_total(session, institution, period_id)
    if not already.fits_in(amount):
        raise Conflict(
            Text(
                "%(institution)s has already granted %(core)s CPU-hours and %(gpu)s GPU-hours in this "
                "period: the quota cannot go below that",
                institution=institution,
                core=Hours(already.core_seconds),
                gpu=Hours(already.gpu_seconds),
            )
        )
    quota = get_quota(session, institution, period_id)
    if quota is None:
        quota = InstitutionQuota(institution=institution, period_id=period_id, core_seconds=0, gpu_seconds=0)
        session.add(quota)
    quota.core_seconds = amount.core_seconds
    quota.gpu_seconds = amount.gpu_seconds
    session.flush()
    return quota


# --- allocations ----------------------------------------------------------------------
def create_allocation(
    session: Session, *, project_id: uuid.UUID, period_id: uuid.UUID, created_at: datetime
) -> Allocation:
    """An empty allocation of a project for a period (grant to it through the ledger)."""
    if allocation_for(session, project_id, period_id) is not None:
        raise AlreadyExists(Text("this project already has an allocation for this period"))
    allocation = Allocation(
        project_id=project_id,
        period_id=period_id,
        granted_core_seconds=0,
        granted_gpu_seconds=0,
        held_core_seconds=0,
        held_gpu_seconds=0,
        charged_core_seconds=0,
        charged_gpu_seconds=0,
        created_at=created_at,
    )
    session.add(allocation)
    session.flush()
    return allocation


def get_allocation(session: Session, allocation_id: uuid.UUID) -> Allocation | None:
    return session.get(Allocation, allocation_id)


def allocation_for(session: Session, project_id: uuid.UUID, period_id: uuid.UUID) -> Allocation | None:
    stmt = sa.select(Allocation).where(Allocation.project_id == project_id, Allocation.period_id == period_id)
    return session.scalars(stmt).one_or_none()


def allocations_of_project(session: Session, project_id: uuid.UUID) -> list[Allocation]:
    """A project's allocations, most recent period first."""
    stmt = (
        sa.select(Allocation)
        .join(AllocationPeriod, AllocationPeriod.id == Allocation.period_id)
        .where(Allocation.project_id == project_id)
        .order_by(AllocationPeriod.starts_at.desc())
    )
    return list(session.scalars(stmt))


def allocation_at(session: Session, cluster: str, slurm_account: str, at: datetime) -> Allocation | None:
    """The allocation that pays for a job of ``slurm_account`` on ``cluster`` at ``at``."""
    stmt = (
        sa.select(Allocation)
        .join(Project, Project.id == Allocation.project_id)
        .join(AllocationPeriod, AllocationPeriod.id == Allocation.period_id)
        .where(
            Project.cluster == cluster,
            Project.slurm_account == slurm_account,
            AllocationPeriod.cluster == cluster,
            AllocationPeriod.starts_at <= at,
            AllocationPeriod.ends_at > at,
        )
    )
    return session.scalars(stmt).first()


def allocation_id_at(session: Session, cluster: str, slurm_account: str, at: datetime) -> uuid.UUID | None:
    """The id of ``allocation_at``'s allocation, by a Core statement built once: every
    submission that holds its cost asks."""
    params = {"cluster": cluster, "slurm_account": slurm_account, "at": at}
    found: uuid.UUID | None = session.execute(_ALLOCATION_ID_AT, params).scalars().first()
    return found


def _allocation_id_at() -> sa.Select[uuid.UUID]:
    allocations = cast(sa.Table, Allocation.__table__)
    projects = cast(sa.Table, Project.__table__)
    periods = cast(sa.Table, AllocationPeriod.__table__)
    cluster = sa.bindparam("cluster", type_=projects.c.cluster.type)
    at = sa.bindparam("at", type_=periods.c.starts_at.type)
    return (
        sa.select(allocations.c.id)
        .join(projects, projects.c.id == allocations.c.project_id)
        .join(periods, periods.c.id == allocations.c.period_id)
        .where(
            projects.c.cluster == cluster,
            projects.c.slurm_account == sa.bindparam("slurm_account", type_=projects.c.slurm_account.type),
            periods.c.cluster == cluster,
            periods.c.starts_at <= at,
            periods.c.ends_at > at,
        )
    )


_ALLOCATION_ID_AT = _allocation_id_at()
