"""``/users``: list, create, show and change users, and manage their memberships.

University admins see their institution's users and manage memberships of their
institution's projects; platform admins do everything (``services.people.users`` decides). A user
the caller may not see answers 404, like a missing one.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response

from myriagate.profiles.logins import gateway_logins
from myriagate.services.common import authz
from myriagate.services.people import users as people
from myriagate.web.api import members
from myriagate.web.api.schemas import MembershipIn, MembershipOut, UserIn, UserOut, UserPatch
from myriagate.web.deps import ClockDep, CurrentUser, DbSession, GatewayDep, SettingsDep
from myriagate.web.problems import problem_responses
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, tags=["users"])
router.include_router(members.router)  # /projects/{cluster}/{account}/members: one project's side


def user_out(user: people.User) -> UserOut:
    """The API view of a user: never the password hash."""
    return UserOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        email=user.email,
        cluster_login=user.cluster_login,
        institution=user.institution,
        roles=authz.roles_of(user),
        is_active=user.is_active,
        memberships=[MembershipOut.model_validate(m) for m in user.memberships],
    )


@router.get("/users", responses=problem_responses(403))
def list_users(
    user: CurrentUser,
    db: DbSession,
    limit: Annotated[int, Query(ge=1, le=200)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[UserOut]:
    """Users: all of them for a platform admin, their institution's for a university admin."""
    return [user_out(u) for u in people.list_users(db, user, limit=limit, offset=offset)]


@router.post("/users", status_code=201, responses=problem_responses(403, 409, 422))
def create_user(
    body: UserIn,
    user: CurrentUser,
    db: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    gateway: GatewayDep,
) -> UserOut:
    """Create a user (platform admins). Without ``password`` the user signs in through SSO only."""
    new = people.NewUser(**body.model_dump())
    own = frozenset().union(*(gateway_logins(p) for p in gateway.profiles.values()))
    created = people.create_user(
        db, user, new, clock=clock, password_cost=settings.password_hash_cost, gateway_logins=own
    )
    return user_out(created)


@router.get("/users/{user_id}", responses=problem_responses(404))
def get_user(user_id: UUID, user: CurrentUser, db: DbSession) -> UserOut:
    return user_out(people.get_user(db, user, user_id))


@router.patch("/users/{user_id}", responses=problem_responses(403, 404, 422))
def patch_user(
    user_id: UUID, body: UserPatch, user: CurrentUser, db: DbSession, clock: ClockDep, settings: SettingsDep
) -> UserOut:
    """Change the fields sent (platform admins); fields left out are unchanged."""
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    cost = settings.password_hash_cost
    return user_out(people.patch_user(db, user, user_id, changes, clock=clock, password_cost=cost))


@router.post("/users/{user_id}/memberships", status_code=201, responses=problem_responses(403, 404, 409, 422))
def add_membership(
    user_id: UUID, body: MembershipIn, user: CurrentUser, db: DbSession, clock: ClockDep
) -> MembershipOut:
    """Give the user a Slurm account on a cluster; the project must be registered (else 422)."""
    membership = people.add_membership(
        db, user, user_id, cluster=body.cluster, slurm_account=body.slurm_account, role=body.role, clock=clock
    )
    return MembershipOut.model_validate(membership)


@router.delete(
    "/users/{user_id}/memberships/{cluster}/{account}",
    status_code=204,
    responses=problem_responses(403, 404, 409),
)
def remove_membership(
    user_id: UUID,
    cluster: str,
    account: str,
    user: CurrentUser,
    db: DbSession,
    clock: ClockDep,
    confirm: Annotated[bool, Query(description="Remove even with jobs queued or running")] = False,
) -> Response:
    """End a membership. A member with jobs queued or running in the project: 409
    ``member_has_active_jobs`` listing them (``jobs``), nothing changed, unless ``confirm=true``;
    removing cancels nothing: those jobs keep running, charged to the project."""
    people.remove_membership(
        db, user, user_id, cluster=cluster, slurm_account=account, confirm=confirm, clock=clock
    )
    return Response(status_code=204)
