"""Settlement, a worker step: charge what finished jobs really used, release what they held.

Each run, for one cluster:

1. **Finished gateway jobs with an open hold** (a ``hold`` entry closed by neither a
   ``release`` nor a ``charge``): one ``accounting()`` call (sacct) for all of them; a job
   that ran is ``settle``d (charged its actual cost, which closes its hold); one that never
   ran is ``release``d.
2. **Vanished holds**: the hold of a job that never reached Slurm (refused at submit, or
   cancelled while submitting and not found by reconciliation) or whose job row is gone is
   released. A job still ``submitting`` keeps its hold: tracking resolves it first.
3. **The outside-jobs sweep** (at most every ``sweep_every_s``): one sacct call by account
   and time window; each ended Slurm job that is not the gateway's (its id is unknown and its
   comment is not the tag of one of our jobs) is charged once per Slurm job id.

Every ledger operation is idempotent per (job, kind) or (Slurm job id, kind), so a crash
anywhere, a retry, or two workers doing the same work never counts twice. Work is claimed
through a database lease per cluster (``settle:<cluster>``, ``sweep:<cluster>``), so several
workers and gateway instances on one database do not duplicate sacct calls either.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session, aliased

from myriagate.db.models.allocations import Allocation, EntryKind, LedgerEntry
from myriagate.db.models.jobs import Job
from myriagate.db.models.users import Project
from myriagate.db.repos import allocations as allocations_repo
from myriagate.db.repos import leases
from myriagate.domain.costs import Cost
from myriagate.domain.jobs import TAG_PREFIX, JobUsage
from myriagate.domain.states import FINAL_STATES, JobState
from myriagate.errors import BackendError
from myriagate.ports import AccountedJob, Clock, Ledger, SlurmBackendFactory
from myriagate.profiles.models import ClusterProfile
from myriagate.services import charging

log = structlog.get_logger(__name__)

# A job's hold is over once it has a release (never ran) or a charge (settled).
_CLOSING = (EntryKind.RELEASE, EntryKind.CHARGE)
BATCH = 500  # jobs per accounting call and per SQL IN list
DEFAULT_SWEEP_EVERY_S = 60.0
# How far back the sweep looks: overlapping windows are harmless (charges are once per id)
# and cover a worker that was down for a while.
DEFAULT_SWEEP_WINDOW_S = 2 * 86400.0


class SettlingLedger(Ledger, Protocol):
    """The Ledger port plus the charge of a job submitted outside the gateway."""

    def charge_outside(self, allocation_id: UUID, slurm_job_id: str, actual: Cost) -> object: ...


LedgerFactory = Callable[[Session], SettlingLedger]


@dataclass(frozen=True)
class SettleResult:
    settled: int = 0
    released: int = 0
    outside_charged: int = 0
    error: str | None = None

    @property
    def changed(self) -> int:
        return self.settled + self.released + self.outside_charged


def settle(
    session: Session,
    *,
    cluster: str,
    profile: ClusterProfile,
    backends: SlurmBackendFactory,
    ledger: LedgerFactory,
    clock: Clock,
    lease_s: float = 30.0,
    sweep_every_s: float = DEFAULT_SWEEP_EVERY_S,
    sweep_window_s: float = DEFAULT_SWEEP_WINDOW_S,
) -> SettleResult:
    """One settlement run for ``cluster``; commits its own work, job by job."""
    holder = f"settle:{uuid.uuid4().hex[:8]}"
    if not leases.acquire(
        session, f"settle:{cluster}", holder, now=clock.now(), ttl=timedelta(seconds=lease_s)
    ):
        return SettleResult()  # another worker is settling this cluster right now
    try:
        released = release_vanished(session, cluster=cluster, ledger=ledger)
        settled, never_ran = settle_finished(
            session, cluster=cluster, profile=profile, backends=backends, ledger=ledger
        )
        outside = 0
        # A lease nobody renews is a rate limit shared by every worker: one sweep per period.
        sweep_holder = f"sweep:{uuid.uuid4().hex[:8]}"
        ttl = timedelta(seconds=sweep_every_s)
        if leases.acquire(session, f"sweep:{cluster}", sweep_holder, now=clock.now(), ttl=ttl):
            now = clock.now()
            outside = sweep_outside(
                session, cluster=cluster, profile=profile, backends=backends, ledger=ledger,
                since=now - timedelta(seconds=sweep_window_s), until=now,
            )  # fmt: skip
    except BackendError as exc:
        session.rollback()
        log.warning("settlement.backend_error", cluster=cluster, error=exc.code, detail=exc.detail)
        return SettleResult(error=exc.code)
    except BaseException:
        # Whatever was half done is undone before the lease release below commits.
        session.rollback()
        raise
    finally:
        leases.release(session, f"settle:{cluster}", holder)
    result = SettleResult(settled=settled, released=released + never_ran, outside_charged=outside)
    if result.changed:
        log.info("settlement.run", cluster=cluster, **result.__dict__)
    return result


def _open_holds(cluster: str) -> sa.Select[Job, UUID]:
    """Gateway jobs of ``cluster`` with a hold that was neither settled nor released."""
    released = aliased(LedgerEntry)  # any entry closing the hold
    return (
        sa.select(Job, LedgerEntry.allocation_id)
        .join(LedgerEntry, sa.and_(LedgerEntry.job_id == Job.id, LedgerEntry.kind == EntryKind.HOLD))
        .where(Job.cluster == cluster)
        .where(~sa.exists().where(released.job_id == LedgerEntry.job_id, released.kind.in_(_CLOSING)))
    )


def release_vanished(session: Session, *, cluster: str, ledger: LedgerFactory) -> int:
    """Release the holds of jobs that ended without ever reaching Slurm, or whose row is gone."""
    gone = session.execute(
        _open_holds(cluster)
        .where(Job.state.in_(FINAL_STATES), Job.slurm_job_id.is_(None))
        # Cancelled while submitting: it may still reach Slurm until reconciliation says no.
        .where(sa.or_(Job.state != JobState.CANCELLED, Job.reconciled_at.is_not(None)))
        .limit(BATCH)
    ).all()
    job_ids = [job.id for job, _ in gone]
    job_ids += _orphan_holds(session, cluster)
    for job_id in job_ids:
        ledger(session).release(job_id=job_id)
        session.commit()
        log.info("allocation.release", job_id=str(job_id), why="never reached Slurm")
    return len(job_ids)


def _orphan_holds(session: Session, cluster: str) -> list[UUID]:
    """Open holds whose job row no longer exists, on allocations of this cluster's projects."""
    released = aliased(LedgerEntry)
    stmt = (
        sa.select(LedgerEntry.job_id)
        .join(Allocation, Allocation.id == LedgerEntry.allocation_id)
        .join(Project, Project.id == Allocation.project_id)
        .outerjoin(Job, Job.id == LedgerEntry.job_id)
        .where(LedgerEntry.kind == EntryKind.HOLD, Project.cluster == cluster, Job.id.is_(None))
        .where(~sa.exists().where(released.job_id == LedgerEntry.job_id, released.kind.in_(_CLOSING)))
        .limit(BATCH)
    )
    return [job_id for job_id in session.scalars(stmt) if job_id is not None]


def settle_finished(
    session: Session,
    *,
    cluster: str,
    profile: ClusterProfile,
    backends: SlurmBackendFactory,
    ledger: LedgerFactory,
) -> tuple[int, int]:
    """Settle finished jobs from one sacct call; returns (settled, released as never run)."""
    rows = session.execute(
        _open_holds(cluster).where(Job.state.in_(FINAL_STATES), Job.slurm_job_id.is_not(None)).limit(BATCH)
    ).all()
    jobs = {job.slurm_job_id: job for job, _ in rows if job.slurm_job_id is not None}
    if not jobs:
        return 0, 0
    usage = backends.for_service().accounting(list(jobs))
    book = ledger(session)
    settled = never_ran = 0
    for slurm_job_id, job in jobs.items():
        used = usage.get(slurm_job_id)
        if used is None or used.state is None or not used.state.is_final:
            # Accounting lags behind the controller (or lost the record): try next time.
            log.info("settlement.not_in_accounting", job_id=str(job.id), slurm_job_id=slurm_job_id)
            continue
        if _never_ran(used):
            book.release(job_id=job.id)
            never_ran += 1
            log.info("allocation.release", job_id=str(job.id), why="never ran")
        else:
            actual = charging.actual_on(profile, used, job.partition)
            book.settle(job_id=job.id, actual=actual)
            settled += 1
            log.info("allocation.settle", job_id=str(job.id), slurm_job_id=slurm_job_id,
                     core_seconds=actual.core_seconds, gpu_seconds=actual.gpu_seconds)  # fmt: skip
        session.commit()
    return settled, never_ran


def _never_ran(usage: JobUsage) -> bool:
    return usage.elapsed_s == 0 or usage.alloc_cpus == 0


def sweep_outside(
    session: Session,
    *,
    cluster: str,
    profile: ClusterProfile,
    backends: SlurmBackendFactory,
    ledger: LedgerFactory,
    since: datetime,
    until: datetime,
) -> int:
    """Charge the jobs of the cluster's project accounts that the gateway did not submit."""
    accounts = sorted(session.scalars(sa.select(Project.slurm_account).where(Project.cluster == cluster)))
    if not accounts:
        return 0
    found = backends.for_service().accounting_by_accounts(accounts, since, until)
    outside = _not_ours(session, cluster, found)
    already = _charged_outside(session, cluster, [a.usage.slurm_job_id for a in outside])
    charged = 0
    for item in outside:
        used = item.usage
        if used.slurm_job_id in already or used.account is None or _never_ran(used):
            continue
        at = used.started_at or used.ended_at or until
        allocation = allocations_repo.allocation_at(session, cluster, used.account, at)
        if allocation is None:
            log.warning(
                "settlement.outside_no_allocation", slurm_job_id=used.slurm_job_id, account=used.account
            )
            continue
        actual = charging.actual_on(profile, used, None)
        ledger(session).charge_outside(allocation.id, used.slurm_job_id, actual)
        session.commit()
        charged += 1
        log.info("allocation.charge_outside", slurm_job_id=used.slurm_job_id, account=used.account,
                 user=used.user, core_seconds=actual.core_seconds)  # fmt: skip
    return charged


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]


def _not_ours(session: Session, cluster: str, found: list[AccountedJob]) -> list[AccountedJob]:
    """The jobs the gateway did not submit: neither their id nor their tag is one of ours.

    The tag counts as well as the id because a job whose sbatch reply was lost is in Slurm
    before the gateway knows its id; a tag copied onto another job does not count, since the
    tagged gateway job then has a different id.
    """
    parents = sorted({a.usage.slurm_job_id.split("_", 1)[0] for a in found})
    ours: set[str] = set()
    for chunk in _chunks(parents):
        ours.update(
            str(i)
            for i in session.scalars(
                sa.select(Job.slurm_job_id).where(Job.cluster == cluster, Job.slurm_job_id.in_(chunk))
            )
        )
    tags = sorted({a.comment for a in found if a.comment and a.comment.startswith(TAG_PREFIX)})
    tag_ids: dict[str, str | None] = {}
    for chunk in _chunks(tags):
        for tag, slurm_job_id in session.execute(
            sa.select(Job.tag, Job.slurm_job_id).where(Job.cluster == cluster, Job.tag.in_(chunk))
        ):
            tag_ids[tag] = slurm_job_id
    out = []
    for item in found:
        parent = item.usage.slurm_job_id.split("_", 1)[0]
        if parent in ours:
            continue
        if item.comment in tag_ids and tag_ids[item.comment] in (None, parent):
            continue
        out.append(item)
    return out


def _charged_outside(session: Session, cluster: str, slurm_job_ids: list[str]) -> set[str]:
    """Which of these Slurm jobs of ``cluster`` the sweep charged already (skip the no-op)."""
    charged: set[str] = set()
    for chunk in _chunks(sorted(set(slurm_job_ids))):
        stmt = (
            sa.select(LedgerEntry.slurm_job_id)
            .join(Allocation, Allocation.id == LedgerEntry.allocation_id)
            .join(Project, Project.id == Allocation.project_id)
            .where(Project.cluster == cluster, LedgerEntry.kind == EntryKind.CHARGE)
            .where(LedgerEntry.slurm_job_id.in_(chunk))
        )
        charged.update(str(i) for i in session.scalars(stmt))
    return charged
