"""Managing people: users and their memberships, as the authorisation matrix allows.

Platform admins manage everyone; a university admin lists and sees their institution's users
and manages memberships of their institution's projects. A user the actor may not see is
NotFound (404), exactly like one that does not exist. Every change is audited in the same
transaction as the change itself.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.clock import SystemClock
from myriagate.db.models.users import Membership, MembershipRole, User
from myriagate.db.repos import projects as projects_repo
from myriagate.db.repos import users as users_repo
from myriagate.domain.email_addresses import EmailSource, checked_address
from myriagate.errors import AlreadyExists, FieldError, InvalidRequest, NotFound, PermissionDenied, Text
from myriagate.ports import Clock
from myriagate.services.common import audit, authz
from myriagate.services.people import member_jobs
from myriagate.services.people.auth import set_password
from myriagate.services.people.member_jobs import ActiveJob
from myriagate.settings import PASSWORD_HASH_COST

__all__ = ["Membership", "NewUser", "User"]

_SYSTEM_CLOCK = SystemClock()
# Fields a PATCH may change, besides the password (handled apart: hashed, never audited).
_PATCHABLE = ("display_name", "email", "is_active", "is_platform_admin", "university_admin_of")


@dataclass(frozen=True)
class NewUser:
    username: str
    cluster_login: str
    display_name: str = ""
    email: str | None = None
    institution: str | None = None
    password: str | None = None
    is_platform_admin: bool = False
    university_admin_of: str | None = None


def list_users(session: Session, actor: User, *, limit: int = 200, offset: int = 0) -> list[User]:
    """Everyone for a platform admin; a university admin's institution; others are refused."""
    stmt = sa.select(User).order_by(User.username).limit(limit).offset(offset)
    if not actor.is_platform_admin:
        if actor.university_admin_of is None:
            raise PermissionDenied("only university and platform admins can list users")
        stmt = stmt.where(User.institution == actor.university_admin_of)
    return list(session.scalars(stmt))


def get_user(session: Session, actor: User, user_id: uuid.UUID) -> User:
    user = users_repo.get(session, user_id)
    if user is None or not authz.can_view_user(actor, user):
        raise NotFound(f"no user {user_id}")
    return user


def create_user(
    session: Session,
    actor: User,
    new: NewUser,
    *,
    clock: Clock = _SYSTEM_CLOCK,
    password_cost: int = PASSWORD_HASH_COST,
    gateway_logins: frozenset[str] = frozenset(),
) -> User:
    """``gateway_logins``: the clusters' service and operator logins, never a person's."""
    authz.require_platform_admin(actor)
    if new.cluster_login in gateway_logins:
        raise InvalidRequest(
            Text(
                "%(login)s is the gateway's own cluster login: give this person their own",
                login=new.cluster_login,
            ),
            fields=[FieldError(("cluster_login",), "the gateway's own login")],
        )
    if users_repo.get_by_username(session, new.username) is not None:
        raise AlreadyExists(
            f"a user named {new.username!r} exists already",
            fields=[FieldError(("username",), "taken")],
        )
    now = clock.now()
    user = users_repo.add(
        session,
        username=new.username,
        cluster_login=new.cluster_login,
        created_at=now,
        display_name=new.display_name,
        email=checked_address(new.email, "email") if new.email else None,
    )
    user.email_source = EmailSource.ADMIN if user.email else None
    user.institution = new.institution
    user.is_platform_admin = new.is_platform_admin
    user.university_admin_of = new.university_admin_of
    if new.password is not None:
        set_password(user, new.password, cost=password_cost)
    detail = {
        "username": new.username,
        "cluster_login": new.cluster_login,
        "institution": new.institution,
        "is_platform_admin": new.is_platform_admin,
        "university_admin_of": new.university_admin_of,
        "local_password": new.password is not None,
    }
    audit.record(session, actor.id, "user.create", ("user", user.id), detail, at=now)
    session.commit()
    return user


def patch_user(
    session: Session,
    actor: User,
    user_id: uuid.UUID,
    changes: dict[str, Any],
    *,
    clock: Clock = _SYSTEM_CLOCK,
    password_cost: int = PASSWORD_HASH_COST,
) -> User:
    """Apply the given fields (only those present in ``changes``); platform admins only."""
    user = get_user(session, actor, user_id)
    authz.require_platform_admin(actor)
    unknown = set(changes) - set(_PATCHABLE) - {"password"}
    if unknown:
        raise InvalidRequest(
            f"cannot change {', '.join(sorted(unknown))}",
            fields=[FieldError((name,), "not changeable") for name in sorted(unknown)],
        )
    if user.id == actor.id and (
        changes.get("is_platform_admin") is False or changes.get("is_active") is False
    ):
        # Otherwise the last platform admin could lock everyone out of user management.
        raise PermissionDenied("you cannot remove your own platform-admin role or disable yourself")
    if changes.get("email"):  # it reaches mail headers and sbatch's --mail-user: read strictly
        changes = {**changes, "email": checked_address(changes["email"], "email")}
    if "email" in changes and changes["email"] != user.email:
        # An administrator vouches for the address they set (docs/notifications.md).
        user.email_source = EmailSource.ADMIN if changes["email"] else None
        user.email_verified_at = None
    changed: dict[str, Any] = {}
    for name in _PATCHABLE:
        if name in changes and getattr(user, name) != changes[name]:
            changed[name] = {"from": getattr(user, name), "to": changes[name]}
            setattr(user, name, changes[name])
    if changes.get("password") is not None:
        set_password(user, changes["password"], cost=password_cost)
        changed["password"] = "changed"  # noqa: S105  (never the value, not even hashed)
    if changed:
        audit.record(session, actor.id, "user.update", ("user", user.id), changed, at=clock.now())
    session.commit()
    return user


def _managed_project_institution(session: Session, actor: User, cluster: str, account: str) -> str:
    """The institution of the project (cluster, account), if ``actor`` may manage its members."""
    if not (actor.is_platform_admin or actor.university_admin_of):
        raise PermissionDenied("only university and platform admins manage memberships")
    institution = projects_repo.institution_of(session, cluster, account)
    if institution is None:
        raise InvalidRequest(
            f"no project with Slurm account {account!r} on cluster {cluster!r}: "
            "a platform admin must register the project first",
            fields=[FieldError(("slurm_account",), "unknown project on this cluster")],
        )
    if not authz.can_manage_membership(actor, project_institution=institution):
        raise PermissionDenied(f"the project {account} on {cluster} belongs to another institution")
    return institution


def add_membership(
    session: Session,
    actor: User,
    user_id: uuid.UUID,
    *,
    cluster: str,
    slurm_account: str,
    role: str = MembershipRole.RESEARCHER.value,
    clock: Clock = _SYSTEM_CLOCK,
    source: str = "api",
) -> Membership:
    """Give a user a Slurm account on a cluster (the project must be registered).

    A university admin acts on users they can see (their institution's) and on projects of
    their institution; everything else needs a platform admin.
    """
    user = get_user(session, actor, user_id)
    _managed_project_institution(session, actor, cluster, slurm_account)
    if users_repo.membership_of(user, cluster, slurm_account) is not None:
        raise AlreadyExists(f"{user.username} is already a member of {slurm_account} on {cluster}")
    membership = users_repo.add_membership(
        session, user, cluster=cluster, slurm_account=slurm_account, role=MembershipRole(role)
    )
    detail = {"cluster": cluster, "slurm_account": slurm_account, "role": role}
    audit.record(session, actor.id, "membership.add", ("user", user.id), detail, source, at=clock.now())
    session.commit()
    return membership


def remove_membership(
    session: Session,
    actor: User,
    user_id: uuid.UUID,
    *,
    cluster: str,
    slurm_account: str,
    confirm: bool = False,
    clock: Clock = _SYSTEM_CLOCK,
    source: str = "api",
) -> list[ActiveJob]:
    """End a membership; the member's jobs queued or running in the project, which keep running.

    Unless ``confirm``, a member with such jobs is refused (MemberHasActiveJobs, 409, the jobs
    listed) and nothing changes: removing them cancels nothing, they stay charged to the project.
    """
    user = get_user(session, actor, user_id)
    membership = users_repo.membership_of(user, cluster, slurm_account)
    if membership is None:
        raise NotFound(f"{user.username} is not a member of {slurm_account} on {cluster}")
    if not actor.is_platform_admin:
        _managed_project_institution(session, actor, cluster, slurm_account)
    jobs = member_jobs.active_jobs(session, actor, [user.id], cluster=cluster, slurm_account=slurm_account)
    running_on = jobs.get(user.id, [])
    if running_on and not confirm:
        raise member_jobs.refusal(user.username, slurm_account, running_on)
    user.memberships.remove(membership)
    detail: dict[str, Any] = {
        "cluster": cluster,
        "slurm_account": slurm_account,
        "role": membership.role.value,
    }
    if running_on:  # what the remover was shown and confirmed
        detail["jobs_left_running"] = [str(job.job_id) for job in running_on]
    audit.record(session, actor.id, "membership.remove", ("user", user.id), detail, source, at=clock.now())
    session.commit()
    return running_on
