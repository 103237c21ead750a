"""Moving a job between states with its history row: the one place that writes ``Job.state``."""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy.orm import Session

from myriagate.db.models.jobs import Job
from myriagate.db.repos import jobs as jobs_repo
from myriagate.domain.states import JobState, advance
from myriagate.services.notifications import outbox

log = structlog.get_logger(__name__)


def move(
    session: Session,
    job: Job,
    observed: JobState,
    *,
    at: datetime,
    slurm_state: str | None = None,
    reason: str | None = None,
    force: bool = False,
) -> bool:
    """Move ``job`` towards ``observed`` (never backwards, unless ``force``); True if it moved.

    A job with outputs to stage (``job.stage_out``) that Slurm reports completed moves to
    ``staging_out`` instead; clear the flag first to complete it.

    ``force`` is for the gateway's own decisions (a rejected submission fails a job that was
    ``submitting``), which are forward moves anyway; it never leaves a final state.
    """
    current = job.state
    if observed is JobState.COMPLETED and job.stage_out:
        # Its results still have to reach storage: services.staging.step completes it after that.
        observed = JobState.STAGING_OUT
    target = observed if force and not current.is_final else advance(current, observed)
    if target == current:
        return False
    job.state = target
    job.updated_at = at
    record_move(session, job, current, target, at=at, slurm_state=slurm_state, reason=reason)
    return True


def record_move(
    session: Session,
    job: Job,
    current: JobState,
    target: JobState,
    *,
    at: datetime,
    slurm_state: str | None = None,
    reason: str | None = None,
) -> None:
    """What follows a move of ``job`` from ``current`` to ``target`` already written to it:
    the history row, the queued notification and the log line."""
    jobs_repo.add_state_change(
        session, job, from_state=current, to_state=target, at=at, slurm_state=slurm_state, reason=reason
    )
    announce_move(session, job, current, target, at=at, slurm_state=slurm_state)


def announce_move(
    session: Session, job: Job, current: JobState, target: JobState, *, at: datetime, slurm_state: str | None
) -> None:
    """The queued notification and the log line of a move whose history row is written
    (``record_move`` without the row: ``jobs_repo.mark_submitted`` writes its own)."""
    outbox.job_state_changed(session, job, current, target, at=at)  # queued in this transaction
    log.info(
        "job.state_changed",
        job_id=str(job.id),
        slurm_job_id=job.slurm_job_id,
        from_state=current.value,
        to_state=target.value,
        slurm_state=slurm_state,
    )


def record_submitted(session: Session, job: Job, slurm_job_id: str, *, at: datetime) -> None:
    """Slurm accepted the job as ``slurm_job_id``: keep the id and move it to ``pending``."""
    job.slurm_job_id = slurm_job_id
    # Every job sbatch accepts starts PENDING in Slurm too; tracking takes it from there.
    job.slurm_state = job.slurm_state or "PENDING"
    job.submitted_at = job.submitted_at or at
    job.reason = None
    job.updated_at = at
    move(session, job, JobState.PENDING, at=at, slurm_state="PENDING")
