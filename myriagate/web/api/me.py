"""``/me``: who the caller is — roles, memberships, cluster login (``myriagate whoami``)."""

from __future__ import annotations

from fastapi import APIRouter

from myriagate.web.api.schemas import UserOut
from myriagate.web.api.users import user_out
from myriagate.web.deps import CurrentUser
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, tags=["me"])


@router.get("/me")
def me(user: CurrentUser) -> UserOut:
    return user_out(user)
