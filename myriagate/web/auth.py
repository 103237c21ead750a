"""Authenticating a request: Bearer token, trusted-proxy header, session cookie, HTTP Basic.

Tried in that order (docs/api.md):

1. ``Authorization: Bearer mgt_…`` — a personal token. A bad token is a 401, never a fallback.
2. the remote-user header (``X-Remote-User``), honoured **only** when the connection comes from
   an address in ``settings.trusted_proxies``; from anywhere else it is ignored.
3. the session cookie (``session_cookie_name``: ``__Host-myriagate_session`` when cookies are
   secure, ``myriagate_session`` in dev mode over http); state-changing methods also need the
   session's CSRF token (``X-CSRF-Token`` header or ``csrf_token`` form field).
4. ``Authorization: Basic`` — only where the route allows it (creating a token or a session).

A browser behind single sign-on sends the proxy header on every request, cross-site ones
included, so a state-changing request authenticated by the proxy must also carry the CSRF token
of a web session of the same user (the pages open one with ``POST /sessions``).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, cast

import structlog
from fastapi import Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from myriagate.errors import NotAuthenticated
from myriagate.logs import bind_user
from myriagate.ports import Clock
from myriagate.services.notifications import addresses
from myriagate.services.people import auth as auth_service
from myriagate.services.people.auth import CsrfRejected, NewWebSession, User, WebSession
from myriagate.settings import Settings

log = structlog.get_logger(__name__)

# Every cookie of the gateway is named ``myriagate_…``; with secure cookies the ones that carry
# who the browser is get the ``__Host-`` prefix (``cookie_name``).
GATEWAY_COOKIE_PREFIX = "myriagate_"
HOST_PREFIX = "__Host-"
_SESSION_COOKIE = GATEWAY_COOKIE_PREFIX + "session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

Method = Literal["token", "proxy", "session", "basic"]


@dataclass(frozen=True)
class Identity:
    """Who made the request and how they proved it."""

    user: User
    method: Method
    web_session: WebSession | None = None
    cookie_value: str | None = None


def cookie_name(base: str, settings: Settings) -> str:
    """The name of the gateway's cookie ``base`` under these settings: ``__Host-<base>`` when
    cookies are secure, ``base`` otherwise (dev mode over http, where browsers refuse the prefix).

    An interactive app's host under the gateway's host name can set a cookie with ``Domain=``
    their parent, which the browser then sends to the gateway (cookie tossing). A browser
    takes a ``__Host-`` cookie only from the very host, over a secure origin, with ``Path=/``,
    ``Secure`` and no ``Domain``: no other host can set one. The plain name is never read then,
    or a tossed one would still count.
    """
    return HOST_PREFIX + base if settings.secure_cookies else base


def is_gateway_cookie(name: str) -> bool:
    """Whether a cookie of this name is the gateway's, under either name and any prefix: none
    of them is for an interactive app (web/interactive_proxy.py never passes them on)."""
    bare = name.strip().lower()
    for prefix in ("__host-", "__secure-"):  # browsers read the prefixes case-insensitively
        bare = bare.removeprefix(prefix)
    return bare.startswith(GATEWAY_COOKIE_PREFIX)


def session_cookie_name(settings: Settings) -> str:
    """The web session cookie's name in force (``cookie_name``)."""
    return cookie_name(_SESSION_COOKIE, settings)


def session_cookie(connection: HTTPConnection, settings: Settings) -> str | None:
    """The value of the web session cookie the request carries under the name in force."""
    return connection.cookies.get(session_cookie_name(settings))


@lru_cache(maxsize=16)
def _networks(trusted: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted)


def is_trusted_proxy(host: str | None, trusted: list[str]) -> bool:
    """Whether ``host`` (the TCP peer, never a forwarded-for header) is a configured proxy."""
    if not host or not trusted:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in _networks(tuple(trusted)))


def _basic_credentials(value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise NotAuthenticated("malformed HTTP Basic credentials") from None
    username, sep, password = decoded.partition(":")
    if not sep or not username:
        raise NotAuthenticated("malformed HTTP Basic credentials")
    return username, password


def _resolve_and_release(request: Request, db: Session, settings: Settings, *, allow_basic: bool) -> Identity:
    """``_resolve``, then end its transaction so the connection goes back to the pool.

    The endpoint runs later in another worker thread; a request must never hold a pooled
    connection while it waits for a thread, or a burst of requests (more than the pool, fewer
    than the threads) deadlocks until the pool's timeout. Loaded objects stay usable
    (sessions do not expire on commit).
    """
    if _is_bearer(request) and not db.in_transaction():
        # A token costs one SELECT, plus at most one UPDATE of its last use committed at once:
        # outside a transaction they need no BEGIN and no COMMIT, two round trips fewer.
        db.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    try:
        identity = _resolve(request, db, settings, allow_basic=allow_basic)
    except BaseException:
        db.rollback()
        raise
    db.commit()
    return identity


def identify_for_proxy(connection: HTTPConnection, db: Session, settings: Settings) -> Identity:
    """The caller's identity without the CSRF check, for the interactive apps' proxy (a request
    or a WebSocket): the apps' pages cannot carry the gateway's CSRF token, the session cookie
    is SameSite=Lax, and the proxy refuses a change or a WebSocket whose Origin is another site
    (web/interactive_proxy.py). Only headers, cookies, the peer and the app are read."""
    return _resolve_and_release(cast(Request, connection), db, settings, allow_basic=False)


def _is_bearer(request: Request) -> bool:
    return request.headers.get("authorization", "").partition(" ")[0].lower() == "bearer"


def _resolve(request: Request, db: Session, settings: Settings, *, allow_basic: bool) -> Identity:
    """Everything but the CSRF check (which may need to read a form body)."""
    clock: Clock = request.app.state.clock
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    scheme = scheme.lower()
    credentials = credentials.strip()
    if scheme == "bearer":
        return Identity(auth_service.authenticate_token(db, credentials, clock=clock), "token")

    remote_user = request.headers.get(settings.remote_user_header)
    if remote_user:
        peer = request.client.host if request.client else None
        if is_trusted_proxy(peer, settings.trusted_proxies):
            user = auth_service.authenticate_remote_user(db, remote_user)
            if settings.remote_email_header:  # the institution's address for them, if it sends one
                email = request.headers.get(settings.remote_email_header)
                addresses.from_single_sign_on(db, user, email, clock=clock)
            return Identity(user, "proxy")
        # Anyone can send this header: only a configured proxy may vouch for a user.
        log.warning("remote_user_header_ignored", peer=peer, header=settings.remote_user_header)

    cookie_value = session_cookie(request, settings)
    if cookie_value:
        try:
            web_session = auth_service.authenticate_web_session(db, cookie_value, clock=clock)
        except NotAuthenticated:
            # A stale cookie must not stop someone logging in again with their password.
            if not (allow_basic and scheme == "basic"):
                raise
        else:
            return Identity(web_session.user, "session", web_session, cookie_value)

    if scheme == "basic":
        if not allow_basic:
            raise NotAuthenticated(
                "HTTP Basic is accepted only to create a token (POST /api/v1/tokens) or a session "
                "(POST /api/v1/sessions): use a Bearer token"
            )
        username, password = _basic_credentials(credentials)
        return Identity(auth_service.authenticate_password(db, username, password), "basic")
    if scheme:
        raise NotAuthenticated(f"unsupported authorization scheme {scheme!r}: use Bearer")
    raise NotAuthenticated("authentication required: send Authorization: Bearer <token>")


async def _csrf_provided(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.headers.get("content-type", "").startswith(_FORM_TYPES):
        # Starlette caches the parsed form, so the endpoint can still read it.
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def _session_cookie_of(db: Session, request: Request, settings: Settings, user: User) -> WebSession | None:
    cookie_value = session_cookie(request, settings)
    if not cookie_value:
        return None
    try:
        web_session = auth_service.authenticate_web_session(db, cookie_value, clock=request.app.state.clock)
    except NotAuthenticated:
        return None
    return web_session if web_session.user_id == user.id else None


def web_session_for_proxy(
    db: Session, request: Request, settings: Settings, user: User
) -> tuple[str, NewWebSession | None]:
    """The CSRF token of a single-sign-on user's web session, and the session opened for them
    when their browser has none yet (its cookie must be set on the response).

    A proxy-authenticated browser still needs a web session: its forms carry that session's
    CSRF token, which ``authenticate`` checks on every change (see the module docstring).
    """
    existing = _session_cookie_of(db, request, settings, user)
    if existing is not None:
        return existing.csrf_token, None
    clock: Clock = request.app.state.clock
    new = auth_service.create_web_session(db, user, ttl_s=settings.session_ttl_s, clock=clock)
    return new.csrf_token, new


async def authenticate(
    request: Request, db: Session, settings: Settings, *, allow_basic: bool = False, csrf_exempt: bool = False
) -> Identity:
    """The caller's identity, or NotAuthenticated (401) / CsrfRejected (403).

    ``csrf_exempt`` is for opening a web session through the proxy: that request is what
    obtains the CSRF token in the first place.
    """
    identity = await run_in_threadpool(_resolve_and_release, request, db, settings, allow_basic=allow_basic)
    bind_user(identity.user.id, identity.user.username)  # every later log line of the request
    from myriagate.web.rate_limits import rate_limits_of  # it needs is_trusted_proxy from here

    rate_limits_of(request).charge_user(request, identity.user.id)  # RateLimited (429) when spent
    if request.method in SAFE_METHODS or identity.method in ("token", "basic"):
        return identity
    if identity.method == "session":
        assert identity.web_session is not None
        auth_service.check_csrf(identity.web_session, await _csrf_provided(request))
    elif not csrf_exempt:  # proxy-asserted identity changing something
        web_session = await run_in_threadpool(_session_cookie_of, db, request, settings, identity.user)
        if web_session is None:
            raise CsrfRejected(
                "a change made through single sign-on needs a web session (POST /api/v1/sessions) "
                "and its CSRF token"
            )
        auth_service.check_csrf(web_session, await _csrf_provided(request))
    return identity


def set_session_cookie(response: Response, new: NewWebSession, settings: Settings) -> None:
    response.set_cookie(
        session_cookie_name(settings),
        new.cookie_value,
        expires=new.expires_at,
        path="/",
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        session_cookie_name(settings), path="/", httponly=True, secure=settings.secure_cookies, samesite="lax"
    )
