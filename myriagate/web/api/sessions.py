"""``/sessions``: web login and logout (the browser pages' session cookie and CSRF token).

``POST /sessions`` takes a username and local password (JSON body or HTTP Basic), or an
identity already asserted by the trusted single-sign-on proxy, and sets the session cookie
(``__Host-myriagate_session`` when cookies are secure, ``myriagate_session`` in dev mode:
``web.auth.session_cookie_name``); the CSRF token it returns must accompany every
state-changing request made with that cookie.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from myriagate.errors import NotAuthenticated
from myriagate.services.people import auth as auth_service
from myriagate.web import auth
from myriagate.web.api.schemas import LoginIn, SessionOut
from myriagate.web.deps import ClockDep, CurrentIdentity, DbSession, SettingsDep
from myriagate.web.problems import problem_responses
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, tags=["sessions"])


@router.post("/sessions", status_code=201, responses=problem_responses(401, 422))
async def open_session(
    request: Request,
    response: Response,
    db: DbSession,
    settings: SettingsDep,
    clock: ClockDep,
    body: LoginIn | None = None,
) -> SessionOut:
    """Log in: sets the session cookie and returns the session's CSRF token."""
    if body is not None:
        user = await run_in_threadpool(auth_service.authenticate_password, db, body.username, body.password)
    else:
        identity = await auth.authenticate(request, db, settings, allow_basic=True, csrf_exempt=True)
        user = identity.user
    new = await run_in_threadpool(
        lambda: auth_service.create_web_session(db, user, ttl_s=settings.session_ttl_s, clock=clock)
    )
    auth.set_session_cookie(response, new, settings)
    return SessionOut(username=user.username, csrf_token=new.csrf_token, expires_at=new.expires_at)


@router.delete("/sessions", status_code=204, responses=problem_responses(401, 403))
def close_session(identity: CurrentIdentity, db: DbSession, settings: SettingsDep) -> Response:
    """Log out: the session is deleted on the server and the cookie cleared."""
    if identity.cookie_value is None:
        raise NotAuthenticated("no web session to close (log in with POST /api/v1/sessions)")
    auth_service.end_web_session(db, identity.cookie_value)
    response = Response(status_code=204)
    auth.clear_session_cookie(response, settings)
    return response
