"""The worker's staging step: move each job's inputs in before sbatch and its outputs out after.

For every job of the cluster in ``staging_in`` or ``staging_out`` whose transfer nobody else
holds, the worker claims it (one conditional UPDATE), checks residency again, moves the
bytes through the ``Stager`` (which verifies sha256 at each destination), records what
arrived, and moves the job on: ``staging_in`` -> ``submitting`` -> sbatch, or
``staging_out`` -> ``completed`` with a dataset. A transient failure (connection lost) is
retried with a growing delay, resuming where it stopped; anything else fails the job with a
reason that says what happened. A failed stage-in leaves the job without a Slurm id, so
settlement releases its allocation hold.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

import structlog
from sqlalchemy.orm import Session

from myriagate.db.models.jobs import Job
from myriagate.db.models.staging import JobStaging
from myriagate.db.repos import staging as staging_repo
from myriagate.domain.jobs import RenderedScript
from myriagate.domain.staging import escaped
from myriagate.domain.states import JobState
from myriagate.errors import ConfigError, MyriagateError, Text, UnsafeValue
from myriagate.ports import StagedFile
from myriagate.profiles.models import ClusterProfile
from myriagate.services.common import audit
from myriagate.services.common.leases import Lease
from myriagate.services.jobs import dispatch, transitions
from myriagate.services.jobs.dependents import is_waiting
from myriagate.services.staging import transfers as staging_transfers
from myriagate.services.staging import uploads
from myriagate.services.staging.context import StagingContext
from myriagate.services.staging.residency import audit_refusal, cluster_location, ensure_resident

log = structlog.get_logger(__name__)

RENEW_EVERY_S = 30.0
PURGE_EVERY_S = 3600.0


def run_pending(ctx: StagingContext, limit: int = 20) -> int:
    """Stage every claimable job of the cluster once; how many jobs moved on (or failed)."""
    with ctx.session_factory() as session:
        job_ids = staging_repo.claimable_jobs(session, ctx.profile.name, ctx.clock.now(), limit)
    return sum(1 for job_id in job_ids if process(ctx, job_id))


def process(ctx: StagingContext, job_id: uuid.UUID) -> bool:
    """Claim and stage one job; True when its state changed."""
    claim = Lease.staging_claim(job_id, holder=ctx.holder, ttl_s=ctx.claim_s, clock=ctx.clock)
    with ctx.session_factory() as session:
        if not claim.acquire(session):
            return False
        job = session.get(Job, job_id)
        plan = staging_repo.get_plan(session, job_id)
        if job is None or plan is None or job.state not in (JobState.STAGING_IN, JobState.STAGING_OUT):
            if plan is not None:
                claim.release(session)
            return False
        direction = "in" if job.state is JobState.STAGING_IN else "out"
        try:
            progress = ClaimKeeper(ctx.session_factory, claim).progress
            if direction == "in":
                _stage_in(ctx, session, job, plan, progress)
            else:
                staging_transfers.stage_out(ctx, session, job, plan, progress)
        except MyriagateError as exc:
            session.rollback()
            return _failed(ctx, session, job_id, direction, exc)
        except Exception as exc:  # a bug or an unexpected library error: retried, never fatal
            session.rollback()
            log.exception("staging.unexpected_error", job_id=str(job_id), direction=direction)
            return _failed(ctx, session, job_id, direction, MyriagateError(repr(exc), transient=True))
    return True


def _stage_in(
    ctx: StagingContext, session: Session, job: Job, plan: JobStaging, progress: Callable[[int, int], None]
) -> None:
    ensure_resident(
        cluster_location(ctx.profile),
        ctx.allowed_regions,
        audit_session=ctx.session_factory,
        actor=audit.WORKER,
        subject=("job", job.id),
        what="job inputs",
        source="worker",
        at=ctx.clock.now(),
    )
    dest = staging_transfers.job_tree(ctx, job, plan)
    staged = staging_transfers.stage_in(ctx, session, job, plan, dest, progress)
    now = ctx.clock.now()
    plan.staged_inputs = [_manifest_row(f) for f in staged]
    plan.stage_in_at = now
    plan.last_error = None
    plan.claimed_until = None
    job.reason = None
    # A job with result patterns and no inputs came here only for its own directory.
    done = f"{len(staged)} input file(s) in place" if staged else f"job directory {dest.path} ready"
    transitions.move(session, job, JobState.SUBMITTING, at=now, reason=done)
    audit.record(session, audit.WORKER, "job.stage_in", ("job", job.id),
                 {"files": len(staged), "bytes": sum(f.size_bytes for f in staged), "dir": dest.path},
                 "worker", at=now)  # fmt: skip
    session.commit()
    staging_transfers.discard_inputs(ctx, plan)
    log.info("staging.in_done", job_id=str(job.id), files=len(staged))
    session.refresh(job)
    if job.state is not JobState.SUBMITTING:  # cancelled while its inputs moved
        return
    if is_waiting(job.sbatch_args):  # --dependency on a job not in Slurm yet: the tick sends it
        log.info("staging.waits_for_dependency", job_id=str(job.id))
        return
    script = RenderedScript(text=job.script_text, sbatch_args=tuple(job.sbatch_args))
    try:
        dispatch.send(session, job, script, backends=ctx.backends, clock=ctx.clock, actor=audit.WORKER,
                    source="worker")  # fmt: skip
    except MyriagateError as exc:
        # Slurm refused the job: send() already failed it with the reason. Nothing to retry.
        log.warning("staging.submit_refused", job_id=str(job.id), detail=exc.detail)


def _failed(
    ctx: StagingContext, session: Session, job_id: uuid.UUID, direction: str, exc: MyriagateError
) -> bool:
    """Record a failed attempt: retry a transient one later, fail the job otherwise."""
    if isinstance(exc, UnsafeValue):  # the stager refused a path: audited like every staging refusal
        audit_refusal(ctx.session_factory, actor=audit.WORKER, subject=("job", job_id), reason="unsafe_path",
                      value=exc.value if exc.value is not None else exc.detail, what=f"stage-{direction}",
                      source="worker", at=ctx.clock.now(), extra={"detail": escaped(exc.detail)})  # fmt: skip
    job = session.get(Job, job_id)
    plan = staging_repo.get_plan(session, job_id)
    if job is None or plan is None:
        return False
    now = ctx.clock.now()
    plan.attempts += 1
    plan.last_error = exc.detail
    shown = _for_researchers(exc, ctx)  # the job's reason: no gateway paths nor set-up (issue #15)
    if exc.transient and plan.attempts < ctx.max_attempts:
        delay = min(300.0, 5.0 * 2 ** (plan.attempts - 1))
        plan.claimed_by, plan.claimed_until = ctx.holder, now + timedelta(seconds=delay)
        job.reason = f"stage-{direction} interrupted ({shown}); retry {plan.attempts + 1} in {delay:.0f} s"
        job.updated_at = now
        session.commit()
        log.warning(
            "staging.retry", job_id=str(job_id), direction=direction, detail=exc.detail, delay_s=delay
        )
        return False
    reason = f"stage-{direction} failed: {shown}"
    job.stage_out = False
    job.reason = reason
    transitions.move(session, job, JobState.FAILED, at=now, reason=reason, force=True)
    plan.claimed_by, plan.claimed_until = None, None
    audit.record(session, audit.WORKER, f"job.stage_{direction}_failed", ("job", job.id),
                 {"error": exc.code, "detail": exc.detail}, "worker", at=now)  # fmt: skip
    session.commit()
    log.warning("staging.failed", job_id=str(job_id), direction=direction, error=exc.code, detail=exc.detail)
    return True


def _for_researchers(exc: MyriagateError, ctx: StagingContext) -> str:
    """What the job's owner may read of a failure: a set-up problem says only that (operators
    have the detail in the audit entry and the log), and the gateway's own spool directory is
    not named."""
    if isinstance(exc, ConfigError):
        return Text("the gateway is not set up for this transfer; its administrators have the details")
    return exc.detail.replace(str(ctx.spool_dir), "(the gateway's copy)")


def _manifest_row(f: StagedFile) -> dict[str, object]:
    return {"path": f.path, "size_bytes": f.size_bytes, "sha256": f.sha256}


class ClaimKeeper:
    """Renews the job's claim while bytes move (from the stager's progress callback)."""

    def __init__(self, session_factory: Callable[[], Session], claim: Lease) -> None:
        self._session_factory = session_factory
        self._claim = claim
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def progress(self, done: int, total: int) -> None:
        with self._lock:
            if time.monotonic() - self._last < RENEW_EVERY_S:
                return
            self._last = time.monotonic()
        with self._session_factory() as session:
            self._claim.renew(session)
        log.info("staging.progress", job_id=str(self._claim.key), done_bytes=done, total_bytes=total)


def run_loop(ctx: StagingContext, stop: threading.Event, *, min_s: float = 1.0, max_s: float = 10.0) -> None:
    """Stage the cluster's jobs until ``stop`` is set: at once again after work, slower when idle."""
    log.info("staging.started", cluster=ctx.profile.name, holder=ctx.holder)
    delay = min_s
    next_purge = 0.0
    while not stop.is_set():
        try:
            if time.monotonic() >= next_purge:
                next_purge = time.monotonic() + PURGE_EVERY_S
                _purge_uploads(ctx)
            moved = run_pending(ctx)
        except Exception:  # a database hiccup must not end the loop
            log.exception("staging.step_failed", cluster=ctx.profile.name)
            moved = 0
        delay = min_s if moved else min(max_s, delay * 2)
        stop.wait(delay)
    log.info("staging.stopped", cluster=ctx.profile.name)


def can_stage(profile: ClusterProfile) -> bool:
    """Whether the cluster is reached over SSH, which staging needs."""
    conn = profile.connection
    return conn.runner == "ssh" and conn.host is not None and conn.known_hosts is not None


def _purge_uploads(ctx: StagingContext) -> None:
    """Uploads nobody submitted a job with are removed after ``upload_ttl_s``."""
    older_than = ctx.clock.now() - timedelta(seconds=ctx.upload_ttl_s)
    with ctx.session_factory() as session:
        removed = uploads.purge_stale(session, spool_dir=ctx.spool_dir, older_than=older_than)
    if removed:
        log.info("staging.uploads_purged", count=removed)
