"""Jobs Slurm lost: neither the queue nor the accounting knows them, so their holds come back.

A job the poll did not get back (in neither ``squeue`` nor ``sacct``) usually just lags: its
record reaches slurmdbd a little later. But a job whose record never reaches slurmdbd (lost
messages, a database restored from backup, a job id the gateway believes it got but Slurm
never had) would keep its allocation hold for ever. So:

- a miss counts only when a strict ``accounting()`` call (sacct by job id, no free-text
  field, raising on any failure) also answers cleanly without the job. A cluster that does
  not answer is not a miss: nothing changes, the clock neither starts nor ends;
- the first counted miss starts the job's clock. It is kept in the job's
  ``status_fingerprint`` as ``missing:<epoch seconds>`` (no migration; no real fingerprint
  looks like it), so the job's next appearance in any poll answer differs from it and
  overwrites it: the clock resets by itself, and ``seen_again`` audits that;
- once ``release_after_s`` has passed since the first miss, a last clean miss ends the
  job ``failed`` with a reason a researcher can read, releases its hold (idempotent), and
  writes the audit event ``allocation.hold_released_vanished`` and counts
  ``myriagate_jobs_vanished_total``, all in one transaction.

Only absent jobs cost a sacct call, and only on the tick of their first miss and on the tick
their bound passes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.orm import Session

from myriagate.db.models.jobs import Job
from myriagate.db.repos import jobs as jobs_repo
from myriagate.domain.states import JobState
from myriagate.errors import BackendError, Text
from myriagate.observability.metrics import JOBS_VANISHED
from myriagate.ports import Ledger, SlurmBackend
from myriagate.services.common import audit
from myriagate.services.jobs import transitions

log = structlog.get_logger(__name__)

# Far longer than the accounting lag (MYRIAGATE_ACCOUNTING_LAG_S, minutes): a job that left
# the queue and is still not in sacct hours later is not lagging (MYRIAGATE_VANISHED_JOB_RELEASE_S).
DEFAULT_RELEASE_AFTER_S = 6 * 3600.0
MARKER = "missing:"
MISSING = "job.slurm_missing"  # audit: first clean answer without the job, the clock starts
SEEN_AGAIN = "job.slurm_seen_again"  # audit: Slurm shows the job again, the clock is reset
RELEASED = "allocation.hold_released_vanished"  # audit: the job ended failed, its hold released


def missing_since(fingerprint: str | None) -> datetime | None:
    """When the job was first found missing, if it is missing now (its stored fingerprint)."""
    if fingerprint is None or not fingerprint.startswith(MARKER):
        return None
    return datetime.fromtimestamp(int(fingerprint[len(MARKER) :]), UTC)


def lost_reason(slurm_job_id: str, after_s: float) -> str:
    hours = f"{after_s / 3600:.1f}".removesuffix(".0")
    return Text(
        "lost by Slurm: neither the queue nor the accounting knows job %(slurm_job_id)s after "
        "%(hours)s h; its hold was released",
        slurm_job_id=slurm_job_id,
        hours=hours,
    )


def seen_again(session: Session, job: Job, *, now: datetime) -> None:
    """Audit that a job counted missing is known to Slurm again (its clock is reset)."""
    since = missing_since(job.status_fingerprint)
    if since is None:
        return
    detail = {"slurm_job_id": job.slurm_job_id, "missing_since": since.isoformat()}
    audit.record(session, audit.WORKER, SEEN_AGAIN, ("job", job.id), detail, "worker", at=now)
    log.info("job.slurm_seen_again", job_id=str(job.id), slurm_job_id=job.slurm_job_id)


def handle_absent(
    session: Session,
    *,
    cluster: str,
    backend: SlurmBackend,
    absent: Sequence[tuple[str, str | None]],
    now: datetime,
    release_after_s: float,
    ledger: Callable[[Session], Ledger],
) -> int:
    """Start, or end, the clock of the jobs ``(slurm_job_id, fingerprint)`` the poll did not
    get back; returns how many were declared lost. Commits its own changes."""
    bound = timedelta(seconds=release_after_s)
    fresh = [sid for sid, fp in absent if missing_since(fp) is None]
    due = [sid for sid, fp in absent if (since := missing_since(fp)) is not None and now - since >= bound]
    if not fresh and not due:
        return 0
    try:
        known = backend.accounting([*fresh, *due])
    except BackendError as exc:
        # No clean answer, no miss: the clock neither starts nor ends on this tick.
        log.warning("tracking.vanished_check_failed", cluster=cluster, error=exc.code, detail=exc.detail)
        return 0
    known_ids = set(known) | {key.split("_", 1)[0] for key in known}
    lost = 0
    for job in jobs_repo.get_many_by_slurm_id(session, cluster, [*fresh, *due]):
        assert job.slurm_job_id is not None  # selected by it
        since = missing_since(job.status_fingerprint)
        if job.slurm_job_id in known_ids:
            # Accounting knows it: the poll will pick it up; a running clock stops.
            if since is not None:
                seen_again(session, job, now=now)
                job.status_fingerprint = None
            continue
        if since is None:
            job.status_fingerprint = f"{MARKER}{int(now.timestamp())}"
            audit.record(session, audit.WORKER, MISSING, ("job", job.id),
                         {"slurm_job_id": job.slurm_job_id, "release_after_s": release_after_s},
                         "worker", at=now)  # fmt: skip
            log.warning("job.slurm_missing", job_id=str(job.id), slurm_job_id=job.slurm_job_id,
                        release_after_s=release_after_s)  # fmt: skip
            continue
        _lose(session, job, since=since, now=now, release_after_s=release_after_s, ledger=ledger)
        lost += 1
    session.commit()
    if lost:
        JOBS_VANISHED.labels(cluster).inc(lost)
    return lost


def _lose(
    session: Session,
    job: Job,
    *,
    since: datetime,
    now: datetime,
    release_after_s: float,
    ledger: Callable[[Session], Ledger],
) -> None:
    assert job.slurm_job_id is not None
    last_state = job.state
    reason = lost_reason(job.slurm_job_id, release_after_s)
    transitions.move(
        session, job, JobState.FAILED, at=now, slurm_state=job.slurm_state, reason=reason, force=True
    )
    job.reason = reason
    job.status_fingerprint = None
    job.updated_at = now
    ledger(session).release(job_id=job.id)  # idempotent; a no-op without a hold
    detail = {
        "slurm_job_id": job.slurm_job_id,
        "missing_since": since.isoformat(),
        "release_after_s": release_after_s,
        "last_state": str(last_state),
        "started_at": job.started_at.isoformat() if job.started_at else None,
    }
    audit.record(session, audit.WORKER, RELEASED, ("job", job.id), detail, "worker", at=now)
    log.warning("allocation.hold_released_vanished", job_id=str(job.id), **detail)
