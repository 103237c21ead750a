"""``/tokens``: personal API tokens (what ``myriagate login`` creates). The secret is shown once."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from myriagate.services.people import auth as auth_service
from myriagate.web.api.schemas import TokenCreated, TokenIn, TokenOut
from myriagate.web.deps import ClockDep, CurrentUser, DbSession, LoginIdentity, SettingsDep
from myriagate.web.problems import problem_responses
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, tags=["tokens"])


@router.post("/tokens", status_code=201, responses=problem_responses(403, 422))
def create_token(
    body: TokenIn, identity: LoginIdentity, db: DbSession, settings: SettingsDep, clock: ClockDep
) -> TokenCreated:
    """Create a token; HTTP Basic (username + local password) is accepted here."""
    new = auth_service.create_token(
        db,
        identity.user,
        name=body.name,
        expires_in_days=body.expires_in_days,
        max_days=settings.token_max_days,
        clock=clock,
    )
    return TokenCreated(**TokenOut.model_validate(new.token).model_dump(), token=new.secret)


@router.get("/tokens")
def list_tokens(user: CurrentUser, db: DbSession) -> list[TokenOut]:
    """The caller's tokens, newest first, without their secrets."""
    return [TokenOut.model_validate(t) for t in auth_service.list_tokens(db, user)]


@router.delete("/tokens/{token_id}", status_code=204, responses=problem_responses(404))
def revoke_token(token_id: UUID, user: CurrentUser, db: DbSession, clock: ClockDep) -> Response:
    """Revoke one of the caller's tokens; revoking it again is fine."""
    auth_service.revoke_token(db, user, token_id, clock=clock)
    return Response(status_code=204)
