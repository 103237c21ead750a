"""A session as its owner sees it: its state, time left, idle timeout, short ids, and what went
wrong when it does not run as asked (docs/interactive.md, "Debugging a failed start")."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from myriagate.db.models.interactive import InteractiveSession
from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.domain import interactive
from myriagate.domain.interactive import SessionState, Trouble
from myriagate.domain.states import JobState
from myriagate.errors import Text
from myriagate.services.interactive import lookup
from myriagate.services.jobs import lookup as job_lookup


@dataclass(frozen=True)
class SessionView:
    """A session as its owner sees it."""

    id: uuid.UUID
    short_id: str  # the shortest unique prefix among the owner's sessions (8+ hex digits)
    app: str
    cluster: str
    state: SessionState
    job_id: uuid.UUID
    job_short_id: str  # what `myriagate jobs logs` takes
    slurm_job_id: str | None
    job_state: JobState
    exit_code: int | None
    reason: str | None  # why it waits (Slurm's pending reason), while queued
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    time_limit_s: int | None
    remaining_s: int | None
    idle_timeout_s: int | None  # None: the app stops only when its time is up
    trouble: Text | None  # why it failed to start, stopped by itself, or is slow to start
    stopping: bool  # Stop was asked; the session ends once Slurm confirms
    url: str  # where Connect goes (the proxy), meaningful once running


def views_of(
    session: Session, user: User, pairs: Sequence[tuple[InteractiveSession, Job]], now: datetime
) -> list[SessionView]:
    """The views of ``user``'s sessions, with their short ids and their jobs' (two queries)."""
    short = lookup.short_ids(session, user=user, session_ids=[row.id for row, _ in pairs])
    job_short = job_lookup.short_ids(session, user=user, job_ids=[job.id for _, job in pairs])
    return [_view(row, job, now, short[row.id], job_short.get(job.id, job.id.hex[:8])) for row, job in pairs]


def _asked_limit(job: Job) -> int | None:
    asked = job.spec.get("time_limit_s") if isinstance(job.spec, dict) else None
    return asked if isinstance(asked, int) else None


def _view(row: InteractiveSession, job: Job, now: datetime, short_id: str, job_short_id: str) -> SessionView:
    connected = row.connected_at is not None
    state = interactive.session_state(job.state, connected=row.host is not None)
    # Slurm's own limit once tracked, else the one asked for (the profile's default filled in).
    limit = job.time_limit_s or _asked_limit(job)
    left = None if state is SessionState.ENDED else interactive.remaining(job.started_at, limit, now)
    # The refusal was stored in English: its msgid, which the reader's catalog translates.
    problem = Text(row.problem) if row.problem else None
    trouble = interactive.trouble_text(
        Trouble(job.state, connected, job.exit_code, job.started_at, problem), now
    )
    return SessionView(
        id=row.id, short_id=short_id, app=row.app, cluster=row.cluster, state=state, job_id=job.id,
        job_short_id=job_short_id, slurm_job_id=job.slurm_job_id, job_state=job.state,
        exit_code=job.exit_code, reason=job.reason if state is SessionState.QUEUED else None,
        created_at=row.created_at, started_at=job.started_at, ended_at=job.ended_at, time_limit_s=limit,
        remaining_s=None if left is None else int(left.total_seconds()), idle_timeout_s=row.idle_timeout_s,
        trouble=trouble, stopping=row.stop_requested_at is not None and state is not SessionState.ENDED,
        url=f"/interactive/{row.id}/",
    )  # fmt: skip
