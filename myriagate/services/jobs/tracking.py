"""One tracking tick for one cluster: poll every unfinished job at once, reconcile the rest.

A tick makes ONE ``status()`` call (the backend runs squeue, then sacct for the jobs gone
from the queue) for all unfinished jobs of the cluster, moves states forward only, and
records history. Jobs absent from the answer keep their state: a job missing from squeue
is never assumed completed. Then it reconciles jobs stuck in ``submitting``: the tag is
looked up first, and a job is resubmitted only when Slurm provably never got it: two lookups
at least ``accounting_lag_s`` apart (slurmdbd may show a job later than slurmctld forgets it)
both answered cleanly without it. An answer with a Slurm error, even with exit 0 and nothing
on stdout, is no answer (the backend raises SchedulerUnavailable).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.orm import Session

from myriagate.db.models.jobs import Job
from myriagate.db.repos import audit as audit_repo
from myriagate.db.repos import jobs as jobs_repo
from myriagate.domain.job_explanations import ADMIN_LOGINS
from myriagate.domain.jobs import JobStatus, RenderedScript
from myriagate.domain.states import JobState
from myriagate.errors import BackendError, SchedulerRejected
from myriagate.ports import Clock, Ledger, SlurmBackendFactory
from myriagate.services.common import audit
from myriagate.services.jobs import array_tasks, transitions, vanished, waiting
from myriagate.services.jobs.dependents import is_waiting
from myriagate.services.jobs.tag_lookup import TagLookups

log = structlog.get_logger(__name__)

# Longer than the slowest sbatch the gateway waits for, so a submission still in flight in
# a web request is not mistaken for a lost one.
DEFAULT_UNCERTAIN_AFTER_S = 120.0
# How long slurmdbd may lag behind slurmctld (MYRIAGATE_ACCOUNTING_LAG_S): a job that ended and
# left squeue may not be in sacct yet, so one "not found" is never enough to send it again.
DEFAULT_ACCOUNTING_LAG_S = 120.0
NOT_FOUND = "job.tag_not_found"  # audit action of a clean lookup that did not find the tag
RESUBMITTING = "job.resubmitting"  # audit action written (and committed) before a resend
REASON_LOOKING_AGAIN = "not found by its tag yet; looked up again before any resubmission"


@dataclass(frozen=True)
class TickResult:
    """What one tick did: jobs whose state (or raw Slurm state) changed, jobs polled."""

    changed: int
    polled: int
    reconciled: int = 0
    error: str | None = None


def tick(
    session: Session,
    *,
    cluster: str,
    backends: SlurmBackendFactory,
    clock: Clock,
    ledger: Callable[[Session], Ledger],
    uncertain_after_s: float = DEFAULT_UNCERTAIN_AFTER_S,
    accounting_lag_s: float = DEFAULT_ACCOUNTING_LAG_S,
    vanished_after_s: float = vanished.DEFAULT_RELEASE_AFTER_S,
) -> TickResult:
    """Poll and reconcile the jobs of ``cluster``; commits its own changes.

    A job neither squeue nor sacct knows for ``vanished_after_s`` ends failed and its hold
    is released through ``ledger`` (opened in ``session``): see ``services.jobs.vanished``."""
    # Reconcile first, so a job found by its tag is polled in this very tick.
    reconciled = _reconcile(
        session, cluster=cluster, backends=backends, clock=clock, uncertain_after_s=uncertain_after_s,
        accounting_lag_s=accounting_lag_s,
    )  # fmt: skip
    # Jobs that waited for a --dependency whose jobs now have Slurm ids are sent (or ended).
    released = waiting.release_waiting(session, cluster=cluster, backends=backends, clock=clock)
    changed, polled, error = _poll(
        session, cluster=cluster, backends=backends, clock=clock, vanished_after_s=vanished_after_s,
        ledger=ledger,
    )  # fmt: skip
    log.info("tracking.tick", cluster=cluster, polled=polled, changed=changed, reconciled=reconciled)
    return TickResult(
        changed=changed + reconciled + released, polled=polled, reconciled=reconciled, error=error
    )


def _poll(
    session: Session,
    *,
    cluster: str,
    backends: SlurmBackendFactory,
    clock: Clock,
    vanished_after_s: float,
    ledger: Callable[[Session], Ledger],
) -> tuple[int, int, str | None]:
    rows = jobs_repo.unfinished_poll_rows(session, cluster)
    if not rows:
        return 0, 0, None
    backend = backends.for_service()
    try:
        statuses = backend.status([slurm_job_id for slurm_job_id, _ in rows])
    except BackendError as exc:
        # Nothing is known: every state stays as it was; the worker backs off and retries.
        log.warning("tracking.poll_failed", cluster=cluster, error=exc.code, detail=exc.detail)
        return 0, len(rows), exc.detail
    # Only jobs whose answer differs from what is stored are loaded and written: a tick over
    # a thousand unchanged pending jobs is one light SELECT and one squeue. Jobs absent from
    # the answer (in neither squeue nor sacct yet) keep their state: never guess.
    differing = {
        slurm_job_id: status
        for slurm_job_id, fingerprint in rows
        if (status := statuses.get(slurm_job_id)) is not None and status.fingerprint != fingerprint
    }
    now = clock.now()
    changed = 0
    for job in jobs_repo.get_many_by_slurm_id(session, cluster, list(differing)):
        assert job.slurm_job_id is not None  # selected by it
        vanished.seen_again(session, job, now=now)  # a job counted missing is back: no-op otherwise
        if apply_status(session, job, differing[job.slurm_job_id], now=now):
            changed += 1
    session.commit()
    # Absent jobs keep their state, but not for ever: see services.jobs.vanished.
    absent = [(sid, fingerprint) for sid, fingerprint in rows if sid not in statuses]
    if absent:
        changed += vanished.handle_absent(
            session, cluster=cluster, backend=backend, absent=absent, now=now,
            release_after_s=vanished_after_s, ledger=ledger,
        )  # fmt: skip
    return changed, len(rows), None


_COPIED = (
    "exit_code", "signal", "work_dir", "started_at", "ended_at", "max_rss_bytes", "mem_requested_bytes",
    "time_limit_s",
)  # fmt: skip


def _canceller(job: Job, status: JobStatus) -> str | None:
    """Who cancelled ``job``: the login Slurm names, unless a cancel was asked through the
    gateway and Slurm names the gateway's own hand: the owner's login (the CLI backend runs
    scancel as the owner, even when their project lead asks) or root (the pyslurm backend
    cancels from a root process). Then the asker ``cancel_job`` recorded is the better name."""
    named = status.cancelled_by
    asked = job.cancel_requested_at is not None and job.cancelled_by is not None
    if named is None or (asked and named in (job.cluster_login, *ADMIN_LOGINS)):
        return job.cancelled_by
    return named


def _waiting_reason(job: Job, status: JobStatus) -> str | None:
    """Slurm's reason, when it says something of this state. It is why a job waits or is
    held up (squeue %r), and sacct keeps the last one for good: of an ended job it explains
    only one that never started (cancelled while it waited for that), never one that ran."""
    if status.reason in (None, "None", "(null)"):
        return None
    if status.state is None or not status.state.is_final:
        return status.reason
    never_ran = status.started_at is None and job.started_at is None
    return status.reason if never_ran else None


def apply_status(session: Session, job: Job, status: JobStatus, *, now: datetime) -> bool:
    """Copy what Slurm said onto ``job``; True when its state or raw Slurm state changed."""
    raw_changed = status.slurm_state != job.slurm_state
    job.status_fingerprint = status.fingerprint
    job.slurm_state = status.slurm_state
    reason = _waiting_reason(job, status)  # before started_at is copied below
    if reason is not None or status.state not in (None, JobState.PENDING):
        job.reason = reason  # a pending job Slurm gives no reason for keeps the one it had
    for attr in _COPIED:
        value = getattr(status, attr)
        if value is not None:
            setattr(job, attr, value)
    job.cancelled_by = _canceller(job, status)
    if job.submitted_at is None and status.submitted_at is not None:
        job.submitted_at = status.submitted_at
    if status.array_tasks and job.array_task_count is None:
        job.array_task_count = len(status.array_tasks)
    if status.array_tasks:
        # Only the tasks that changed are written (services.jobs.array_tasks).
        array_tasks.record(session, job.id, status.array_tasks, now=now)
    moved = False
    if status.state is None:
        # A Slurm state we do not know: keep ours, but keep the raw one for people to read.
        log.warning(
            "tracking.unknown_slurm_state",
            job_id=str(job.id),
            slurm_job_id=job.slurm_job_id,
            slurm_state=status.slurm_state,
        )
    else:
        moved = transitions.move(
            session, job, status.state, at=now, slurm_state=status.slurm_state, reason=reason
        )
    if raw_changed or moved:
        job.updated_at = now
    return raw_changed or moved


def _reconcile(
    session: Session,
    *,
    cluster: str,
    backends: SlurmBackendFactory,
    clock: Clock,
    uncertain_after_s: float,
    accounting_lag_s: float = DEFAULT_ACCOUNTING_LAG_S,
) -> int:
    now = clock.now()
    jobs = jobs_repo.awaiting_reconciliation(
        session, cluster, created_before=now - timedelta(seconds=uncertain_after_s)
    )
    # A job held back by its --dependency was never sent: nothing to look up (services.jobs.waiting).
    jobs = [j for j in jobs if not (j.state is JobState.SUBMITTING and is_waiting(j.sbatch_args))]
    done = 0
    # One squeue + at most one sacct per login for all its uncertain jobs, not per job.
    lookups = TagLookups(backends, jobs)
    for job in jobs:
        try:
            if _reconcile_one(session, job, lookups, clock, accounting_lag_s):
                done += 1
        except BackendError as exc:
            # The cluster is down or the answer was lost again: try at the next tick.
            session.rollback()
            log.warning("tracking.reconcile_failed", job_id=str(job.id), error=exc.code, detail=exc.detail)
    return done


def _reconcile_one(
    session: Session, job: Job, backends: SlurmBackendFactory, clock: Clock, accounting_lag_s: float
) -> bool:
    """Settle one job without a Slurm id; True when something was decided."""
    backend = backends.for_login(job.cluster_login)
    found = backend.find_by_tag(job.tag)  # SchedulerUnavailable when the answer says nothing
    now = clock.now()
    if found is None and not _absent_for(session, job, now, accounting_lag_s):
        return False
    if job.state is JobState.CANCELLED:
        # Cancelled while submitting: if the submission did reach Slurm, cancel it there too.
        if found is not None:
            job.slurm_job_id = found
            backend.cancel(found)
            log.info(
                "job.cancel_sent", job_id=str(job.id), slurm_job_id=found, why="cancelled while submitting"
            )
        job.updated_at = now
        _decided(session, job, "job.reconcile", {"found": found, "outcome": "cancelled"}, now)
        return True
    if found is not None:
        transitions.record_submitted(session, job, found, at=now)
        _decided(session, job, "job.reconcile", {"found": found, "outcome": "found"}, now)
        log.info("job.reconciled", job_id=str(job.id), slurm_job_id=found, outcome="found")
        return True
    # Two clean answers the accounting lag apart, neither with the tag: Slurm never got this
    # job, so submitting it now cannot make a duplicate. The resend is recorded first: if its
    # reply is lost too, the next resend again waits for two lookups after this one.
    audit.record(session, audit.WORKER, RESUBMITTING, ("job", job.id), {"tag": job.tag}, "worker", at=now)
    session.commit()
    script = RenderedScript(text=job.script_text, sbatch_args=tuple(job.sbatch_args))
    try:
        slurm_job_id = backend.submit(script, tag=job.tag)
    except SchedulerRejected as exc:
        job.reason = exc.detail
        transitions.move(session, job, JobState.FAILED, at=clock.now(), reason=exc.detail, force=True)
        _decided(session, job, "job.submit_rejected", {"detail": exc.detail}, now)
        log.warning("job.rejected", job_id=str(job.id), detail=exc.detail)
        return True
    transitions.record_submitted(session, job, slurm_job_id, at=clock.now())
    outcome = {"found": None, "outcome": "resubmitted", "slurm_job_id": slurm_job_id}
    _decided(session, job, "job.reconcile", outcome, now)
    log.info("job.reconciled", job_id=str(job.id), slurm_job_id=slurm_job_id, outcome="resubmitted")
    return True


def _absent_for(session: Session, job: Job, now: datetime, lag_s: float) -> bool:
    """True when an earlier clean lookup, at least ``lag_s`` ago and after the last resend,
    also missed the tag; otherwise this miss is recorded (audited, committed) and False."""
    events = audit_repo.for_target(session, "job", str(job.id))
    sent = max((e.at for e in events if e.action == RESUBMITTING), default=None)
    misses = [e.at for e in events if e.action == NOT_FOUND and (sent is None or e.at > sent)]
    if misses and now - min(misses) >= timedelta(seconds=lag_s):
        return True
    if not misses:
        audit.record(session, audit.WORKER, NOT_FOUND, ("job", job.id),
                     {"tag": job.tag, "look_again_after_s": lag_s}, "worker", at=now)  # fmt: skip
        if job.state is JobState.SUBMITTING:
            job.reason = REASON_LOOKING_AGAIN
            job.updated_at = now
        log.info("job.tag_not_found", job_id=str(job.id), look_again_after_s=lag_s)
    session.commit()
    return False


def _decided(session: Session, job: Job, action: str, detail: Mapping[str, object], now: datetime) -> None:
    """Mark a reconciled job as settled for good, audit what was decided, commit."""
    job.reconciled_at = now
    audit.record(session, audit.WORKER, action, ("job", job.id), detail, "worker", at=now)
    session.commit()
