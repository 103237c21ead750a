"""Statements on ``interactive_sessions``: a user's own sessions, and one with its job."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.interactive import InteractiveSession
from myriagate.db.models.jobs import Job


def own_with_job(
    session: Session, session_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[InteractiveSession, Job] | None:
    """The session and its job if ``user_id`` started it; anybody else's reads as missing."""
    row = session.execute(
        sa.select(InteractiveSession, Job)
        .join(Job, Job.id == InteractiveSession.job_id)
        .where(InteractiveSession.id == session_id, InteractiveSession.user_id == user_id)
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def of_user(session: Session, user_id: uuid.UUID, limit: int = 100) -> list[tuple[InteractiveSession, Job]]:
    """The user's sessions with their jobs, newest first."""
    rows = session.execute(
        sa.select(InteractiveSession, Job)
        .join(Job, Job.id == InteractiveSession.job_id)
        .where(InteractiveSession.user_id == user_id)
        .order_by(InteractiveSession.created_at.desc())
        .limit(limit)
    )
    return [(row[0], row[1]) for row in rows]
