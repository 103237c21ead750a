"""Reading and creating users and their memberships."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.users import Membership, MembershipRole, Project, User


def get(session: Session, user_id: uuid.UUID) -> User | None:
    return session.get(User, user_id)


def get_by_username(session: Session, username: str) -> User | None:
    return session.scalars(sa.select(User).where(User.username == username)).one_or_none()


def add(
    session: Session,
    *,
    username: str,
    cluster_login: str,
    created_at: datetime,
    display_name: str = "",
    email: str | None = None,
) -> User:
    """A new active user (flushed, not committed)."""
    user = User(
        username=username,
        cluster_login=cluster_login,
        display_name=display_name,
        email=email,
        is_active=True,
        created_at=created_at,
        memberships=[],
    )
    session.add(user)
    session.flush()
    return user


def add_membership(
    session: Session,
    user: User,
    *,
    cluster: str,
    slurm_account: str,
    role: MembershipRole = MembershipRole.RESEARCHER,
) -> Membership:
    """Make ``user`` a member of the project (cluster, slurm_account), which must exist.

    Callers that take the pair from a request check the project first and answer its absence;
    here a missing project is a bug of the caller (LookupError).
    """
    stmt = sa.select(Project).where(Project.cluster == cluster, Project.slurm_account == slurm_account)
    project = session.scalars(stmt).one_or_none()
    if project is None:
        raise LookupError(f"no project {slurm_account!r} on cluster {cluster!r}: create it first")
    membership = Membership(project=project, role=role)
    user.memberships.append(membership)
    session.flush()
    return membership


def membership_of(user: User, cluster: str, slurm_account: str) -> Membership | None:
    """``user``'s membership of the project (cluster, slurm_account), from the loaded rows."""
    return next(
        (m for m in user.memberships if m.cluster == cluster and m.slurm_account == slurm_account), None
    )


def disabled_logins(session: Session) -> set[str]:
    """Cluster logins of disabled users that no active user shares."""
    inactive = set(session.scalars(sa.select(User.cluster_login).where(User.is_active.is_(False))))
    if not inactive:
        return set()
    active = set(
        session.scalars(
            sa.select(User.cluster_login).where(User.is_active.is_(True), User.cluster_login.in_(inactive))
        )
    )
    return inactive - active
