"""Server-side web sessions, found by the hash of their cookie value."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.auth import WebSession


def add(
    session: Session,
    *,
    id_hash: str,
    user_id: uuid.UUID,
    csrf_token: str,
    created_at: datetime,
    expires_at: datetime,
) -> WebSession:
    web_session = WebSession(
        id_hash=id_hash,
        user_id=user_id,
        csrf_token=csrf_token,
        created_at=created_at,
        expires_at=expires_at,
    )
    session.add(web_session)
    session.flush()
    return web_session


def get(session: Session, id_hash: str) -> WebSession | None:
    return session.get(WebSession, id_hash)


def delete(session: Session, id_hash: str) -> bool:
    result = session.execute(sa.delete(WebSession).where(WebSession.id_hash == id_hash))
    return bool(getattr(result, "rowcount", 0))


def delete_expired(session: Session, *, now: datetime) -> int:
    """Remove sessions past their expiry; returns how many."""
    result = session.execute(sa.delete(WebSession).where(WebSession.expires_at <= now))
    return int(getattr(result, "rowcount", 0))
