"""Read-only views the allocation API needs beyond ``services.allocations.grants``: periods and quotas.

Periods are public to every signed-in user (they say when grants run). An institution's quotas,
with what its projects were granted and what is left to grant, are for its university admins
and for platform admins.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.allocations import AllocationPeriod, InstitutionQuota
from myriagate.db.models.users import User
from myriagate.db.repos import allocations as allocations_repo
from myriagate.db.repos import projects as projects_repo
from myriagate.domain.costs import Cost
from myriagate.errors import NotFound, PermissionDenied


@dataclass(frozen=True)
class QuotaView:
    institution: str
    period_id: uuid.UUID
    period_name: str
    cluster: str
    quota: Cost
    granted: Cost

    @property
    def left(self) -> Cost:
        return self.quota.minus_floor_zero(self.granted)


def periods(session: Session, *, cluster: str | None = None) -> list[AllocationPeriod]:
    """Allocation periods (of one cluster, or all), oldest first."""
    if cluster is not None:
        return allocations_repo.periods(session, cluster)
    stmt = sa.select(AllocationPeriod).order_by(AllocationPeriod.starts_at, AllocationPeriod.cluster)
    return list(session.scalars(stmt))


def get_period(session: Session, period_id: uuid.UUID) -> AllocationPeriod | None:
    return allocations_repo.get_period(session, period_id)


def quotas_of(session: Session, actor: User, institution: str) -> list[QuotaView]:
    """The institution's quotas, oldest period first, each with its grants so far."""
    if not (actor.is_platform_admin or actor.university_admin_of == institution):
        raise PermissionDenied(f"only an admin of {institution} or a platform admin can read its quotas")
    if projects_repo.get_institution(session, institution) is None:
        raise NotFound(f"unknown institution {institution!r}")
    stmt = (
        sa.select(InstitutionQuota, AllocationPeriod)
        .join(AllocationPeriod, AllocationPeriod.id == InstitutionQuota.period_id)
        .where(InstitutionQuota.institution == institution)
        .order_by(AllocationPeriod.starts_at, AllocationPeriod.cluster)
    )
    return [
        QuotaView(
            institution=institution,
            period_id=period.id,
            period_name=period.name,
            cluster=period.cluster,
            quota=Cost(quota.core_seconds, quota.gpu_seconds),
            granted=allocations_repo.granted_total(session, institution, period.id),
        )
        for quota, period in session.execute(stmt)
    ]
