"""Queries over jobs and their state history."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from myriagate.db.models.jobs import Job, JobStateChange
from myriagate.db.models.users import Project, User
from myriagate.db.repos.job_statements import JOB_ATTRIBUTES, write_intent, write_submitted
from myriagate.domain.states import FINAL_STATES, JobState


def get(session: Session, job_id: uuid.UUID) -> Job | None:
    return session.get(Job, job_id)


def visible_to(user: User) -> sa.ColumnElement[bool]:
    """SQL filter of the jobs ``user`` may see (the list form of authz.can_view_job)."""
    if user.is_platform_admin:
        return sa.true()
    clauses: list[sa.ColumnElement[bool]] = [Job.user_id == user.id]
    for cluster, account in sorted(user.led_accounts()):
        clauses.append(sa.and_(Job.cluster == cluster, Job.slurm_account == account))
    if user.university_admin_of is not None:
        institution_projects = sa.select(Project.id).where(
            Project.cluster == Job.cluster,
            Project.slurm_account == Job.slurm_account,
            Project.institution == user.university_admin_of,
        )
        clauses.append(institution_projects.exists())
    return sa.or_(*clauses)


def get_visible(session: Session, job_id: uuid.UUID, user: User) -> Job | None:
    """The job if ``user`` may see it; None otherwise (callers answer NotFound either way)."""
    return session.scalars(sa.select(Job).where(Job.id == job_id, visible_to(user))).one_or_none()


def unfinished_poll_rows(session: Session, cluster: str) -> list[tuple[str, str | None]]:
    """(slurm_job_id, status_fingerprint) of the jobs a tick polls: Slurm knows them, they
    have not ended. The fingerprint of the last answer applied is all a tick compares, so
    unchanged jobs are never loaded."""
    stmt = sa.select(Job.slurm_job_id, Job.status_fingerprint).where(
        Job.cluster == cluster,
        Job.state.not_in(FINAL_STATES),
        Job.state != JobState.STAGING_OUT,  # Slurm is done with it; staging finishes it
        Job.slurm_job_id.is_not(None),
    )
    return [(job_id, fingerprint) for job_id, fingerprint in session.execute(stmt) if job_id]


def get_many_by_slurm_id(session: Session, cluster: str, slurm_job_ids: Sequence[str]) -> list[Job]:
    """These jobs of ``cluster`` as full objects, in one query per 500 ids."""
    jobs: list[Job] = []
    for start in range(0, len(slurm_job_ids), 500):
        chunk = slurm_job_ids[start : start + 500]
        stmt = sa.select(Job).where(Job.cluster == cluster, Job.slurm_job_id.in_(chunk))
        jobs.extend(session.scalars(stmt))
    return jobs


def of_login_by_id_prefixes(
    session: Session, cluster: str, cluster_login: str, prefixes: Collection[str]
) -> list[Job]:
    """The jobs of ``cluster_login`` on ``cluster`` whose gateway id starts with one of the hex
    ``prefixes`` (8 to 32 digits, no dashes), in one query per 200 prefixes."""
    jobs: list[Job] = []
    ordered = sorted(set(prefixes))
    for start in range(0, len(ordered), 200):
        chunk = ordered[start : start + 200]
        stmt = sa.select(Job).where(
            Job.cluster == cluster, Job.cluster_login == cluster_login, sa.or_(*map(_id_prefix, chunk))
        )
        jobs.extend(session.scalars(stmt))
    return jobs


def id_prefix_bounds(digits: str) -> tuple[uuid.UUID, uuid.UUID]:
    """The lowest and highest gateway ids starting with the hex ``digits``."""
    return uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))


def _id_prefix(digits: str) -> sa.ColumnElement[bool]:
    """Gateway ids starting with ``digits``: a range of the primary key (one index lookup on
    every database, where a text prefix would depend on how each stores a UUID)."""
    return Job.id.between(*id_prefix_bounds(digits))


def awaiting_reconciliation(session: Session, cluster: str, *, created_before: datetime) -> list[Job]:
    """Jobs without a Slurm id whose submission outcome is unknown and old enough to check.

    ``submitting`` jobs (lost sbatch reply, cluster down, crash) and jobs cancelled while
    still submitting: in both cases the tag may have reached Slurm and must be looked up.
    """
    stmt = (
        sa.select(Job)
        .where(
            Job.cluster == cluster,
            Job.slurm_job_id.is_(None),
            Job.reconciled_at.is_(None),
            Job.state.in_((JobState.SUBMITTING, JobState.CANCELLED)),
            Job.created_at < created_before,
        )
        .order_by(Job.created_at, Job.id)
    )
    return list(session.scalars(stmt))


def add_state_change(
    session: Session,
    job: Job,
    *,
    from_state: JobState | None,
    to_state: JobState,
    at: datetime,
    slurm_state: str | None = None,
    reason: str | None = None,
) -> JobStateChange:
    change = JobStateChange(
        job_id=job.id,
        from_state=from_state,
        to_state=to_state,
        slurm_state=slurm_state,
        reason=reason,
        at=at,
    )
    session.add(change)
    return change


def insert_new(session: Session, job: Job, *, audit_event: Mapping[str, Any]) -> None:
    """Write a new job (not yet in ``session``), its first state change and its audit entry
    in the caller's transaction, without the unit of work (``job_statements.write_intent``:
    one statement on PostgreSQL); then ``job`` is persistent in ``session`` with every column
    loaded, as after a flush and a refresh, without a query.

    Every column must be set on ``job`` (None where the row holds NULL).
    """
    values = {column.name: getattr(job, key) for column, key in JOB_ATTRIBUTES}
    change = {"job_id": job.id, "from_state": None, "to_state": job.state, "slurm_state": None,
              "reason": None, "at": job.created_at}  # fmt: skip
    write_intent(session, values, change, audit_event)
    make_transient_to_detached(job)  # as loaded: nothing pending, nothing expired
    session.add(job)


def mark_submitted(
    session: Session, job_id: uuid.UUID, slurm_job_id: str, *, at: datetime, work_dir: str | None
) -> Job | None:
    """Record that Slurm accepted a job still ``submitting``: its Slurm id, ``pending``, and
    ``work_dir`` unless it already holds an absolute path, and that state change (submitting
    → pending, Slurm state ``PENDING``): ``job_statements.write_submitted``, one
    ``UPDATE … RETURNING`` (with the change's INSERT on PostgreSQL).

    Returns the job as the row now stands (the session's copy is overwritten with every
    column read back, a cancel request made meanwhile included), or None when the job has
    left ``submitting`` (then nothing was written). The row is applied without the ORM's
    loading: this runs once per submission.
    """
    params = {"p_job_id": job_id, "p_slurm_job_id": slurm_job_id, "p_at": at, "p_work_dir": work_dir}
    row = write_submitted(session, params)
    if row is None:
        return None
    job = session.get(Job, job_id)  # the caller's object, from the identity map
    if job is not None:
        for (_column, key), value in zip(JOB_ATTRIBUTES, row, strict=True):
            set_committed_value(job, key, value)
    return job


def history(session: Session, job_id: uuid.UUID) -> Sequence[JobStateChange]:
    stmt = sa.select(JobStateChange).where(JobStateChange.job_id == job_id).order_by(JobStateChange.id)
    return list(session.scalars(stmt))
