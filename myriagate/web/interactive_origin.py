"""An origin per interactive session (docs/interactive.md, "An origin per session").

With ``MYRIAGATE_INTERACTIVE_ORIGIN`` set (``https://{session}.apps.myriagate.example``), a
session's app is served only from its own host name, ``<session id>.apps.myriagate.example``,
where the browser holds no credential of the gateway: a script in the app's page is on
another origin than the gateway's pages and API, so it can neither read them nor act with the
owner's gateway session.

- **On the gateway's host**, ``GET /interactive/<id>/<path>`` (the Connect link) checks that
  the caller owns the running session, then answers ``303`` to the session's host,
  ``/_myriagate/connect?session_ticket=…``, with a one-time ticket (``services.interactive.tickets``).
  Nothing else of the app is served there (404), WebSockets neither.
- **On a session's host**, ``/_myriagate/connect`` redeems the ticket once and sets the app
  cookie (host-only: no ``Domain``; ``HttpOnly``; ``SameSite=Lax``; ``__Host-`` and
  ``Secure`` over https), then sends the browser on to the path (``303``, no ticket left in
  the address bar, ``Referrer-Policy: no-referrer``). ``/interactive/<that id>/…`` is proxied
  to the app for the app cookie's owner only. Every other path is 404: the gateway's own
  pages and API are not served on a session's host, and the gateway never reads the app
  cookie (``SessionHostMiddleware``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from myriagate.errors import Conflict, NotFound, Text
from myriagate.services.interactive import tickets as tickets_service
from myriagate.services.interactive.tickets import SessionTickets
from myriagate.settings import Settings
from myriagate.web import auth
from myriagate.web.interactive_access import Owned, access_cache, digest, not_found
from myriagate.wiring_interactive import interactive_sessions

CONNECT_PATH = "/_myriagate/connect"
# The ticket's and the cookie's names hold "session": the log redaction (myriagate/logs.py)
# blanks any ``name=value`` whose name holds it, wherever a line quotes a URL or a header.
TICKET_PARAM = "session_ticket"
# ``__Host-myriagate_app_session`` when cookies are secure (``auth.cookie_name``); never passed
# on to the app (``auth.is_gateway_cookie``).
_COOKIE = auth.GATEWAY_COOKIE_PREFIX + "app_session"
_HOST_SESSION = "interactive_host_session"  # scope["state"] key set by the middleware
_NO_REFERRER = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


@dataclass(frozen=True)
class SessionOrigins:
    """The sessions' host names: ``<session id>`` + ``suffix``, on ``scheme`` and ``port``."""

    scheme: str
    suffix: str  # ".apps.myriagate.example", lowercase
    port: int | None

    @classmethod
    def parse(cls, template: str) -> SessionOrigins | None:
        """From the setting (checked by ``Settings``); None when empty."""
        if not template:
            return None
        parts = urlsplit(template)
        host = parts.hostname or ""
        return cls(parts.scheme, host.removeprefix("{session}").lower(), parts.port)

    def origin(self, session_id: uuid.UUID) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{session_id}{self.suffix}{port}"

    def session_of(self, host_header: str) -> uuid.UUID | bool | None:
        """The session a ``Host`` names; False when it names none of the sessions' hosts (the
        gateway's own); None when it is under the sessions' domain but names no session."""
        host = host_header.strip().lower()
        if host.startswith("["):  # an IPv6 literal: never a session's host
            return False
        host = host.rsplit(":", 1)[0] if ":" in host else host
        host = host.removesuffix(".")
        if not host.endswith(self.suffix):
            return False
        label = host[: -len(self.suffix)]
        try:
            session_id = uuid.UUID(label)
        except ValueError:
            return None
        return session_id if str(session_id) == label else None


@lru_cache(maxsize=4)
def _parsed(template: str) -> SessionOrigins | None:
    return SessionOrigins.parse(template)


def session_origins(settings: Settings) -> SessionOrigins | None:
    return _parsed(settings.interactive_origin)


def host_session(connection: HTTPConnection) -> uuid.UUID | None:
    """The session whose host this request came to (None on the gateway's own host)."""
    found = connection.scope.get("state", {}).get(_HOST_SESSION)
    return found if isinstance(found, uuid.UUID) else None


class SessionHostMiddleware:
    """On a session's host, only that session's paths and the ticket's; 404 for the rest."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        origins = session_origins(scope["app"].state.gateway.settings)
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        found = origins.session_of(host) if origins is not None else False
        if found is False:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        own = isinstance(found, uuid.UUID) and (
            path == CONNECT_PATH or path.startswith(f"/interactive/{found}/")
        )
        if not own:
            await _refuse(scope, receive, send)
            return
        scope.setdefault("state", {})[_HOST_SESSION] = found
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)


def tickets_of(connection: HTTPConnection) -> SessionTickets:
    settings = connection.app.state.gateway.settings
    return SessionTickets(
        settings.secret_key, connection.app.state.clock, cookie_ttl_s=settings.session_ttl_s
    )


def to_session_host(
    request: Request, origins: SessionOrigins, user_id: uuid.UUID, session_id: uuid.UUID
) -> Response:
    """The Connect link's answer on the gateway's host: a 303 to the session's host with a
    ticket for the path asked (its original encoding kept)."""
    if request.method not in ("GET", "HEAD"):
        raise NotFound(Text("interactive apps are served at their own address: use the Connect button"))
    prefix = f"/interactive/{session_id}/"
    raw = (request.scope.get("raw_path") or b"").decode("latin-1")
    if not raw.startswith(prefix):
        raw = prefix + quote(request.path_params.get("path", ""))
    path = raw + (f"?{request.url.query}" if request.url.query else "")
    ticket = tickets_of(request).issue(user_id, session_id, path)
    location = f"{origins.origin(session_id)}{CONNECT_PATH}?{TICKET_PARAM}={quote(ticket, safe='')}"
    return RedirectResponse(location, status_code=303, headers=_NO_REFERRER)


def _redeem(request: Request, session_id: uuid.UUID, ticket: str) -> tuple[uuid.UUID, str]:
    gateway = request.app.state.gateway
    with gateway.session_factory() as db:
        redeemed = tickets_of(request).redeem(db, ticket, session_id)
        user = tickets_service.active_user(db, redeemed.user_id)
        if user is None:
            raise tickets_service.refused()
        interactive_sessions(gateway).target(db, user, session_id)  # owner, running
        return user.id, redeemed.path


async def connect(request: Request) -> Response:
    """``/_myriagate/connect?session_ticket=…`` on a session's host: the app cookie, then the app."""
    session_id = host_session(request)
    if session_id is None:
        raise NotFound(Text("interactive apps are served at their own address: use the Connect button"))
    ticket = request.query_params.get(TICKET_PARAM, "")
    user_id, path = await run_in_threadpool(_redeem, request, session_id, ticket)
    value, expires = tickets_of(request).app_cookie(user_id, session_id)
    response = RedirectResponse(path, status_code=303, headers=_NO_REFERRER)
    _set_app_cookie(response, request.app.state.gateway.settings, value, expires)
    return response


def _set_app_cookie(response: Response, settings: Settings, value: str, expires: datetime) -> None:
    response.set_cookie(
        auth.cookie_name(_COOKIE, settings), value, expires=expires, path="/", httponly=True,
        secure=settings.secure_cookies, samesite="lax",
    )  # fmt: skip


def app_cookies(connection: HTTPConnection) -> list[str]:
    """Every app cookie the request carries under the name in force (in dev mode a sibling
    host may have tossed one of its own: each is tried, and only this session's counts)."""
    wanted = auth.cookie_name(_COOKIE, connection.app.state.gateway.settings)
    found: list[str] = []
    for part in connection.headers.get("cookie", "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name == wanted:
            found.append(value)
    return found


def _decide_for_app_cookie(connection: HTTPConnection, session_id: uuid.UUID, cookie: str) -> Owned:
    gateway = connection.app.state.gateway
    app_pass = tickets_of(connection).app_pass(cookie, session_id)
    if app_pass is None:
        raise not_found(session_id)
    with gateway.session_factory() as db:
        user = tickets_service.active_user(db, app_pass.user_id)
        if user is None:
            raise not_found(session_id)
        return Owned(interactive_sessions(gateway).target(db, user, session_id), user.id)


async def app_owner(connection: HTTPConnection, session_id: uuid.UUID) -> Owned:
    """On a session's host: the target for the app cookie's owner; NotFound for anybody else
    (no cookie, another session's, a forged or expired one), Conflict when not running."""
    cache = access_cache(connection)
    refusal: Exception = not_found(session_id)
    for cookie in app_cookies(connection)[:4]:
        key = digest("app", cookie)
        kept = cache.get(session_id, key)
        if kept is not None:
            return kept
        try:
            owned = await run_in_threadpool(_decide_for_app_cookie, connection, session_id, cookie)
        except NotFound as exc:
            refusal = exc
            continue
        except Conflict:
            cache.forget(session_id)
            raise
        cache.put(session_id, key, owned)
        return owned
    raise refusal
