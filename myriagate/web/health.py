"""``/readyz``: can this gateway process serve requests now? (the database and the clusters).

``/healthz`` (in app.py) says only that the process answers. ``/readyz`` checks the database
with ``SELECT 1`` and asks the clusters' service login for ``ping()`` (``scontrol ping``,
``sinfo``), each under a short timeout. Cluster answers are cached for a few seconds and
only one ping per cluster is ever in flight per process, so a monitoring system probing
every second, or a hung login node, never turns into a stream of SSH commands to Slurm.

By default the default cluster is checked; ``?cluster=a&cluster=b`` checks the named ones
(a gateway serving several clusters lists them in its monitoring probe). Unknown names are
a 404, so a probe URL with a typo fails loudly instead of reporting "ready".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import sqlalchemy as sa
import structlog
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from myriagate.errors import MyriagateError, NotFound
from myriagate.web.problems import problem_response
from myriagate.web.routing import ReleasingRoute
from myriagate.wiring import Gateway

log = structlog.get_logger(__name__)
router = APIRouter(route_class=ReleasingRoute, tags=["health"])

Status = Literal["up", "down"]


@dataclass(frozen=True)
class Check:
    """One component's state as the probe reports it."""

    status: Status
    latency_ms: float | None = None
    detail: str | None = None
    slurm_version: str | None = None
    checked_at: float = 0.0  # time.monotonic() of the check, for the cache and ``age_s``

    def as_json(self, now: float) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "age_s": round(max(now - self.checked_at, 0.0), 1)}
        for key in ("latency_ms", "detail", "slurm_version"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


class ReadinessProbe:
    """Runs the checks with timeouts; caches cluster pings for ``cluster_ttl_s`` seconds.

    One per application (kept in ``app.state.readiness``): each uvicorn worker process has
    its own, which is fine since the cache only bounds how often *this* process pings.
    """

    def __init__(
        self,
        gateway: Gateway,
        *,
        cluster_ttl_s: float = 10.0,
        cluster_timeout_s: float = 5.0,
        database_timeout_s: float = 3.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.gateway = gateway
        self.cluster_ttl_s = cluster_ttl_s
        self.cluster_timeout_s = cluster_timeout_s
        self.database_timeout_s = database_timeout_s
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._cache: dict[str, Check] = {}
        self._in_flight: dict[str, Future[Check]] = {}
        # A few threads: a hung check keeps its thread until its own (SSH/DB) timeout ends.
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")

    def database(self) -> Check:
        """``SELECT 1`` on a pooled connection; never cached (it is cheap and local)."""
        return self._run("db", self._select_one, self.database_timeout_s, use_cache=False)

    def cluster(self, name: str) -> Check:
        return self._run(f"cluster:{name}", lambda: self._ping(name), self.cluster_timeout_s, use_cache=True)

    def _run(self, key: str, check: Callable[[], Check], timeout_s: float, *, use_cache: bool) -> Check:
        now = self.monotonic()
        with self._lock:
            cached = self._cache.get(key)
            if use_cache and cached is not None and now - cached.checked_at < self.cluster_ttl_s:
                return cached
            future = self._in_flight.get(key)
            if future is None or future.done():
                # Single flight: concurrent probes wait on the same check instead of each
                # starting one (a hung login node would otherwise collect one SSH per probe).
                future = self._pool.submit(check)
                self._in_flight[key] = future
        try:
            result = future.result(timeout=timeout_s)
        except FutureTimeout:
            result = Check("down", detail=f"no answer within {timeout_s:g} s", checked_at=self.monotonic())
        except Exception as exc:  # a bug in a check must not turn the probe into a 500
            log.exception("readyz.check_failed", check=key)
            result = Check("down", detail=type(exc).__name__, checked_at=self.monotonic())
        with self._lock:
            self._cache[key] = result
        return result

    def _select_one(self) -> Check:
        started = self.monotonic()
        try:
            with self.gateway.session_factory() as session:
                session.execute(sa.text("SELECT 1")).scalar_one()
        except sa.exc.SQLAlchemyError as exc:
            # The driver's message may name hosts and users: logged, not shown to anonymous callers.
            log.warning("readyz.database_down", error=str(exc))
            return Check(
                "down", detail=f"database unreachable ({type(exc).__name__})", checked_at=self.monotonic()
            )
        finished = self.monotonic()
        return Check("up", latency_ms=round((finished - started) * 1000, 1), checked_at=finished)

    def _ping(self, name: str) -> Check:
        try:
            health = self.gateway.backends(name).for_service().ping()
        except MyriagateError as exc:
            log.warning("readyz.cluster_down", cluster=name, code=exc.code, detail=exc.detail)
            return Check("down", detail=exc.title, checked_at=self.monotonic())
        if not health.reachable:
            log.warning("readyz.cluster_down", cluster=name, detail=health.detail)
            return Check("down", detail=health.detail or "unreachable", checked_at=self.monotonic())
        return Check(
            "up",
            latency_ms=health.latency_ms,
            slurm_version=health.slurm_version,
            checked_at=self.monotonic(),
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def probe_of(request: Request) -> ReadinessProbe:
    """The application's probe, made on first use (tests may put their own in app.state)."""
    state = request.app.state
    with _PROBE_LOCK:
        probe: ReadinessProbe | None = getattr(state, "readiness", None)
        if probe is None:
            probe = ReadinessProbe(state.gateway)
            state.readiness = probe
    return probe


_PROBE_LOCK = threading.Lock()


@router.get("/readyz", include_in_schema=False)
def readyz(request: Request, cluster: Annotated[list[str] | None, Query()] = None) -> JSONResponse:
    """200 when the database and every checked cluster answer, else 503; per-component states."""
    probe = probe_of(request)
    gateway = probe.gateway
    try:
        names = [gateway.profile(name).name for name in (cluster or [gateway.settings.default_cluster])]
    except NotFound as exc:
        # Rendered here: outside /api/ errors become HTML pages, and probes read JSON.
        return problem_response(request, status=404, code=exc.code, title=exc.title, detail=exc.detail)
    database = probe.database()
    clusters = {name: probe.cluster(name) for name in dict.fromkeys(names)}
    ready = database.status == "up" and all(c.status == "up" for c in clusters.values())
    now = probe.monotonic()
    body = {
        "status": "ready" if ready else "unready",
        "checks": {
            "database": database.as_json(now),
            "clusters": {name: check.as_json(now) for name, check in clusters.items()},
        },
    }
    return JSONResponse(body, status_code=200 if ready else 503, headers={"Cache-Control": "no-store"})
