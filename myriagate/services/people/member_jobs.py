"""A project member's jobs still queued or running in that project, as removing them shows.

Removing a member stops nothing: their jobs already in Slurm run on, charged to the project,
and Slurm keeps their association until they end (docs/allocations.md, "Members"). So the
removal says which jobs those are, with ids the reader can type elsewhere (``jobs cancel``).
Only jobs the gateway knows are listed: one started from the cluster's shell is not.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.domain.states import JobState
from myriagate.errors import MemberHasActiveJobs, Number, Text
from myriagate.services.jobs.lookup import short_ids

# Not yet running: the job waits for its inputs, for sbatch, or in Slurm's queue.
QUEUED_STATES = frozenset({JobState.STAGING_IN, JobState.SUBMITTING, JobState.PENDING})
# Holding (or about to hold) nodes, charged while they do. A job copying its results back
# (staging_out) has left Slurm already: it costs nothing more and is not listed.
RUNNING_STATES = frozenset({JobState.RUNNING, JobState.SUSPENDED})
ACTIVE_STATES = QUEUED_STATES | RUNNING_STATES
MAX_LISTED = 200  # jobs named in one answer; the counts are always whole


@dataclass(frozen=True)
class ActiveJob:
    """One queued or running job: ``short_id`` names it for the reader (``jobs show/cancel``)."""

    job_id: uuid.UUID
    short_id: str
    slurm_job_id: str | None
    job_name: str | None
    state: JobState
    submitted_at: datetime | None

    @property
    def queued(self) -> bool:
        return self.state in QUEUED_STATES


def active_jobs(
    session: Session, actor: User, user_ids: list[uuid.UUID], *, cluster: str, slurm_account: str
) -> dict[uuid.UUID, list[ActiveJob]]:
    """Each user's jobs queued or running in the project (cluster, slurm_account), oldest first.

    The short ids are those ``actor`` can type: unique among the jobs ``actor`` may see.
    """
    if not user_ids:
        return {}
    stmt = (
        sa.select(Job.id, Job.user_id, Job.slurm_job_id, Job.job_name, Job.state, Job.submitted_at)
        .where(
            Job.user_id.in_(user_ids),
            Job.cluster == cluster,
            Job.slurm_account == slurm_account,
            Job.state.in_(sorted(ACTIVE_STATES)),
        )
        .order_by(Job.created_at, Job.id)
    )
    rows = list(session.execute(stmt))
    names = short_ids(session, user=actor, job_ids=[row.id for row in rows])
    found: dict[uuid.UUID, list[ActiveJob]] = {}
    for row in rows:
        job = ActiveJob(row.id, names.get(row.id, row.id.hex[:8]), row.slurm_job_id, row.job_name,
                        row.state, row.submitted_at)  # fmt: skip
        found.setdefault(row.user_id, []).append(job)
    return found


def job_summary(job: ActiveJob) -> dict[str, object]:
    """A job as a problem's ``jobs`` member and the audit detail carry it."""
    return {
        "id": str(job.job_id),
        "short_id": job.short_id,
        "slurm_job_id": job.slurm_job_id,
        "name": job.job_name,
        "state": job.state.value,
        "submitted_at": job.submitted_at.isoformat() if job.submitted_at else None,
    }


def refusal(username: str, slurm_account: str, jobs: list[ActiveJob]) -> MemberHasActiveJobs:
    """The 409 an unconfirmed removal of a member with ``jobs`` answers (jobs listed in it)."""
    queued = sum(1 for j in jobs if j.queued)
    detail = Text(
        "%(username)s has %(queued)s job(s) queued and %(running)s running in %(account)s: they keep "
        "running and are charged to the project unless cancelled; confirm to remove the member anyway",
        username=username,
        queued=Number(queued),
        running=Number(len(jobs) - queued),
        account=slurm_account,
    )
    return MemberHasActiveJobs(detail, jobs=[job_summary(j) for j in jobs[:MAX_LISTED]])
