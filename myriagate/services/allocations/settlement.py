"""Settlement, a worker step: charge what finished jobs really used, release what they held.

Each run, for one cluster:

1. **Vanished holds**: the hold of a job that never reached Slurm (refused at submit, or
   cancelled while submitting and not found by reconciliation) or whose job row is gone is
   released, all in one transaction. A job still ``submitting`` keeps its hold: tracking
   resolves it first.
2. **Finished gateway jobs with an open hold** (a ``hold`` entry closed by neither a
   ``release`` nor a ``charge``), read once per run (ids only, no ORM objects), then in
   chunks of ``BATCH``: one ``accounting()`` call (sacct) for the chunk, outside any
   transaction; then one ``close_many`` (charge the jobs that ran, every run of a requeued
   job and every array task; release those that never ran) and one commit. A crash before
   that commit leaves the chunk as it was; after it, the chunk is done.
3. **The outside-jobs sweep** (at most every ``sweep_every_s``): one sacct call by account
   and time window, reading no free-text field; each ended Slurm job that is not the
   gateway's (its id is unknown and its comment, asked separately by job id, is not the tag of
   one of our jobs) is charged once per Slurm job id. A charge above
   ``outside_confirm_core_seconds`` is made only when a second, narrow sacct (these ids, that
   account) reports the same job with the same cost (docs/slurm.md).

Every ledger operation is idempotent per (job, kind) or (Slurm job id, kind), so a crash
anywhere, a retry, or two workers doing the same work never counts twice. Work is claimed
through a database lease per cluster (``settle:<cluster>``, ``sweep:<cluster>``), so several
workers and gateway instances on one database do not duplicate sacct calls either.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVarTuple
from uuid import UUID

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session, aliased

from myriagate.db.models.allocations import Allocation, EntryKind, LedgerEntry
from myriagate.db.models.jobs import Job
from myriagate.db.models.users import Project
from myriagate.db.settlement import Hold, SettleItem
from myriagate.domain.jobs import JobUsage
from myriagate.domain.states import FINAL_STATES, JobState
from myriagate.errors import BackendError
from myriagate.ports import Clock, SlurmBackend, SlurmBackendFactory
from myriagate.profiles.models import ClusterProfile
from myriagate.services.allocations import charging
from myriagate.services.allocations.outside_charges import (
    DEFAULT_OUTSIDE_CONFIRM_CORE_SECONDS,
    never_ran,
    sweep_outside,
)
from myriagate.services.allocations.settling_ledger import LedgerFactory, SettlingLedger
from myriagate.services.common.leases import Lease, holder_id

__all__ = [
    "DEFAULT_OUTSIDE_CONFIRM_CORE_SECONDS",
    "LedgerFactory",
    "SettleResult",
    "SettlingLedger",
    "release_vanished",
    "settle",
    "settle_finished",
    "sweep_outside",
]

log = structlog.get_logger(__name__)

# A job's hold is over once it has a release (never ran) or a charge (settled).
_CLOSING = (EntryKind.RELEASE, EntryKind.CHARGE)
_Columns = TypeVarTuple("_Columns")
# A finished job with an open hold: id, Slurm id, partition, then the hold (allocation, amounts).
_Finished = sa.Row[UUID, str | None, str | None, UUID, int, int]
BATCH = 2000  # jobs per accounting call (sacct --jobs=…, ~16 kB of ids) and per transaction
MAX_PER_RUN = 50_000  # finished jobs settled per run at most; the next run goes on
DEFAULT_SWEEP_EVERY_S = 60.0
# How far back the sweep looks: overlapping windows are harmless (charges are once per id)
# and cover a worker that was down for a while.
DEFAULT_SWEEP_WINDOW_S = 2 * 86400.0


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
    outside_confirm_core_seconds: int = DEFAULT_OUTSIDE_CONFIRM_CORE_SECONDS,
) -> SettleResult:
    """One settlement run for ``cluster``; commits its own work, chunk by chunk."""
    lease = Lease.named(f"settle:{cluster}", holder=holder_id(), ttl_s=lease_s, clock=clock)
    if not lease.acquire(session):
        return SettleResult()  # another worker is settling this cluster right now
    keep_lease = _lease_keeper(lease, session, clock)
    try:
        # A lease nobody renews is a rate limit shared by every worker: one sweep per period.
        # The searches that scan the whole ledger (orphan holds, outside jobs) go at that pace.
        sweep = Lease.named(f"sweep:{cluster}", holder=holder_id(), ttl_s=sweep_every_s, clock=clock)
        sweep_now = sweep.acquire(session)
        released = release_vanished(session, cluster=cluster, ledger=ledger, orphans=sweep_now)
        settled, never_ran = settle_finished(
            session, cluster=cluster, profile=profile, backends=backends, ledger=ledger, keep_lease=keep_lease
        )
        outside = 0
        if sweep_now:
            now = clock.now()
            outside = sweep_outside(
                session, cluster=cluster, profile=profile, backends=backends, ledger=ledger,
                since=now - timedelta(seconds=sweep_window_s), until=now,
                confirm_above=outside_confirm_core_seconds,
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
        lease.release(session)
    result = SettleResult(settled=settled, released=released + never_ran, outside_charged=outside)
    if result.changed:
        log.info("settlement.run", cluster=cluster, **result.__dict__)
    return result


def _lease_keeper(lease: Lease, session: Session, clock: Clock) -> Callable[[], bool]:
    """Whether the run still holds ``lease``, asked between chunks: renewed once a third of it
    has passed, so a long run keeps its claim and a run that lost it (it stalled past the
    lease) stops."""
    renewed = [clock.now()]

    def keep_lease() -> bool:
        if clock.now() - renewed[0] < lease.ttl / 3:
            return True
        renewed[0] = clock.now()
        return lease.acquire(session)

    return keep_lease


def _open_holds(select: sa.Select[*_Columns], cluster: str) -> sa.Select[*_Columns]:
    """``select`` of the gateway jobs of ``cluster`` whose hold was neither settled nor released."""
    released = aliased(LedgerEntry)  # any entry closing the hold
    return (
        select.select_from(Job)
        .join(LedgerEntry, sa.and_(LedgerEntry.job_id == Job.id, LedgerEntry.kind == EntryKind.HOLD))
        .where(Job.cluster == cluster)
        .where(~sa.exists().where(released.job_id == LedgerEntry.job_id, released.kind.in_(_CLOSING)))
    )


def release_vanished(session: Session, *, cluster: str, ledger: LedgerFactory, orphans: bool = True) -> int:
    """Release the holds of jobs that ended without ever reaching Slurm, and (``orphans``)
    of jobs whose row is gone, which takes a scan of the open holds."""
    gone = session.execute(
        _open_holds(sa.select(Job.id), cluster)
        .where(Job.state.in_(FINAL_STATES), Job.slurm_job_id.is_(None))
        # Cancelled while submitting: it may still reach Slurm until reconciliation says no.
        .where(sa.or_(Job.state != JobState.CANCELLED, Job.reconciled_at.is_not(None)))
        .limit(BATCH)
    ).all()
    job_ids = [job_id for (job_id,) in gone]
    if orphans:
        job_ids += _orphan_holds(session, cluster)
    if not job_ids:
        session.commit()  # end the read transaction
        return 0
    released = ledger(session).release_many(job_ids)
    session.commit()
    if released:
        log.info("allocation.release", jobs=released, why="never reached Slurm")
    return released


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
    keep_lease: Callable[[], bool] | None = None,
) -> tuple[int, int]:
    """Settle finished jobs, ``BATCH`` per sacct call and per transaction; returns (settled,
    released as never run). Reads plain rows (id, Slurm id, partition), never Job objects."""
    job = (Job.id, Job.slurm_job_id, Job.partition)
    hold = (LedgerEntry.allocation_id, LedgerEntry.core_seconds, LedgerEntry.gpu_seconds)
    finished = session.execute(
        _open_holds(sa.select(*job, *hold), cluster)
        .where(Job.state.in_(FINAL_STATES), Job.slurm_job_id.is_not(None))
        .limit(MAX_PER_RUN)
    ).all()
    session.commit()  # no transaction stays open while sacct runs
    backend = backends.for_service()
    with _collector_paused():
        return _settle_chunks(session, cluster, profile, backend, ledger, finished, keep_lease)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for one bounded settlement run.

    A run allocates hundreds of thousands of short-lived, acyclic objects (parsed sacct
    fields, rows, ledger values); the collector's generation scans over them cost about a
    third of the run and free nothing reference counting has not freed already. It is
    resumed at the end, whatever happens.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _settle_chunks(
    session: Session,
    cluster: str,
    profile: ClusterProfile,
    backend: SlurmBackend,
    ledger: LedgerFactory,
    finished: Sequence[_Finished],
    keep_lease: Callable[[], bool] | None,
) -> tuple[int, int]:
    settled = never_ran = 0
    for start in range(0, len(finished), BATCH):
        if start and keep_lease is not None and not keep_lease():
            log.info("settlement.lease_lost", cluster=cluster, left=len(finished) - start)
            break
        rows = finished[start : start + BATCH]
        # Every Slurm id is set (the query asks for it); the test only tells the type checker.
        chunk = {sid: (job_id, partition) for job_id, sid, partition, *_ in rows if sid is not None}
        holds = {row[0]: Hold(row[3], row[4], row[5]) for row in rows}
        usage = backend.accounting(list(chunk))
        charge, release = _plan(profile, chunk, usage)
        closed = ledger(session).close_many(charge, release=release, holds=holds)
        session.commit()
        settled += closed.settled
        never_ran += closed.released
        log.info("settlement.chunk", cluster=cluster, jobs=len(chunk), settled=closed.settled,
                 released=closed.released, waiting=len(chunk) - len(charge) - len(release))  # fmt: skip
    return settled, never_ran


def _plan(
    profile: ClusterProfile, jobs: dict[str, tuple[UUID, str | None]], usage: dict[str, JobUsage]
) -> tuple[list[SettleItem], list[UUID]]:
    """What to charge and what to release, from sacct's answer (pure, no I/O)."""
    charge: list[SettleItem] = []
    release: list[UUID] = []
    prices: dict[str | None, charging.Pricing] = {}
    for slurm_job_id, (job_id, partition) in jobs.items():
        used = usage.get(slurm_job_id)
        if used is None or used.state is None or not used.state.is_final:
            # Accounting lags behind the controller (or lost the record), or a requeued job
            # waits to run again: try next time.
            continue
        if never_ran(used):
            release.append(job_id)
            continue
        if partition not in prices:
            prices[partition] = charging.pricing_on(profile, used, partition)
        done = charging.charge_of(used, prices[partition])
        charge.append(SettleItem(job_id, done.cost, done.reason))
    return charge, release
