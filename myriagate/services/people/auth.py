"""Who is calling: personal API tokens, local passwords, web sessions, trusted-proxy identities.

Secrets are never stored. Tokens (``mgt_`` + 43 url-safe characters, 256 bits) and session ids
are kept as SHA-256 hashes and looked up by hash, so no comparison of secrets happens in Python
and a copy of the database logs nobody in. Passwords are scrypt hashes. Every failure to
authenticate is a NotAuthenticated with a plain message; the HTTP layer turns it into a 401.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import structlog
from sqlalchemy.orm import Session

from myriagate.clock import SystemClock
from myriagate.db.models.auth import ApiToken, WebSession
from myriagate.db.models.users import User
from myriagate.db.repos import sessions as sessions_repo
from myriagate.db.repos import tokens as tokens_repo
from myriagate.db.repos import users as users_repo
from myriagate.errors import (
    CsrfRejected,
    FieldError,
    InvalidRequest,
    NotAuthenticated,
    NotFound,
)
from myriagate.ports import Clock
from myriagate.services.common import audit
from myriagate.settings import PASSWORD_HASH_COST

# Re-exported so entry points can type what these functions return without importing models.
__all__ = [
    "ApiToken",
    "CsrfRejected",
    "NewToken",
    "NewWebSession",
    "User",
    "WebSession",
]

log = structlog.get_logger(__name__)

TOKEN_PREFIX = "mgt_"  # noqa: S105  (a public marker, not a secret)
TOKEN_DEFAULT_DAYS = 90
# last_used_at is written at most this often per token: no database write on every request.
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)
MIN_PASSWORD_LENGTH = 12
SCRYPT_R, SCRYPT_P = 8, 1  # N is 2**cost (Settings.password_hash_cost)
_SCRYPT_MAXMEM = 64 * 1024 * 1024

_SYSTEM_CLOCK = SystemClock()


# --- passwords ---------------------------------------------------------------------------
def hash_password(password: str, *, cost: int = PASSWORD_HASH_COST) -> str:
    """``scrypt$n$r$p$salt$hash`` (salt and hash in hex), with ``n = 2**cost``."""
    salt = secrets.token_bytes(16)
    n = 2**cost
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, maxmem=_SCRYPT_MAXMEM)
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_password(stored: str, password: str) -> bool:
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), maxmem=_SCRYPT_MAXMEM
        )
    except ValueError:
        return False
    return hmac.compare_digest(digest.hex(), expected)


@cache
def _dummy_hash() -> str:
    """Checked when the user is unknown or has no password: every failure costs one scrypt, so
    response times do not tell which usernames exist. Built on first use, not at import."""
    return hash_password(secrets.token_urlsafe(16))


def set_password(user: User, password: str, *, cost: int = PASSWORD_HASH_COST) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters",
            fields=[FieldError(("body", "password"), f"at least {MIN_PASSWORD_LENGTH} characters")],
        )
    user.password_hash = hash_password(password, cost=cost)


def authenticate_password(session: Session, username: str, password: str) -> User:
    """The active local user with this password; one same-looking failure for every reason."""
    user = users_repo.get_by_username(session, username)
    stored = user.password_hash if user is not None and user.password_hash else None
    ok = check_password(stored or _dummy_hash(), password)
    if user is None or stored is None or not ok or not user.is_active:
        log.info("password_rejected", username=username)
        raise NotAuthenticated("wrong username or password")
    return user


# --- tokens ------------------------------------------------------------------------------
def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown once, never stored


def create_token(
    session: Session,
    user: User,
    *,
    name: str,
    expires_in_days: int = TOKEN_DEFAULT_DAYS,
    max_days: int = 365,
    clock: Clock = _SYSTEM_CLOCK,
) -> NewToken:
    """A new personal token for ``user`` (committed); the secret is in the result only."""
    if not 1 <= expires_in_days <= max_days:
        raise InvalidRequest(
            f"a token lives between 1 and {max_days} days",
            fields=[FieldError(("body", "expires_in_days"), f"between 1 and {max_days}")],
        )
    now = clock.now()
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = tokens_repo.add(
        session,
        user_id=user.id,
        name=name,
        prefix=secret[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + 8],
        token_hash=_sha256(secret),
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days),
    )
    audit.record(session, user.id, "token.create", ("token", token.id), {"name": name}, at=now)
    session.commit()
    return NewToken(token, secret)


def authenticate_token(session: Session, secret: str, *, clock: Clock = _SYSTEM_CLOCK) -> User:
    """The owner of a valid token; unknown, revoked, expired or disabled answer NotAuthenticated."""
    if not secret.startswith(TOKEN_PREFIX):
        raise NotAuthenticated("not a myriagate token (they start with mgt_)")
    token = tokens_repo.by_hash(session, _sha256(secret))
    if token is None:
        raise NotAuthenticated("unknown token")
    now = clock.now()
    if token.revoked_at is not None:
        raise NotAuthenticated("this token was revoked: create a new one (myriagate login)")
    if token.expires_at <= now:
        raise NotAuthenticated("this token has expired: create a new one (myriagate login)")
    if not token.user.is_active:
        raise NotAuthenticated("this account is disabled")
    stale = now - TOKEN_TOUCH_INTERVAL
    if (token.last_used_at is None or token.last_used_at < stale) and tokens_repo.touch(
        session, token.id, now=now, not_since=stale
    ):
        session.commit()
    return token.user


def list_tokens(session: Session, user: User) -> list[ApiToken]:
    return tokens_repo.for_user(session, user.id)


def revoke_token(session: Session, user: User, token_id: uuid.UUID, *, clock: Clock = _SYSTEM_CLOCK) -> None:
    """Revoke one of the user's tokens; revoking twice is fine, someone else's is NotFound."""
    token = tokens_repo.get_owned(session, token_id, user.id)
    if token is None:
        raise NotFound(f"no token {token_id}")
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        audit.record(session, user.id, "token.revoke", ("token", token.id), at=token.revoked_at)
        session.commit()


# --- web sessions ------------------------------------------------------------------------
@dataclass(frozen=True)
class NewWebSession:
    cookie_value: str  # goes in the cookie; only its hash is stored
    csrf_token: str
    expires_at: datetime
    user: User


def create_web_session(
    session: Session, user: User, *, ttl_s: int, clock: Clock = _SYSTEM_CLOCK
) -> NewWebSession:
    now = clock.now()
    cookie_value = secrets.token_urlsafe(32)
    web_session = sessions_repo.add(
        session,
        id_hash=_sha256(cookie_value),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_s),
    )
    # Expired rows are swept at each login: cheap, and no separate cleanup job to run.
    sessions_repo.delete_expired(session, now=now)
    audit.record(session, user.id, "session.create", ("user", user.id), at=now)
    session.commit()
    return NewWebSession(cookie_value, web_session.csrf_token, web_session.expires_at, user)


def authenticate_web_session(
    session: Session, cookie_value: str, *, clock: Clock = _SYSTEM_CLOCK
) -> WebSession:
    """The live session behind a cookie value (its ``user`` is loaded)."""
    web_session = sessions_repo.get(session, _sha256(cookie_value))
    if web_session is None:
        raise NotAuthenticated("no such session: log in again")
    if web_session.expires_at <= clock.now():
        sessions_repo.delete(session, web_session.id_hash)
        session.commit()
        raise NotAuthenticated("your session has expired: log in again")
    if not web_session.user.is_active:
        raise NotAuthenticated("this account is disabled")
    return web_session


def check_csrf(web_session: WebSession, provided: str | None) -> None:
    if not provided or not hmac.compare_digest(provided.encode(), web_session.csrf_token.encode()):
        raise CsrfRejected("missing or wrong CSRF token: reload the page and try again")


def end_web_session(session: Session, cookie_value: str) -> None:
    """Log out: the session row is deleted, so the cookie is worthless even if kept."""
    if sessions_repo.delete(session, _sha256(cookie_value)):
        session.commit()


# --- trusted reverse proxy (single sign-on) ----------------------------------------------
def authenticate_remote_user(session: Session, username: str) -> User:
    """The user a trusted proxy vouches for: must exist and be active (no auto-provisioning)."""
    user = users_repo.get_by_username(session, username.strip())
    if user is None:
        raise NotAuthenticated(
            f"{username!r} signed in but has no myriagate account: ask your university admin"
        )
    if not user.is_active:
        raise NotAuthenticated("this account is disabled")
    return user
