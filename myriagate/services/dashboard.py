"""What a researcher's pages show beyond the API's own views: their projects' balances, what a
job held and was charged, the notices of the dashboard, and the gateway's queue depth.

Read-only; callers have already checked that the user may see the job (``jobs_query``).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.allocations import EntryKind, LedgerEntry
from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.domain.costs import Cost
from myriagate.domain.states import FINAL_STATES, JobState
from myriagate.ports import LedgerFactory
from myriagate.services.allocations import grants as allocations
from myriagate.services.jobs.queries import JobRecord, JobView

# A project with less than this share of its grant left gets a "running low" notice.
LOW_BALANCE_SHARE = 0.10
RECENT_NOTICE_WINDOW = timedelta(days=2)


def my_balances(
    session: Session, user: User, *, at: datetime, ledger: LedgerFactory
) -> list[allocations.ProjectBalance]:
    """The current balances of the projects ``user`` is a member of (not all an admin may see)."""
    mine = {(m.cluster, m.slurm_account) for m in user.memberships}
    rows = allocations.balances(session, user, ledger=ledger, at=at)
    return [b for b in rows if (b.cluster, b.slurm_account) in mine]


@dataclass(frozen=True)
class JobCharges:
    """What a job's ledger entries say: the hold taken at submit, released and charged since."""

    held: Cost
    released: Cost
    charged: Cost

    @property
    def has_entries(self) -> bool:
        return not (self.held.is_zero and self.released.is_zero and self.charged.is_zero)


def job_charges(session: Session, job_id: uuid.UUID) -> JobCharges:
    rows = session.execute(
        sa.select(
            LedgerEntry.kind, sa.func.sum(LedgerEntry.core_seconds), sa.func.sum(LedgerEntry.gpu_seconds)
        )
        .where(LedgerEntry.job_id == job_id)
        .group_by(LedgerEntry.kind)
    ).all()
    totals = {kind: Cost(int(core or 0), int(gpu or 0)) for kind, core, gpu in rows}
    zero = Cost(0, 0)
    return JobCharges(
        held=totals.get(EntryKind.HOLD, zero),
        released=totals.get(EntryKind.RELEASE, zero),
        charged=totals.get(EntryKind.CHARGE, zero),
    )


JobNoticeKind = Literal["job_finished", "job_failed", "job_cancelled"]


@dataclass(frozen=True)
class Notice:
    """One line of the dashboard: a job that ended, or a project running low.

    A job notice stands for every recent run of the same name that ended the same way
    (``repeats`` of them, ``job_ids`` newest first): running a job again does not add a line.
    """

    kind: Literal["job_finished", "job_failed", "job_cancelled", "quota_low", "quota_exhausted"]
    subject: str  # job name or id, or the project's account
    job_id: uuid.UUID | None = None
    at: datetime | None = None
    share_left: float | None = None
    state: JobState | None = None
    job_ids: tuple[uuid.UUID, ...] = ()

    @property
    def repeats(self) -> int:
        return len(self.job_ids)


@dataclass(frozen=True)
class Notices:
    """The dashboard's notices: projects low on hours first, then ended jobs newest first, at
    most ``MAX_JOB_NOTICES`` of them (``more`` says how many were left out)."""

    items: list[Notice]
    more: int = 0
    job_ids: tuple[uuid.UUID, ...] = ()  # every job behind a job notice, shown or left out

    def __iter__(self) -> Iterator[Notice]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


MAX_JOB_NOTICES = 5


def _job_kind(state: JobState) -> JobNoticeKind:
    if state is JobState.COMPLETED:
        return "job_finished"
    return "job_cancelled" if state is JobState.CANCELLED else "job_failed"


def job_notices(
    jobs: Iterable[JobView], *, now: datetime, dismissed: Collection[uuid.UUID] = ()
) -> list[Notice]:
    """Jobs that ended in the last two days and were not dismissed, newest first, one notice per
    job name and outcome (the newest run; the older ones counted in ``job_ids``)."""
    ended = [
        v.job
        for v in jobs
        if v.job.state in FINAL_STATES
        and v.job.ended_at is not None
        and now - v.job.ended_at <= RECENT_NOTICE_WINDOW
        and v.job.id not in dismissed
    ]
    groups: dict[tuple[str, JobNoticeKind], list[JobRecord]] = {}
    for job in sorted(ended, key=lambda j: (j.ended_at or now, j.created_at), reverse=True):
        groups.setdefault((job.job_name or str(job.id), _job_kind(job.state)), []).append(job)
    return [
        Notice(
            kind,
            subject,
            job_id=runs[0].id,
            at=runs[0].ended_at,
            state=runs[0].state,
            job_ids=tuple(j.id for j in runs),
        )
        for (subject, kind), runs in groups.items()
    ]


def notices(
    jobs: Iterable[JobView],
    balances: Sequence[allocations.ProjectBalance],
    *,
    now: datetime,
    dismissed: Collection[uuid.UUID] = (),
) -> Notices:
    """Projects low on hours, then the jobs of the user that ended recently (``job_notices``)."""
    found: list[Notice] = []
    for pb in balances:
        granted = pb.balance.granted.core_seconds
        if granted <= 0:
            continue
        share = pb.balance.remaining.core_seconds / granted
        if share <= 0:
            found.append(Notice("quota_exhausted", pb.slurm_account, share_left=0.0))
        elif share < LOW_BALANCE_SHARE:
            found.append(Notice("quota_low", pb.slurm_account, share_left=share))
    ended = job_notices(jobs, now=now, dismissed=dismissed)
    every = tuple(i for n in ended for i in n.job_ids)
    return Notices(found + ended[:MAX_JOB_NOTICES], more=max(0, len(ended) - MAX_JOB_NOTICES), job_ids=every)


@dataclass(frozen=True)
class QueueDepth:
    cluster: str
    partition: str
    pending: int
    running: int


def queue_depth(session: Session) -> list[QueueDepth]:
    """Gateway jobs waiting and running, per cluster and partition."""
    rows = session.execute(
        sa.select(Job.cluster, Job.partition, Job.state, sa.func.count())
        .where(Job.state.in_((JobState.PENDING, JobState.RUNNING, JobState.SUBMITTING)))
        .group_by(Job.cluster, Job.partition, Job.state)
    ).all()
    depth: dict[tuple[str, str], list[int]] = {}
    for cluster, partition, state, count in rows:
        counts = depth.setdefault((cluster, partition or "—"), [0, 0])
        counts[1 if state is JobState.RUNNING else 0] += int(count)
    return [QueueDepth(c, p, pending, running) for (c, p), (pending, running) in sorted(depth.items())]
