"""Logging in and out of the pages, and switching language.

Login is a form post of username and local password. The login form has no session yet, so
its CSRF protection is a double-submit token: a random value in a short-lived cookie and in
a hidden field, which must match (a foreign site can make a browser post, not read the
cookie). A successful login opens a web session with ``services.people.auth`` (the same sessions as
``POST /api/v1/sessions``) and sets its cookie; logout deletes it on the server.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from myriagate.errors import CsrfRejected, NotAuthenticated, Text
from myriagate.services.people import auth as auth_service
from myriagate.web import auth, i18n
from myriagate.web.deps import ClockDep, DbSession, SettingsDep
from myriagate.web.pages.deps import PageUser
from myriagate.web.pages.forms import form_fields, local_path, see_other
from myriagate.web.pages.rendering import render
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, include_in_schema=False)

# ``__Host-myriagate_login_csrf`` when cookies are secure (``auth.cookie_name``): an app's host
# under the gateway's name could otherwise set the plain one on the parent domain and post the
# form with its value and someone else's password, signing the browser in as them.
LOGIN_CSRF_COOKIE = auth.GATEWAY_COOKIE_PREFIX + "login_csrf"
_ONE_YEAR_S = 365 * 24 * 3600


def _login_form(request: Request, *, next_path: str, username: str = "", error: str | None = None,
                status: int = 200) -> Response:  # fmt: skip
    token = secrets.token_urlsafe(32)
    response = render(
        request, "login.html", status=status, next_path=next_path, username=username, error=error,
        login_csrf=token,
    )  # fmt: skip
    settings = request.app.state.gateway.settings
    # Path=/, as a __Host- cookie must have; it lives an hour at most and login deletes it.
    response.set_cookie(
        auth.cookie_name(LOGIN_CSRF_COOKIE, settings), token, max_age=3600, path="/", httponly=True,
        samesite="strict", secure=settings.secure_cookies,
    )  # fmt: skip
    return response


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    return _login_form(request, next_path=local_path(next))


@router.post("/login")
async def login(request: Request, db: DbSession, settings: SettingsDep, clock: ClockDep) -> Response:
    fields = await form_fields(request)
    expected = request.cookies.get(auth.cookie_name(LOGIN_CSRF_COOKIE, settings), "")
    provided = fields.get("csrf_token", "")
    if not expected or not hmac.compare_digest(expected.encode(), provided.encode()):
        raise CsrfRejected(Text("missing or wrong CSRF token: reload the page and try again"))
    next_path = local_path(fields.get("next"))
    username = fields.get("username", "").strip()
    try:
        user = await run_in_threadpool(
            auth_service.authenticate_password, db, username, fields.get("password", "")
        )
    except NotAuthenticated:
        return _login_form(
            request, next_path=next_path, username=username, error="Wrong username or password.", status=401
        )
    new = await run_in_threadpool(
        lambda: auth_service.create_web_session(db, user, ttl_s=settings.session_ttl_s, clock=clock)
    )
    response = see_other(next_path)
    auth.set_session_cookie(response, new, settings)
    response.delete_cookie(
        auth.cookie_name(LOGIN_CSRF_COOKIE, settings), path="/", httponly=True, samesite="strict",
        secure=settings.secure_cookies,
    )  # fmt: skip
    return response


@router.post("/logout")
def logout(request: Request, page: PageUser, db: DbSession, settings: SettingsDep) -> Response:
    """The session row is deleted: the cookie is worthless even if someone kept it."""
    cookie = auth.session_cookie(request, settings)
    if cookie:
        auth_service.end_web_session(db, cookie)
    response = see_other("/login")
    auth.clear_session_cookie(response, settings)
    return response


@router.get("/language/{lang}")
def switch_language(lang: str, request: Request, next: str = "/") -> Response:
    """Remember the chosen language in a cookie (it changes nothing on the server)."""
    response = see_other(local_path(next))
    if lang in i18n.LANGUAGES:
        response.set_cookie(
            i18n.LANGUAGE_COOKIE, lang, max_age=_ONE_YEAR_S, path="/", samesite="lax",
            secure=request.app.state.gateway.settings.secure_cookies,
        )  # fmt: skip
    return response
