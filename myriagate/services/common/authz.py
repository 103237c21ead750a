"""Who may see and do what: the one place the authorisation matrix lives (docs/api.md).

Every check takes the acting user and the object; list queries use the matching SQL filter
in ``db.repos.jobs.visible_to``. Something a user may not see answers NotFound, exactly like
something that does not exist, so ids cannot be probed.
"""

from __future__ import annotations

import uuid
from typing import Literal, Protocol

from myriagate.db.models.users import User
from myriagate.errors import PermissionDenied

Role = Literal["researcher", "project_lead", "university_admin", "platform_admin"]


class JobScope(Protocol):
    """What the job rules read: a job row or its read model (``jobs.queries.JobRecord``)."""

    @property
    def user_id(self) -> uuid.UUID: ...
    @property
    def cluster(self) -> str: ...
    @property
    def slurm_account(self) -> str | None: ...


def roles_of(user: User) -> list[Role]:
    """The user's roles, least powerful first."""
    roles: list[Role] = ["researcher"]
    if user.led_accounts():
        roles.append("project_lead")
    if user.university_admin_of:
        roles.append("university_admin")
    if user.is_platform_admin:
        roles.append("platform_admin")
    return roles


def can_view_job(user: User, job: JobScope, *, job_institution: str | None) -> bool:
    """Owner, a lead of the job's project, an admin of its institution, a platform admin."""
    if user.is_platform_admin or job.user_id == user.id:
        return True
    if (job.cluster, job.slurm_account) in user.led_accounts():
        return True
    return user.university_admin_of is not None and user.university_admin_of == job_institution


def can_act_on_job(user: User, job: JobScope) -> bool:
    """Cancel it or read its output: the owner, a lead of its project, a platform admin.

    University admins see their institution's jobs but do not act on them (read-only).
    """
    if user.is_platform_admin or job.user_id == user.id:
        return True
    return (job.cluster, job.slurm_account) in user.led_accounts()


def require_act_on_job(user: User, job: JobScope) -> None:
    if not can_act_on_job(user, job):
        raise PermissionDenied("only the job's owner, its project's lead or a platform admin can do this")


def can_view_user(actor: User, target: User) -> bool:
    if actor.is_platform_admin or actor.id == target.id:
        return True
    return actor.university_admin_of is not None and actor.university_admin_of == target.institution


def require_platform_admin(actor: User) -> None:
    if not actor.is_platform_admin:
        raise PermissionDenied("only a platform admin can do this")


def can_manage_membership(actor: User, *, project_institution: str | None) -> bool:
    """Platform admins everywhere; university admins for their institution's projects."""
    if actor.is_platform_admin:
        return True
    return actor.university_admin_of is not None and actor.university_admin_of == project_institution
