"""Who may reach an interactive session's app through the proxy, decided quickly.

Deciding costs a credential lookup (a token, a web session or a single-sign-on user), the
session's row and job, and the app's secret unsealed: a few database statements and a thread
hand-off on every proxied request, when JupyterLab's page load alone sends dozens. So a
decision that let a caller through is kept for ``TTL_S`` seconds, keyed by the session **and
a digest of the very credentials the request carried** (headers and cookies, the trusted
proxy's peer): another user, another token or no credential at all never matches a kept
decision and is decided afresh (and refused). Refusals are never kept.

A kept decision can outlive what it was made from by at most ``TTL_S``: a session whose job
just ended (its app is gone, so nothing answers), a revoked token, a user disabled. A
refusal seen for a session (not running, not found) drops every kept decision of that
session in this process at once, and the proxy drops them too when the app cannot be reached.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from myriagate.errors import Conflict, NotAuthenticated, NotFound, PermissionDenied, Text
from myriagate.services.interactive.sessions import ProxyTarget
from myriagate.web import auth
from myriagate.wiring_interactive import interactive_sessions

TTL_S = 2.0
_MAX_ENTRIES = 4096


def not_found(session_id: uuid.UUID | str) -> NotFound:
    return NotFound(Text("no interactive session %(session)s", session=str(session_id)))


@dataclass(frozen=True)
class Owned:
    """A decision that let a caller through: where to, and who they are."""

    target: ProxyTarget
    user_id: uuid.UUID


@dataclass(frozen=True)
class _Kept:
    owned: Owned
    until: float


class AccessCache:
    """Recent owner decisions, per (session, credential digest); thread-safe."""

    def __init__(self, ttl_s: float = TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s, self._clock = ttl_s, clock
        self._lock = threading.Lock()
        self._kept: dict[tuple[uuid.UUID, bytes], _Kept] = {}

    def get(self, session_id: uuid.UUID, key: bytes) -> Owned | None:
        now = self._clock()
        with self._lock:
            kept = self._kept.get((session_id, key))
            if kept is None:
                return None
            if kept.until <= now:
                del self._kept[(session_id, key)]
                return None
            return kept.owned

    def put(self, session_id: uuid.UUID, key: bytes, owned: Owned) -> None:
        now = self._clock()
        with self._lock:
            if len(self._kept) >= _MAX_ENTRIES:
                self._kept = {k: v for k, v in self._kept.items() if v.until > now}
                if len(self._kept) >= _MAX_ENTRIES:
                    self._kept.clear()
            self._kept[(session_id, key)] = _Kept(owned, now + self._ttl_s)

    def forget(self, session_id: uuid.UUID) -> None:
        with self._lock:
            for key in [k for k in self._kept if k[0] == session_id]:
                del self._kept[key]


def access_cache(connection: HTTPConnection) -> AccessCache:
    """The application's cache (made on first use, per ``app.state``)."""
    state = connection.app.state
    cache: AccessCache | None = getattr(state, "interactive_access", None)
    if cache is None:
        cache = state.interactive_access = AccessCache()
    return cache


def gateway_credentials(connection: HTTPConnection) -> bytes | None:
    """A digest of every credential the gateway's authentication reads (None: there is none)."""
    settings = connection.app.state.gateway.settings
    parts = [
        connection.headers.get("authorization", ""),
        auth.session_cookie(connection, settings) or "",
        connection.headers.get(settings.remote_user_header, ""),
    ]
    if not any(parts):
        return None
    peer = connection.client.host if connection.client else ""
    return digest("gateway", peer, *parts)


def digest(*parts: str) -> bytes:
    hasher = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogateescape")
        hasher.update(len(data).to_bytes(8, "big") + data)
    return hasher.digest()


def _decide_for_gateway_identity(connection: HTTPConnection, session_id: uuid.UUID) -> Owned:
    gateway = connection.app.state.gateway
    with gateway.session_factory() as db:
        try:
            identity = auth.identify_for_proxy(connection, db, gateway.settings)
        except (NotAuthenticated, PermissionDenied):
            raise not_found(session_id) from None
        target = interactive_sessions(gateway).target(db, identity.user, session_id)
        return Owned(target, identity.user.id)


async def owner(connection: HTTPConnection, session_id: uuid.UUID) -> Owned:
    """The session's target if the caller (by the gateway's own credentials) owns it and it
    runs; NotFound for anybody else, anonymous too; Conflict while it is not running."""
    key = gateway_credentials(connection)
    cache = access_cache(connection)
    if key is not None and (kept := cache.get(session_id, key)) is not None:
        return kept
    try:
        owned = await run_in_threadpool(_decide_for_gateway_identity, connection, session_id)
    except Conflict:  # not running (any more): nobody's kept decision stands
        cache.forget(session_id)
        raise
    if key is not None:
        cache.put(session_id, key, owned)
    return owned
