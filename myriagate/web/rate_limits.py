"""Request budgets: a token bucket per user, and one per client address for login attempts.

Every authenticated request (API or page) spends from its user's bucket, whichever token,
session or single-sign-on identity it came with: ``MYRIAGATE_RATE_LIMIT_BURST`` tokens, refilled
at ``MYRIAGATE_RATE_LIMIT_PER_MIN`` a minute. A submission (``POST /api/v1/jobs``, the submit
form) costs ``MYRIAGATE_RATE_LIMIT_SUBMIT_COST``, anything else 1. Login attempts (``POST
/login``, ``/api/v1/sessions``, ``/api/v1/tokens``) and failed authentications spend from the
client address's bucket (``MYRIAGATE_LOGIN_RATE_LIMIT_*``), before any password is checked.

An empty bucket is ``RateLimited``: 429 with ``Retry-After`` (problem+json on the API, the error
page on pages); the request is not run. The buckets live in this API process: with several
processes each has its own budget, and nginx's ``limit_req`` (deploy/proxy) is the global
backstop (docs/api.md).
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections.abc import Callable
from uuid import UUID

import structlog
from fastapi import Request

from myriagate.errors import RateLimited
from myriagate.settings import Settings
from myriagate.web.auth import is_trusted_proxy

log = structlog.get_logger(__name__)

# Routes where someone proves who they are with a password (or asks for a token).
LOGIN_ROUTES = frozenset({("POST", "/login"), ("POST", "/api/v1/sessions"), ("POST", "/api/v1/tokens")})
SUBMIT_ROUTES = frozenset({("POST", "/api/v1/jobs"), ("POST", "/submit")})
_MAX_KEYS = 100_000  # past this many buckets, the full ones are forgotten (they equal a new one)


class TokenBuckets:
    """Thread-safe token buckets by key: ``capacity`` tokens, refilled at ``per_s``."""

    def __init__(
        self, *, capacity: float, per_s: float, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.capacity = float(capacity)
        self.per_s = float(per_s)
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str, cost: float = 1.0) -> float:
        """Spend ``cost`` tokens: 0.0 when done, else the seconds until they will be there."""
        with self._lock:
            now = self.monotonic()
            tokens, at = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + max(now - at, 0.0) * self.per_s)
            if tokens >= cost:
                self._buckets[key] = (tokens - cost, now)
                if len(self._buckets) > _MAX_KEYS:
                    self._forget_full(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (cost - tokens) / self.per_s

    def _forget_full(self, now: float) -> None:
        for key, (tokens, at) in list(self._buckets.items()):
            if tokens + (now - at) * self.per_s >= self.capacity:
                del self._buckets[key]


def client_address(request: Request, settings: Settings) -> str:
    """The client's address: the TCP peer, or, when the peer is a trusted proxy, the address
    that proxy appended last to ``X-Forwarded-For`` (nginx's ``$proxy_add_x_forwarded_for``;
    entries before it are the client's own claims and are ignored)."""
    peer = request.client.host if request.client else "unknown"
    if is_trusted_proxy(peer, settings.trusted_proxies):
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass
    return peer


class RateLimits:
    """The buckets of one application (``app.state.rate_limits``), built from the settings."""

    def __init__(self, settings: Settings, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.enabled = settings.rate_limit_enabled
        self.submit_cost = settings.rate_limit_submit_cost
        self.users = TokenBuckets(
            capacity=settings.rate_limit_burst, per_s=settings.rate_limit_per_min / 60, monotonic=monotonic
        )
        self.logins = TokenBuckets(
            capacity=settings.login_rate_limit_burst,
            per_s=settings.login_rate_limit_per_min / 60,
            monotonic=monotonic,
        )

    def charge_user(self, request: Request, user_id: UUID) -> None:
        """Spend this request's cost from the user's bucket, once per request; RateLimited
        when it is empty."""
        if not self.enabled or getattr(request.state, "rate_charged", False):
            return
        request.state.rate_charged = True
        submit = (request.method, request.url.path) in SUBMIT_ROUTES
        wait_s = self.users.take(f"user:{user_id}", self.submit_cost if submit else 1)
        if wait_s:
            log.warning("rate_limited", scope="user", path=request.url.path, retry_after_s=math.ceil(wait_s))
            what = "submissions" if submit else "requests"
            raise RateLimited(
                f"too many {what} from your account (at most {self.settings.rate_limit_per_min} a minute, "
                f"bursts of {self.settings.rate_limit_burst}"
                + (f", a submission counting {self.submit_cost}" if submit else "")
                + f"): retry in {math.ceil(wait_s)} s",
                retry_after_s=math.ceil(wait_s),
            )

    def charge_address(self, request: Request) -> None:
        """Spend one login attempt of the client's address; RateLimited when none is left."""
        if not self.enabled:
            return
        address = client_address(request, self.settings)
        wait_s = self.logins.take(f"ip:{address}")
        if wait_s:
            log.warning("rate_limited", scope="address", address=address, path=request.url.path,
                        retry_after_s=math.ceil(wait_s))  # fmt: skip
            raise RateLimited(
                f"too many login attempts from {address} (at most {self.settings.login_rate_limit_per_min} "
                f"a minute): retry in {math.ceil(wait_s)} s",
                retry_after_s=math.ceil(wait_s),
            )


_LOCK = threading.Lock()


def rate_limits_of(request: Request) -> RateLimits:
    """The application's limits, made on first use from its gateway's settings."""
    state = request.app.state
    with _LOCK:
        limits: RateLimits | None = getattr(state, "rate_limits", None)
        if limits is None:
            limits = RateLimits(state.gateway.settings)
            state.rate_limits = limits
    return limits


async def limit_login_attempts(request: Request) -> None:
    """App-wide dependency: a login attempt spends from its address's bucket first."""
    if (request.method, request.url.path) in LOGIN_ROUTES:
        rate_limits_of(request).charge_address(request)
