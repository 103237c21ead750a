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


def between(
    session: Session, user_id: uuid.UUID, low: uuid.UUID, high: uuid.UUID, limit: int
) -> list[tuple[InteractiveSession, Job]]:
    """The user's sessions whose id lies in ``[low, high]`` (an id prefix), newest first."""
    rows = session.execute(
        sa.select(InteractiveSession, Job)
        .join(Job, Job.id == InteractiveSession.job_id)
        .where(InteractiveSession.user_id == user_id, InteractiveSession.id.between(low, high))
        .order_by(InteractiveSession.created_at.desc(), InteractiveSession.id.desc())
        .limit(limit)
    )
    return [(row[0], row[1]) for row in rows]


def ids_of_user(session: Session, user_id: uuid.UUID) -> list[uuid.UUID]:
    """Every session id of the user (what a short id must tell apart)."""
    stmt = sa.select(InteractiveSession.id).where(InteractiveSession.user_id == user_id)
    return list(session.scalars(stmt))
