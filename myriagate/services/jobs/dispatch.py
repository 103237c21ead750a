"""Sending a committed job to Slurm: run sbatch, then record exactly what happened.

The job row is already committed in state ``submitting`` (``services.submission.submit`` or the
staging step wrote it). ``send`` runs sbatch once; a rejection fails the job, an unavailable
cluster leaves it for the worker, and an unknown outcome is settled by one tag lookup, never
by a second sbatch.
"""

from __future__ import annotations

import structlog
from sqlalchemy.orm import Session

from myriagate.db.models.jobs import Job
from myriagate.db.repos import jobs as jobs_repo
from myriagate.domain.job_explanations import NO_ASSOCIATION
from myriagate.domain.jobs import RenderedScript
from myriagate.domain.outputs import resolve_work_dir
from myriagate.domain.states import JobState
from myriagate.errors import BackendError, SchedulerRejected, SchedulerUnavailable, SubmissionUncertain, Text
from myriagate.ports import Clock, SlurmBackend, SlurmBackendFactory
from myriagate.services.common import audit
from myriagate.services.jobs import transitions

log = structlog.get_logger(__name__)

REASON_UNAVAILABLE = "cluster unavailable, will retry"
REASON_UNCERTAIN = "submission outcome unknown, being checked"


def send(
    session: Session,
    job: Job,
    script: RenderedScript,
    *,
    backends: SlurmBackendFactory,
    clock: Clock,
    actor: audit.Actor,
    source: str,
) -> Job:
    """Run sbatch for a job committed in ``submitting`` and record the outcome (see submit_job)."""
    # Lines logged below us (runner, Slurm backend, work dir) name the job too.
    with structlog.contextvars.bound_contextvars(job_id=str(job.id)):
        return _send(session, job, script, backends=backends, clock=clock, actor=actor, source=source)


def _send(
    session: Session,
    job: Job,
    script: RenderedScript,
    *,
    backends: SlurmBackendFactory,
    clock: Clock,
    actor: audit.Actor,
    source: str,
) -> Job:
    backend = backends.for_login(job.cluster_login)
    try:
        slurm_job_id = backend.submit(script, tag=job.tag)
    except SchedulerRejected as exc:
        job.reason = exc.detail
        transitions.move(session, job, JobState.FAILED, at=clock.now(), reason=exc.detail, force=True)
        audit.record(session, actor, "job.submit_rejected", ("job", job.id), {"detail": exc.detail},
                     source, at=clock.now())  # fmt: skip
        session.commit()
        log.warning("job.rejected", job_id=str(job.id), detail=exc.detail)
        if NO_ASSOCIATION in exc.detail:
            raise SchedulerRejected(_no_association(job, exc.detail)) from exc
        raise
    except SubmissionUncertain as exc:
        log.warning("job.submit_uncertain", job_id=str(job.id), detail=exc.detail)
        return _look_up_after_uncertain_submit(session, job, backends, clock)
    except SchedulerUnavailable as exc:
        _leave_submitting(session, job, REASON_UNAVAILABLE, clock)
        log.warning("job.submit_unavailable", job_id=str(job.id), detail=exc.detail)
        return job
    except BackendError as exc:
        # Any other failure after sbatch may have run: the outcome is unknown, check the tag.
        log.warning("job.submit_error", job_id=str(job.id), detail=exc.detail)
        return _look_up_after_uncertain_submit(session, job, backends, clock)

    _record_success(session, job, slurm_job_id, backends, clock)
    return job


def _no_association(job: Job, slurm_said: str) -> Text:
    """sbatch's 'Invalid account' said with its likely cause (a member added since the last
    ``admin slurm-sync``) and what to do, Slurm's own words kept."""
    return Text(
        "Slurm refused the job: login %(login)s is not a user of account %(account)s on Slurm yet; a "
        "member just added can submit once the project's admins have brought Slurm's accounts up to "
        "date (myriagate admin slurm-sync). Slurm said: %(slurm)s",
        login=job.cluster_login, account=job.slurm_account or "", slurm=slurm_said,
    )  # fmt: skip


def _record_success(
    session: Session, job: Job, slurm_job_id: str, backends: SlurmBackendFactory, clock: Clock
) -> None:
    work_dir = job.work_dir
    if work_dir is None or not work_dir.startswith("/"):
        # Over SSH (once per login and process): asked before the transaction below, so no
        # pooled connection waits on it.
        work_dir = known_work_dir(backends.for_login(job.cluster_login), work_dir)
    at = clock.now()
    # The owner may have cancelled while sbatch ran (another request): the row is read back
    # as it is written, so that request is seen and honoured below.
    if jobs_repo.mark_submitted(session, job.id, slurm_job_id, at=at, work_dir=work_dir) is not None:
        # Its history row is written with it.
        transitions.announce_move(
            session, job, JobState.SUBMITTING, JobState.PENDING, at=at, slurm_state="PENDING"
        )
    else:
        # No longer submitting (the worker found it by its tag meanwhile): the general rules.
        session.refresh(job)
        transitions.record_submitted(session, job, slurm_job_id, at=at)
        if job.work_dir is None or not job.work_dir.startswith("/"):
            job.work_dir = work_dir
    session.commit()
    log.info("job.submitted", job_id=str(job.id), slurm_job_id=slurm_job_id)
    if job.cancel_requested_at is not None:
        backends.for_login(job.cluster_login).cancel(slurm_job_id)
        log.info(
            "job.cancel_sent", job_id=str(job.id), slurm_job_id=slurm_job_id, why="cancelled while submitting"
        )


def known_work_dir(backend: SlurmBackend, chdir: str | None) -> str | None:
    """The job's absolute working directory, or None while the cluster cannot say.

    Recorded at submission because Slurm's accounting (22.05) keeps no WorkDir: a job that
    ends between two polls would otherwise leave its output nowhere to be found.
    """
    try:
        return resolve_work_dir(chdir, backend.home_dir())
    except BackendError as exc:
        log.warning("job.work_dir_unknown", error=exc.code, detail=exc.detail)
        return chdir if chdir and chdir.startswith("/") else None


def _look_up_after_uncertain_submit(
    session: Session, job: Job, backends: SlurmBackendFactory, clock: Clock
) -> Job:
    """One tag lookup; found -> record it, otherwise leave it to the worker (never resubmit here)."""
    try:
        found = backends.for_login(job.cluster_login).find_by_tag(job.tag)
    except BackendError as exc:
        log.warning("job.find_by_tag_failed", job_id=str(job.id), detail=exc.detail)
        found = None
    if found is not None:
        _record_success(session, job, found, backends, clock)
        return job
    _leave_submitting(session, job, REASON_UNCERTAIN, clock)
    return job


def _leave_submitting(session: Session, job: Job, reason: str, clock: Clock) -> None:
    job.reason = reason
    job.updated_at = clock.now()
    session.commit()
