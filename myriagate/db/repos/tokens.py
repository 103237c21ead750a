"""Personal API tokens, found by the hash of their secret."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from myriagate.db.models.auth import ApiToken
from myriagate.db.models.users import User


def add(
    session: Session,
    *,
    user_id: uuid.UUID,
    name: str,
    prefix: str,
    token_hash: str,
    created_at: datetime,
    expires_at: datetime,
) -> ApiToken:
    token = ApiToken(
        user_id=user_id,
        name=name,
        prefix=prefix,
        token_hash=token_hash,
        created_at=created_at,
        expires_at=expires_at,
        last_used_at=None,
        revoked_at=None,
    )
    session.add(token)
    session.flush()
    return token


def by_hash(session: Session, token_hash: str) -> ApiToken | None:
    """The token with its owner and the owner's memberships, in one statement: every
    authenticated API request starts here, and authorisation reads the memberships."""
    return session.scalars(_BY_HASH, {"token_hash": token_hash}).unique().one_or_none()


# Built once: building it (the eager-load options) and computing its cache key cost more
# than running it, and every authenticated request runs it.
_BY_HASH = (
    sa.select(ApiToken)
    .where(ApiToken.token_hash == sa.bindparam("token_hash", type_=sa.String()))
    .options(joinedload(ApiToken.user).joinedload(User.memberships))
)


def get_owned(session: Session, token_id: uuid.UUID, user_id: uuid.UUID) -> ApiToken | None:
    """The token if it belongs to ``user_id`` (someone else's token is as good as absent)."""
    stmt = sa.select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id)
    return session.scalars(stmt).one_or_none()


def for_user(session: Session, user_id: uuid.UUID) -> list[ApiToken]:
    """A user's tokens, newest first."""
    stmt = (
        sa.select(ApiToken)
        .where(ApiToken.user_id == user_id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id)
    )
    return list(session.scalars(stmt))


def touch(session: Session, token_id: uuid.UUID, *, now: datetime, not_since: datetime) -> bool:
    """Set ``last_used_at = now`` unless it was set after ``not_since``; True when written.

    Conditional, so concurrent requests with the same token write at most once.
    """
    stmt = (
        sa.update(ApiToken)
        .where(
            ApiToken.id == token_id,
            sa.or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < not_since),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    result = session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))
