"""Tickets and cookies of the sessions' own origins (docs/interactive.md, "An origin per session").

When ``MYRIAGATE_INTERACTIVE_ORIGIN`` is set, each session's app is served from a host name of
its own, where the browser holds no credential of the gateway. The owner gets there through a
**ticket**: sealed (Fernet under a key of its own, derived from ``MYRIAGATE_SECRET_KEY``), so
nobody can forge or read one; valid ``TICKET_TTL_S`` seconds; bound to one user, one session
and the path to open; and **single-use**, its nonce claimed once in the database (shared by
every API process). The session's host exchanges it for an **app cookie**, sealed under
another key, naming the user and that session only, and valid until ``expires``: the proxy on
that host reads nothing else, and the gateway's own routes never read it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from myriagate.db.models.users import User
from myriagate.db.repos import interactive_tickets
from myriagate.db.repos import users as users_repo
from myriagate.errors import ConfigError, PermissionDenied, Text
from myriagate.ports import Clock
from myriagate.sealed_secrets import SecretSealer

TICKET_TTL_S = 30
_TICKETS = b"myriagate/interactive-tickets/v1"
_APP_COOKIES = b"myriagate/interactive-app-cookies/v1"


def refused() -> PermissionDenied:
    """The one refusal of a ticket: forged, for another session, expired or used already."""
    return PermissionDenied(
        Text(
            "this link to an interactive session has expired or was used already: "
            "open the session again from the gateway's Connect button"
        )
    )


@dataclass(frozen=True)
class Redeemed:
    """What a valid ticket says: whose it is and what to open."""

    user_id: uuid.UUID
    path: str


@dataclass(frozen=True)
class AppPass:
    """What an app cookie says: the user, until when."""

    user_id: uuid.UUID
    expires_at: datetime


class SessionTickets:
    """Issues and redeems tickets, and seals and reads app cookies."""

    def __init__(
        self, secret_key: str, clock: Clock, *, cookie_ttl_s: int, ticket_ttl_s: int = TICKET_TTL_S
    ) -> None:
        self._tickets = SecretSealer(secret_key, _TICKETS, what="an interactive session's ticket")
        self._cookies = SecretSealer(secret_key, _APP_COOKIES, what="an interactive session's cookie")
        self._clock = clock
        self._ticket_ttl = timedelta(seconds=ticket_ttl_s)
        self._cookie_ttl = timedelta(seconds=cookie_ttl_s)

    def issue(self, user_id: uuid.UUID, session_id: uuid.UUID, path: str) -> str:
        """A new ticket for ``user_id`` to open ``path`` of ``session_id`` (checked by the caller)."""
        expires = self._clock.now() + self._ticket_ttl
        payload = {"u": str(user_id), "s": str(session_id), "p": path, "n": uuid.uuid4().hex,
                   "e": expires.timestamp()}  # fmt: skip
        return self._tickets.seal(json.dumps(payload, separators=(",", ":")))

    def redeem(self, db: Session, ticket: str, session_id: uuid.UUID) -> Redeemed:
        """The ticket's user and path, once: PermissionDenied when forged, for another session,
        expired or redeemed already (a replay)."""
        payload = _opened(self._tickets, ticket)
        now = self._clock.now()
        try:
            user_id, path = uuid.UUID(str(payload["u"])), str(payload["p"])
            expires_at = datetime.fromtimestamp(float(str(payload["e"])), tz=now.tzinfo)
            nonce = str(payload["n"])
            int(nonce, 16)  # 32 hex digits, as issued
            for_this = uuid.UUID(str(payload["s"])) == session_id
        except (KeyError, TypeError, ValueError):
            raise refused() from None
        if not for_this or expires_at <= now or not path.startswith(f"/interactive/{session_id}/"):
            raise refused()
        # Kept a minute past the ticket's expiry: a replay after that fails on the expiry.
        if not interactive_tickets.claim_once(db, nonce, now=now, until=expires_at + timedelta(minutes=1)):
            raise refused()
        return Redeemed(user_id, path)

    def app_cookie(self, user_id: uuid.UUID, session_id: uuid.UUID) -> tuple[str, datetime]:
        """The sealed value of a session host's cookie for ``user_id``, and when it expires."""
        expires = self._clock.now() + self._cookie_ttl
        payload = {"u": str(user_id), "s": str(session_id), "e": expires.timestamp()}
        # Without base64's "=" padding: a cookie value holding "=" is sent quoted.
        return self._cookies.seal(json.dumps(payload, separators=(",", ":"))).rstrip("="), expires

    def app_pass(self, cookie: str, session_id: uuid.UUID) -> AppPass | None:
        """Whose the cookie is, if it is a live one of ``session_id``; None for anything else."""
        cookie = cookie.strip('"')
        try:
            payload = _opened(self._cookies, cookie + "=" * (-len(cookie) % 4))
            user_id = uuid.UUID(str(payload["u"]))
            expires_at = datetime.fromtimestamp(float(str(payload["e"])), tz=self._clock.now().tzinfo)
            for_this = uuid.UUID(str(payload["s"])) == session_id
        except (PermissionDenied, KeyError, TypeError, ValueError):
            return None
        if not for_this or expires_at <= self._clock.now():
            return None
        return AppPass(user_id, expires_at)


def active_user(db: Session, user_id: uuid.UUID) -> User | None:
    """The user a ticket or an app cookie names, while their account is active."""
    user = users_repo.get(db, user_id)
    return user if user is not None and user.is_active else None


def _opened(sealer: SecretSealer, sealed: str) -> dict[str, object]:
    if not sealed or len(sealed) > 8192:
        raise refused()
    try:
        payload = json.loads(sealer.unseal(sealed))
    except (ConfigError, UnicodeError, ValueError):
        raise refused() from None
    if not isinstance(payload, dict):
        raise refused()
    return payload
