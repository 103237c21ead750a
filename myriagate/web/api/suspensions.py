"""``/projects/{cluster}/{account}/suspension``: suspend a project by hand, and lift it.

Who may is decided in ``services.allocations.suspension`` (the project's institution's admins
and platform admins change it; its members see it). While suspended, every new submission for
the project answers 409 ``project_suspended`` with the admin's reason; jobs already queued or
running are not touched (the answer counts them), and ``admin slurm-sync`` pauses its account.
"""

from __future__ import annotations

from fastapi import APIRouter

from myriagate.services.allocations import suspension as suspensions
from myriagate.web.api.allocation_schemas import SuspensionIn, SuspensionOut
from myriagate.web.deps import ClockDep, CurrentUser, DbSession
from myriagate.web.problems import problem_responses
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, tags=["allocations"])

PATH = "/projects/{cluster}/{account}/suspension"


def suspension_out(found: suspensions.Suspension) -> SuspensionOut:
    return SuspensionOut(
        cluster=found.cluster,
        account=found.slurm_account,
        institution=found.institution,
        suspended=found.suspended,
        suspended_at=found.suspended_at,
        suspended_by=found.suspended_by,
        reason=found.reason,
        queued_jobs=found.queued_jobs,
        running_jobs=found.running_jobs,
        can_change=found.can_change,
    )


@router.get(PATH, responses=problem_responses(403, 404))
def get_suspension(cluster: str, account: str, user: CurrentUser, db: DbSession) -> SuspensionOut:
    """Whether the project is suspended, since when, by whom and why (its members, its
    institution's admins, platform admins)."""
    return suspension_out(suspensions.status(db, user, cluster, account))


@router.post(PATH, status_code=201, responses=problem_responses(403, 404, 409, 422))
def suspend_project(
    cluster: str, account: str, body: SuspensionIn, user: CurrentUser, db: DbSession, clock: ClockDep
) -> SuspensionOut:
    """Suspend the project now, with a reason shown to its researchers: every new submission for
    it is refused (409 ``project_suspended``). Jobs already queued or running are not touched
    (counted in the answer). Already suspended: 409, nothing changed. Audited."""
    return suspension_out(suspensions.suspend(db, user, cluster, account, reason=body.reason, clock=clock))


@router.post(PATH + "/lift", responses=problem_responses(403, 404, 409, 422))
def resume_project(
    cluster: str, account: str, body: SuspensionIn, user: CurrentUser, db: DbSession, clock: ClockDep
) -> SuspensionOut:
    """Lift the project's suspension (with a reason, audited with the suspension lifted); not
    suspended: 409, nothing changed."""
    return suspension_out(suspensions.resume(db, user, cluster, account, reason=body.reason, clock=clock))
