"""Cancelling a job on behalf of its owner.

Decision: once ``scancel`` has been sent, the job's state is *not* set to ``cancelled`` here.
The request is recorded (``cancel_requested_at``, an audit event) and tracking confirms the
state from Slurm at its next tick, because a job may finish on its own in between and its
recorded end must be what really happened. The one exception is a job Slurm does not know
yet (``submitting`` without an id): it is cancelled here at once, and the reconciliation
cancels it in Slurm should its tag turn up.
"""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy.orm import Session

from myriagate.clock import SystemClock
from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.db.repos import jobs as jobs_repo
from myriagate.db.session import release_connection
from myriagate.domain.states import JobState
from myriagate.errors import JobNotCancellable, NotFound, Text
from myriagate.ports import Clock, SlurmBackendFactory
from myriagate.services.common import audit, authz
from myriagate.services.jobs import transitions

log = structlog.get_logger(__name__)


def cancel_job(
    session: Session,
    *,
    job_id: uuid.UUID,
    user: User,
    backends: SlurmBackendFactory,
    clock: Clock | None = None,
    source: str = "api",
) -> Job:
    """Ask Slurm to cancel ``job_id``; idempotent. Returns the job as it stands afterwards.

    A job the user may not see answers NotFound, exactly like a job that does not exist; one
    they may see but not act on (a university admin's) PermissionDenied. A job that already
    ended otherwise than cancelled raises JobNotCancellable. The cancel runs as the job's own
    cluster login, also when its project lead asks: the gateway has checked the right here.
    """
    clock = clock or SystemClock()
    job = jobs_repo.get_visible(session, job_id, user)
    if job is None:
        raise NotFound(Text("no job %(job)s", job=job_id))
    authz.require_act_on_job(user, job)
    if job.state is JobState.CANCELLED:
        return job
    if job.state.is_final:
        raise JobNotCancellable(
            Text("job %(job)s already ended (%(state)s)", job=job_id, state=job.state.value)
        )
    if job.state is JobState.STAGING_OUT:
        raise JobNotCancellable(
            Text("job %(job)s has ended; its results are being copied to storage", job=job_id)
        )

    now = clock.now()
    if job.slurm_job_id is None:
        job.cancel_requested_at = job.cancel_requested_at or now
        job.cancelled_by = user.username
        reason = Text("cancelled before Slurm got it")
        transitions.move(session, job, JobState.CANCELLED, at=now, reason=reason)
        audit.record(session, user.id, "job.cancel", ("job", job.id), {"slurm_job_id": None}, source, at=now)
        session.commit()
        log.info("job.cancelled", job_id=str(job.id), slurm_job_id=None, before_slurm=True)
        return job

    # Slurm errors propagate (nothing recorded): the user sees the cancel did not happen.
    release_connection(session)  # not held through the SSH call
    backends.for_login(job.cluster_login).cancel(job.slurm_job_id)
    job.cancel_requested_at = job.cancel_requested_at or now
    # Who asked, said once it is cancelled ("cancelled by carol"): Slurm only sees the owner's
    # login, which runs the scancel even for their project lead (services.jobs.tracking).
    job.cancelled_by = user.username
    job.updated_at = now
    audit.record(
        session, user.id, "job.cancel", ("job", job.id), {"slurm_job_id": job.slurm_job_id}, source, at=now
    )
    session.commit()
    log.info("job.cancel_sent", job_id=str(job.id), slurm_job_id=job.slurm_job_id)
    return job
