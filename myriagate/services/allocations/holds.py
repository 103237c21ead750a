"""The hold a job takes when it is submitted, and the estimate a dry run shows.

Both find the allocation the job charges (its project's, for the period the submission falls
in) and price the job's worst case with ``services.allocations.charging``: the billing TRES
of what Slurm would allocate × the time limit, and its GPUs × the time limit. The hold is written by the
Ledger in the caller's transaction, next to the job row: both land, or neither does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import structlog
from sqlalchemy.orm import Session

from myriagate.db.repos import allocations as allocations_repo
from myriagate.domain.costs import Cost
from myriagate.domain.jobs import JobSpec, array_task_count
from myriagate.errors import InsufficientAllocation
from myriagate.ports import Balance, Ledger
from myriagate.profiles.models import ClusterProfile
from myriagate.services.allocations import charging, refusals

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Estimate:
    """What a job would hold, and what its allocation would have left afterwards."""

    account: str | None
    partition: str | None
    hold: Cost
    allocation_id: UUID | None = None
    remaining_before: Cost | None = None
    remaining_after: Cost | None = None

    @property
    def fits(self) -> bool:
        return self.remaining_before is not None and self.hold.fits_in(self.remaining_before)


def array_tasks(spec: JobSpec) -> int:
    return array_task_count(spec.array) if spec.array else 1


def job_hold(profile: ClusterProfile, spec: JobSpec) -> Cost:
    """The worst case of a validated ``spec`` (partition and time limit filled in)."""
    return charging.worst_case(
        spec, charging.pricing_of(profile, spec.partition), array_tasks=array_tasks(spec)
    )


def allocation_id_for(
    session: Session, cluster: str, account: str | None, at: datetime, *, requester_id: UUID | None = None
) -> UUID:
    """The allocation a job of ``account`` charges at ``at``; InsufficientAllocation when none
    (saying whom to ask for hours)."""
    found = None if account is None else allocations_repo.allocation_id_at(session, cluster, account, at)
    if found is None:
        raise refusals.no_allocation(session, cluster=cluster, account=account, requester_id=requester_id)
    return found


def hold_for_job(
    session: Session,
    ledger: Ledger,
    *,
    profile: ClusterProfile,
    job_id: UUID,
    spec: JobSpec,
    cluster: str,
    at: datetime,
    requester_id: UUID | None = None,
) -> Cost:
    """Hold the worst case of job ``job_id`` on its project's allocation (not committed).

    A hold that does not fit is refused in hours, with what would fit and whom to ask
    (``refusals``): the ledger's own refusal knows only the amounts."""
    amount = job_hold(profile, spec)
    allocation_id = allocation_id_for(session, cluster, spec.account, at, requester_id=requester_id)
    try:
        ledger.hold(allocation_id=allocation_id, job_id=job_id, amount=amount)
    except InsufficientAllocation:
        left = ledger.balance(allocation_id).remaining
        raise refusals.not_enough(
            session, cluster=cluster, account=spec.account or "", need=amount, left=left,
            time_limit_s=spec.time_limit_s, requester_id=requester_id,
        ) from None  # fmt: skip
    log.info("allocation.hold", job_id=str(job_id), account=spec.account, core_seconds=amount.core_seconds,
             gpu_seconds=amount.gpu_seconds)  # fmt: skip
    return amount


def estimate(
    session: Session, ledger: Ledger, *, profile: ClusterProfile, spec: JobSpec, cluster: str, at: datetime
) -> Estimate:
    """What submitting ``spec`` now would hold and leave; writes nothing.

    A project without an allocation gets an estimate with no balance (``fits`` is False), so
    a dry run can say both what the job costs and why it would be refused.
    """
    amount = job_hold(profile, spec)
    found = (
        None if spec.account is None else allocations_repo.allocation_at(session, cluster, spec.account, at)
    )
    if found is None:
        return Estimate(account=spec.account, partition=spec.partition, hold=amount)
    balance: Balance = ledger.balance(found.id)
    before = balance.remaining
    return Estimate(
        account=spec.account,
        partition=spec.partition,
        hold=amount,
        allocation_id=found.id,
        remaining_before=before,
        remaining_after=before.minus_floor_zero(amount),
    )
