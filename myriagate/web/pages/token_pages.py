"""Personal API tokens: create (the secret shown once, with the ``myriagate login`` line to
copy) and revoke, through ``services.people.auth`` as ``/api/v1/tokens`` does."""

from __future__ import annotations

import shlex
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from myriagate.errors import InvalidRequest
from myriagate.services.people import auth as auth_service
from myriagate.web.api.schemas import TokenIn
from myriagate.web.deps import ClockDep, DbSession, SettingsDep
from myriagate.web.pages.deps import PageUser
from myriagate.web.pages.forms import errors_by_field, form_fields, pydantic_fields, see_other
from myriagate.web.pages.rendering import render
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, include_in_schema=False)


def _page(request: Request, page: PageUser, db: DbSession, **context: Any) -> Response:
    tokens = auth_service.list_tokens(db, page.user)
    context.setdefault("values", {"name": "", "expires_in_days": "90"})
    context.setdefault("errors", {})
    return render(request, "tokens.html", tokens=tokens, **context)


@router.get("/tokens")
def tokens_page(request: Request, page: PageUser, db: DbSession) -> Response:
    return _page(request, page, db)


@router.post("/tokens")
async def create_token(
    request: Request, page: PageUser, db: DbSession, settings: SettingsDep, clock: ClockDep
) -> Response:
    values = await form_fields(request)
    try:
        body = TokenIn.model_validate(
            {"name": values.get("name", "").strip(), "expires_in_days": values.get("expires_in_days") or 90}
        )
        new = auth_service.create_token(
            db, page.user, name=body.name, expires_in_days=body.expires_in_days,
            max_days=settings.token_max_days, clock=clock,
        )  # fmt: skip
    except ValidationError as exc:
        return _page(request, page, db, values=values, errors=errors_by_field(pydantic_fields(exc)))
    except InvalidRequest as exc:
        return _page(request, page, db, values=values, errors=errors_by_field(exc.fields))
    base_url = str(request.base_url).rstrip("/")
    login_line = shlex.join(["myriagate", "login", "--url", base_url, "--token", new.secret])
    return _page(request, page, db, created=new.token, secret=new.secret, login_line=login_line)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(token_id: UUID, page: PageUser, db: DbSession, clock: ClockDep) -> Response:
    auth_service.revoke_token(db, page.user, token_id, clock=clock)
    return see_other("/tokens")
