"""Reading jobs for the API: filtered lists with keyset pagination, and one job in detail.

Lists are ordered newest first by ``(created_at DESC, id DESC)`` and paged with an opaque
cursor holding the last row's key, never an offset: a page stays the same when new jobs
arrive, and the database walks an index instead of counting rows (fast with 100,000 jobs).
Visibility is the SQL form of the authorisation matrix (``jobs_repo.visible_to``).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.jobs import Job, JobStateChange
from myriagate.db.models.users import User
from myriagate.db.repos import jobs as jobs_repo
from myriagate.domain.states import JobState
from myriagate.errors import FieldError, InvalidRequest, NotFound

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


@dataclass(frozen=True)
class JobView:
    """A job with its owner's username (the API shows people by name, not by id)."""

    job: Job
    owner: str


@dataclass(frozen=True)
class JobDetailView(JobView):
    history: Sequence[JobStateChange]


@dataclass(frozen=True)
class JobPageView:
    items: list[JobView]
    next_cursor: str | None


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
            "the cursor is not one this gateway handed out; start again without it",
            fields=[FieldError(("query", "cursor"), "invalid cursor")],
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
    items = [JobView(job=job, owner=owner) for job, owner in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1].job
        next_cursor = encode_cursor(last.created_at, last.id)
    return JobPageView(items=items, next_cursor=next_cursor)


def get_job(session: Session, *, job_id: uuid.UUID, user: User) -> JobView:
    """The job if ``user`` may see it; NotFound otherwise, exactly as for a missing job."""
    stmt = (
        sa.select(Job, User.username)
        .join(User, User.id == Job.user_id)
        .where(Job.id == job_id, jobs_repo.visible_to(user))
    )
    row = session.execute(stmt).one_or_none()
    if row is None:
        raise NotFound(f"no job {job_id}")
    return JobView(job=row[0], owner=row[1])


def get_job_detail(session: Session, *, job_id: uuid.UUID, user: User) -> JobDetailView:
    """The job, its owner and its state history (oldest first)."""
    view = get_job(session, job_id=job_id, user=user)
    return JobDetailView(job=view.job, owner=view.owner, history=jobs_repo.history(session, job_id))


def owner_of(session: Session, job: Job) -> str:
    """The username of ``job``'s owner (for a job a service just returned)."""
    return session.scalars(sa.select(User.username).where(User.id == job.user_id)).one()
