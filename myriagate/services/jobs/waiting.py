"""Sending jobs that waited in the gateway for the jobs they depend on (``--dependency``).

A job whose dependency names a job without a Slurm id yet (still staging its inputs, or
submitting) is written ``submitting`` but not sent (``services.jobs.dependents``). Each
tracking tick calls ``release_waiting``: every such job of the cluster is decided again from
the database alone (no Slurm call), and then

- sent with Slurm's ids in its argv once every job it names has one (the new argv is
  committed before sbatch runs, so a lost reply is reconciled by its tag like any other);
- ended when the expression can no longer be satisfied (a job it needs ended before reaching
  Slurm, or ended the wrong way): ``cancelled`` with ``--kill-on-invalid-dep=yes``, ``failed``
  otherwise (Slurm would keep it pending for ever with ``DependencyNeverSatisfied``; the
  gateway never sent it, so it ends it and its hold is released at settlement);
- left waiting otherwise, its ``reason`` saying for which job.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from myriagate.db.models.jobs import Job
from myriagate.domain.jobs import RenderedScript
from myriagate.domain.sbatch_options import dependency
from myriagate.domain.states import JobState
from myriagate.errors import MyriagateError, Text
from myriagate.ports import Clock, SlurmBackendFactory
from myriagate.services.common import audit
from myriagate.services.jobs import dispatch, transitions
from myriagate.services.jobs.dependents import (
    Dependee,
    Outcome,
    dependency_arg,
    evaluate,
    is_gateway_ref,
    is_waiting,
    waiting_reason,
    with_dependency,
)

log = structlog.get_logger(__name__)


def waiting_jobs(session: Session, cluster: str) -> list[Job]:
    """The cluster's jobs held back by a dependency, oldest first (a chain goes in order)."""
    stmt = (
        sa.select(Job)
        .where(
            Job.cluster == cluster,
            Job.state == JobState.SUBMITTING,
            Job.slurm_job_id.is_(None),
            Job.reconciled_at.is_(None),
        )
        .order_by(Job.created_at, Job.id)
    )
    return [job for job in session.scalars(stmt) if is_waiting(job.sbatch_args)]


def release_waiting(session: Session, *, cluster: str, backends: SlurmBackendFactory, clock: Clock) -> int:
    """Send or end every waiting job of ``cluster`` that can be decided; how many moved."""
    moved = 0
    for job in waiting_jobs(session, cluster):
        try:
            if _release_one(session, job, backends, clock):
                moved += 1
        except MyriagateError as exc:
            # sbatch refused it: dispatch already failed the job with Slurm's reason.
            log.warning("job.dependency_send_failed", job_id=str(job.id), detail=exc.detail)
            moved += 1
    return moved


def decide(session: Session, job: Job) -> Outcome:
    """The dependency of a waiting job, decided from the jobs it names as they stand now."""
    value = dependency_arg(job.sbatch_args)
    assert value is not None  # a waiting job has one
    parsed = dependency.parse(value)
    named: dict[str, Dependee] = {}
    for ref in parsed.refs:
        if is_gateway_ref(ref.text):
            found = session.get(Job, uuid.UUID(ref.text))
            # Only the owner's jobs on the same cluster, as at submission; a job that is gone
            # (or, which the submission never writes, anybody else's) cannot be waited for.
            if found is None or found.cluster != job.cluster or found.cluster_login != job.cluster_login:
                return Outcome(None, never=Text("job %(ref)s no longer exists", ref=ref.text))
            named[ref.text] = found
    return evaluate(parsed, lambda ref: named.get(ref.text))


def _release_one(session: Session, job: Job, backends: SlurmBackendFactory, clock: Clock) -> bool:
    outcome = decide(session, job)
    now = clock.now()
    if outcome.never is not None:
        _end(session, job, outcome.never, now)
        return True
    if outcome.waiting_on:
        reason = waiting_reason(outcome.waiting_on)
        if job.reason != reason:
            job.reason, job.updated_at = reason, now
            session.commit()
        else:
            session.rollback()  # nothing to write; end the read transaction
        return False
    args = with_dependency(job.sbatch_args, outcome.value)
    job.sbatch_args = args
    job.reason = None
    job.updated_at = now
    audit.record(session, audit.WORKER, "job.dependency_released", ("job", job.id),
                 {"dependency": outcome.value}, "worker", at=now)  # fmt: skip
    session.commit()  # the argv sbatch gets is durable before it runs (reconciliation resends it)
    log.info("job.dependency_released", job_id=str(job.id), dependency=outcome.value)
    script = RenderedScript(text=job.script_text, sbatch_args=tuple(args))
    dispatch.send(session, job, script, backends=backends, clock=clock, actor=audit.WORKER, source="worker")
    return True


def _end(session: Session, job: Job, why: str, now: datetime) -> None:
    kill = (job.spec or {}).get("kill_on_invalid_dep") == "yes"
    state = JobState.CANCELLED if kill else JobState.FAILED
    reason = Text("dependency never satisfied: %(why)s", why=why)
    job.reason = reason
    transitions.move(session, job, state, at=now, reason=reason, force=True)
    audit.record(session, audit.WORKER, "job.dependency_never_satisfied", ("job", job.id),
                 {"why": why, "state": state.value}, "worker", at=now)  # fmt: skip
    session.commit()
    log.warning("job.dependency_never_satisfied", job_id=str(job.id), state=state.value, why=why)
