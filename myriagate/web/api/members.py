"""``/projects/{cluster}/{account}/members``: a project's members, and adding one by username.

Reading is for the project's leads, its institution's admins and platform admins; adding is
the memberships API's rule (``services.people.members``). Removing is
``DELETE /users/{user_id}/memberships/{cluster}/{account}`` (``web.api.users``), which answers
409 ``member_has_active_jobs`` with the jobs still queued or running unless ``confirm=true``.
"""

from __future__ import annotations

from fastapi import APIRouter

from myriagate.services.people import members as members_service
from myriagate.services.people.member_jobs import ActiveJob
from myriagate.web.api.schemas import ActiveJobOut, MemberIn, ProjectMemberOut, ProjectMembersOut
from myriagate.web.deps import ClockDep, CurrentUser, DbSession
from myriagate.web.problems import problem_responses
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, tags=["users"])


def job_out(job: ActiveJob) -> ActiveJobOut:
    return ActiveJobOut(
        id=job.job_id,
        short_id=job.short_id,
        slurm_job_id=job.slurm_job_id,
        name=job.job_name,
        state=job.state,
        submitted_at=job.submitted_at,
    )


def member_out(member: members_service.Member) -> ProjectMemberOut:
    return ProjectMemberOut(
        user_id=member.user_id,
        username=member.username,
        display_name=member.display_name,
        cluster_login=member.cluster_login,
        role=member.role.value,
        is_active=member.is_active,
        queued_jobs=member.queued,
        running_jobs=member.running,
        jobs=[job_out(j) for j in member.jobs],
        removable=member.removable,
    )


def members_out(found: members_service.ProjectMembers) -> ProjectMembersOut:
    project = found.project
    return ProjectMembersOut(
        cluster=project.cluster,
        account=project.slurm_account,
        name=project.name,
        institution=project.institution,
        can_add=found.can_add,
        members=[member_out(m) for m in found.members],
    )


@router.get("/projects/{cluster}/{account}/members", responses=problem_responses(403, 404))
def list_members(cluster: str, account: str, user: CurrentUser, db: DbSession) -> ProjectMembersOut:
    """The project's members, each with their jobs queued or running in it (its leads, its
    institution's admins, platform admins)."""
    return members_out(members_service.list_members(db, user, cluster, account))


@router.post(
    "/projects/{cluster}/{account}/members", status_code=201, responses=problem_responses(403, 404, 409, 422)
)
def add_member(
    cluster: str, account: str, body: MemberIn, user: CurrentUser, db: DbSession, clock: ClockDep
) -> ProjectMemberOut:
    """Add the user named ``username`` (the memberships API's rule: platform admins, the
    university admin of the project's institution for their institution's users); audited."""
    membership = members_service.add_member(
        db, user, cluster, account, username=body.username, role=body.role, clock=clock
    )
    found = members_service.list_members(db, user, cluster, account)
    return member_out(next(m for m in found.members if m.user_id == membership.user_id))
