"""Reading jobs for the API: filtered lists with keyset pagination, and one job in detail.

Lists are ordered newest first by ``(created_at DESC, id DESC)`` and paged with an opaque
cursor holding the last row's key, never an offset: a page stays the same when new jobs
arrive, and the database walks an index instead of counting rows (fast with 100,000 jobs).
Visibility is the SQL form of the authorisation matrix (``jobs_repo.visible_to``).

Callers get frozen read models (``JobRecord``, ``StateChange``), never ORM rows: each is
copied field by field from the typed row, so a renamed column fails the type check here
instead of vanishing from the API or a page.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.jobs import Job, JobStateChange
from myriagate.db.models.users import User
from myriagate.db.repos import jobs as jobs_repo
from myriagate.domain.states import JobState
from myriagate.errors import FieldError, InvalidRequest, NotFound, Text

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class JobFilters:
    """What a list may be narrowed to; None (or empty) means "any"."""

    states: tuple[JobState, ...] = ()
    cluster: str | None = None
    account: str | None = None
    owner: str | None = None  # username
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before


@dataclass(frozen=True, slots=True)
class JobRecord:
    """What the API and pages show of a job: its columns, copied from the row."""

    id: uuid.UUID
    user_id: uuid.UUID
    cluster: str
    cluster_login: str
    slurm_account: str | None
    partition: str | None
    job_name: str | None
    state: JobState
    slurm_job_id: str | None
    slurm_state: str | None
    reason: str | None
    exit_code: int | None
    signal: int | None
    max_rss_bytes: int | None
    mem_requested_bytes: int | None
    time_limit_s: int | None
    cancelled_by: str | None
    array_task_count: int | None
    work_dir: str | None
    output_pattern: str | None
    error_pattern: str | None
    submitted_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    cancel_requested_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, job: Job) -> JobRecord:
        return cls(
            id=job.id,
            user_id=job.user_id,
            cluster=job.cluster,
            cluster_login=job.cluster_login,
            slurm_account=job.slurm_account,
            partition=job.partition,
            job_name=job.job_name,
            state=job.state,
            slurm_job_id=job.slurm_job_id,
            slurm_state=job.slurm_state,
            reason=job.reason,
            exit_code=job.exit_code,
            signal=job.signal,
            max_rss_bytes=job.max_rss_bytes,
            mem_requested_bytes=job.mem_requested_bytes,
            time_limit_s=job.time_limit_s,
            cancelled_by=job.cancelled_by,
            array_task_count=job.array_task_count,
            work_dir=job.work_dir,
            output_pattern=job.output_pattern,
            error_pattern=job.error_pattern,
            submitted_at=job.submitted_at,
            started_at=job.started_at,
            ended_at=job.ended_at,
            cancel_requested_at=job.cancel_requested_at,
            created_at=job.created_at,
            updated_at=job.updated_at,
        )


@dataclass(frozen=True, slots=True)
class JobDetailRecord(JobRecord):
    """A job with what was sent to Slurm: the script, sbatch's arguments and the parsed spec."""

    script_text: str
    sbatch_args: tuple[str, ...]
    spec: Mapping[str, Any]  # the JSON the submission stored (JobSpec's fields)

    @classmethod
    def of(cls, job: Job) -> JobDetailRecord:
        base = JobRecord.of(job)
        columns = {field.name: getattr(base, field.name) for field in fields(JobRecord)}
        return cls(
            **columns, script_text=job.script_text, sbatch_args=tuple(job.sbatch_args), spec=dict(job.spec)
        )


@dataclass(frozen=True, slots=True)
class StateChange:
    """One step of a job's state history."""

    from_state: JobState | None
    to_state: JobState
    slurm_state: str | None
    reason: str | None
    at: datetime

    @classmethod
    def of(cls, change: JobStateChange) -> StateChange:
        return cls(
            from_state=change.from_state,
            to_state=change.to_state,
            slurm_state=change.slurm_state,
            reason=change.reason,
            at=change.at,
        )


@dataclass(frozen=True, slots=True)
class JobView:
    """A job with its owner's username (the API shows people by name, not by id)."""

    job: JobRecord
    owner: str


@dataclass(frozen=True, slots=True)
class JobDetailView:
    """A job in full, its owner and its state history (oldest first)."""

    job: JobDetailRecord
    owner: str
    history: tuple[StateChange, ...]
    owner_name: str = ""  # the owner's display name, "" when they have none (pages show people)


@dataclass(frozen=True, slots=True)
class JobPageView:
    items: list[JobView]
    next_cursor: str | None


def view_of(job: Job, owner: str) -> JobView:
    """The read model of a row a service just returned (submit, cancel)."""
    return JobView(job=JobRecord.of(job), owner=owner)


# --- cursors --------------------------------------------------------------------------
def encode_cursor(created_at: datetime, job_id: uuid.UUID) -> str:
    raw = json.dumps({"t": created_at.astimezone(UTC).isoformat(), "i": job_id.hex}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The key a cursor holds; a cursor not made by ``encode_cursor`` is a 422, not a 500."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        created_at = datetime.fromisoformat(data["t"])
        job_id = uuid.UUID(hex=data["i"])
        if created_at.tzinfo is None:
            raise ValueError("naive time")
    except (ValueError, KeyError, TypeError, UnicodeEncodeError, binascii.Error):
        raise InvalidRequest(
            Text("the cursor is not one this gateway handed out; start again without it"),
            fields=[FieldError(("query", "cursor"), Text("invalid cursor"))],
        ) from None
    return created_at, job_id


# --- queries --------------------------------------------------------------------------
def _check_window(filters: JobFilters) -> None:
    for name in ("since", "until"):
        value: datetime | None = getattr(filters, name)
        if value is not None and value.tzinfo is None:
            raise InvalidRequest(
                f"{name} needs a time zone, for example 2026-01-05T09:00:00Z",
                fields=[FieldError(("query", name), "time zone missing")],
            )


def _filtered(user: User, filters: JobFilters) -> sa.Select[Job, str]:
    stmt = sa.select(Job, User.username).join(User, User.id == Job.user_id).where(jobs_repo.visible_to(user))
    if filters.states:
        stmt = stmt.where(Job.state.in_(filters.states))
    if filters.cluster is not None:
        stmt = stmt.where(Job.cluster == filters.cluster)
    if filters.account is not None:
        stmt = stmt.where(Job.slurm_account == filters.account)
    if filters.owner is not None:
        stmt = stmt.where(User.username == filters.owner)
    if filters.since is not None:
        stmt = stmt.where(Job.created_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(Job.created_at < filters.until)
    return stmt


def list_statement(
    user: User, filters: JobFilters, *, limit: int, cursor: str | None = None
) -> sa.Select[Job, str]:
    """The SELECT behind one page (one row more than ``limit``, to know if another follows)."""
    stmt = _filtered(user, filters)
    if cursor is not None:
        created_at, job_id = decode_cursor(cursor)
        # Spelt out rather than a row-value comparison, which SQLite plans less well.
        stmt = stmt.where(
            sa.or_(Job.created_at < created_at, sa.and_(Job.created_at == created_at, Job.id < job_id))
        )
    return stmt.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)


def list_jobs(
    session: Session,
    *,
    user: User,
    filters: JobFilters | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> JobPageView:
    """One page of the jobs ``user`` may see, newest first, and the cursor of the next page."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(
            f"limit must be between 1 and {MAX_LIMIT}",
            fields=[FieldError(("query", "limit"), "out of range")],
        )
    filters = filters or JobFilters()
    _check_window(filters)
    rows = session.execute(list_statement(user, filters, limit=limit, cursor=cursor)).all()
    items = [view_of(job, owner) for job, owner in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1].job
        next_cursor = encode_cursor(last.created_at, last.id)
    return JobPageView(items=items, next_cursor=next_cursor)


def _visible(session: Session, job_id: uuid.UUID, user: User) -> tuple[Job, str]:
    stmt = (
        sa.select(Job, User.username)
        .join(User, User.id == Job.user_id)
        .where(Job.id == job_id, jobs_repo.visible_to(user))
    )
    row = session.execute(stmt).one_or_none()
    if row is None:
        raise NotFound(Text("no job %(job)s", job=job_id))
    return row[0], row[1]


def get_job(session: Session, *, job_id: uuid.UUID, user: User) -> JobView:
    """The job if ``user`` may see it; NotFound otherwise, exactly as for a missing job."""
    return view_of(*_visible(session, job_id, user))


def get_job_detail(session: Session, *, job_id: uuid.UUID, user: User) -> JobDetailView:
    """The job, its owner and its state history (oldest first)."""
    job, owner = _visible(session, job_id, user)
    history = tuple(StateChange.of(change) for change in jobs_repo.history(session, job_id))
    name = session.scalar(sa.select(User.display_name).where(User.id == job.user_id)) or ""
    return JobDetailView(job=JobDetailRecord.of(job), owner=owner, history=history, owner_name=name)
