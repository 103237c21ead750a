"""A project's members, as its lead and its admins see and change them (pages, API, CLI).

Who sees the list: a platform admin, the university admin of the project's institution and the
project's own leads (read-only: they already see every job of the project). Who changes it is
exactly who the memberships API lets (``services.people.users``): platform admins, and the
university admin of the project's institution for the users of their institution. Each member
comes with their jobs still queued or running in the project, and whether the reader may remove
them; adding is by username, and every change is audited as the API's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.clock import SystemClock
from myriagate.db.models.users import Membership, MembershipRole, Project, User
from myriagate.db.repos import projects as projects_repo
from myriagate.db.repos import users as users_repo
from myriagate.errors import FieldError, InvalidRequest, NotFound, PermissionDenied, Text
from myriagate.ports import Clock
from myriagate.services.common import authz
from myriagate.services.people import member_jobs
from myriagate.services.people import users as people
from myriagate.services.people.member_jobs import ActiveJob

_SYSTEM_CLOCK = SystemClock()
MAX_USERNAME = 255  # the column's length: a longer name cannot be anybody's


@dataclass(frozen=True)
class Member:
    """One member of the project, their role, their jobs in it, and whether the reader may remove them."""

    user_id: uuid.UUID
    username: str
    display_name: str
    cluster_login: str
    role: MembershipRole
    is_active: bool
    jobs: list[ActiveJob]
    removable: bool

    @property
    def queued(self) -> int:
        return sum(1 for job in self.jobs if job.queued)

    @property
    def running(self) -> int:
        return len(self.jobs) - self.queued


@dataclass(frozen=True)
class ProjectMembers:
    project: Project
    members: list[Member]
    can_add: bool  # the reader may add members (and remove those of ``removable``)


def project_of(session: Session, actor: User, cluster: str, slurm_account: str) -> Project:
    """The project, if ``actor`` may see its members: 404 when unknown, 403 when not theirs."""
    project = projects_repo.get_project(session, cluster, slurm_account)
    if project is None:
        raise NotFound(Text("no project %(account)s on %(cluster)s", account=slurm_account, cluster=cluster))
    if not (
        authz.can_manage_membership(actor, project_institution=project.institution)
        or (cluster, slurm_account) in actor.led_accounts()
    ):
        raise PermissionDenied(
            Text("only the project's leads, its institution's admins and platform admins see its members")
        )
    return project


def list_members(session: Session, actor: User, cluster: str, slurm_account: str) -> ProjectMembers:
    """The project's members by username, each with their jobs queued or running in it."""
    project = project_of(session, actor, cluster, slurm_account)
    stmt = (
        sa.select(User, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.project_id == project.id)
        .order_by(User.username)
    )
    rows = list(session.execute(stmt))
    jobs = member_jobs.active_jobs(session, actor, [user.id for user, _ in rows],
                                   cluster=cluster, slurm_account=slurm_account)  # fmt: skip
    manages = authz.can_manage_membership(actor, project_institution=project.institution)
    members = [
        Member(
            user.id,
            user.username,
            user.display_name,
            user.cluster_login,
            role,
            user.is_active,
            jobs.get(user.id, []),
            manages and authz.can_view_user(actor, user),
        )
        for user, role in rows
    ]
    return ProjectMembers(project, members, can_add=manages)


def add_member(
    session: Session,
    actor: User,
    cluster: str,
    slurm_account: str,
    *,
    username: str,
    role: str = MembershipRole.RESEARCHER.value,
    clock: Clock = _SYSTEM_CLOCK,
    source: str = "api",
) -> Membership:
    """Make the user named ``username`` a member (the memberships API's rules and audit).

    The reader's right over the project is checked before the name is looked up, so names
    cannot be probed through a project one may not manage; a user the reader may not see is
    "no such user", as one that does not exist.
    """
    project = project_of(session, actor, cluster, slurm_account)
    if not authz.can_manage_membership(actor, project_institution=project.institution):
        raise PermissionDenied(
            Text("only the project's institution's admins and platform admins add members")
        )
    name = username.strip()
    # Control characters are nobody's name (and PostgreSQL refuses a NUL in any text).
    if not name or len(name) > MAX_USERNAME or any(ord(c) < 32 or ord(c) == 127 for c in name):
        said = Text(
            "give a username of 1 to %(n)s characters, none of them a control character", n=MAX_USERNAME
        )
        raise InvalidRequest(said, fields=[FieldError(("username",), said)])
    user = users_repo.get_by_username(session, name)
    if user is None or not authz.can_view_user(actor, user):
        said = Text("no user named %(username)s", username=name)
        raise NotFound(said, fields=[FieldError(("username",), said)])
    if role not in {r.value for r in MembershipRole}:
        said = Text("a member is a researcher or a project lead")
        raise InvalidRequest(said, fields=[FieldError(("role",), said)])
    return people.add_membership(session, actor, user.id, cluster=cluster, slurm_account=slurm_account,
                                 role=role, clock=clock, source=source)  # fmt: skip


def remove_member(
    session: Session,
    actor: User,
    cluster: str,
    slurm_account: str,
    user_id: uuid.UUID,
    *,
    confirm: bool,
    clock: Clock = _SYSTEM_CLOCK,
    source: str = "api",
) -> list[ActiveJob]:
    """``people.remove_membership`` (its rules, its 409 for jobs still queued or running)."""
    project_of(session, actor, cluster, slurm_account)
    return people.remove_membership(session, actor, user_id, cluster=cluster, slurm_account=slurm_account,
                                    confirm=confirm, clock=clock, source=source)  # fmt: skip
