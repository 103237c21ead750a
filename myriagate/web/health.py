"""``/readyz``: can this gateway process serve requests now? (the database and the clusters).

``/healthz`` (in app.py) says only that the process answers. ``/readyz`` checks the database
with ``SELECT 1`` and asks the clusters' service login for ``ping()`` (``scontrol ping``,
``sinfo``), each under a short timeout. Cluster answers come from the process's
``ClusterHealthCache`` (``services.runtime.cluster_health``), shared with the cluster page and
``GET /api/v1/clusters/{name}``: cached ``MYRIAGATE_CLUSTER_HEALTH_TTL_S`` seconds (a failure
``..._FAILURE_TTL_S``) with one ping per cluster in flight, so a monitoring system probing
every second, a busy cluster page, or a hung login node never turns into a stream of SSH
commands to Slurm. Each check says how old it is (``age_s``).

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

from myriagate.services.runtime.cluster_health import ClusterHealthCache, HealthReading
from myriagate.settings import Settings
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


def cluster_health_cache(
    gateway: Gateway, *, monotonic: Callable[[], float] = time.monotonic
) -> ClusterHealthCache:
    """A cache pinging through each cluster's service login, timed by the settings."""
    settings: Settings = gateway.settings
    return ClusterHealthCache(
        lambda name: gateway.backends(name).for_service().ping(),
        ttl_s=settings.cluster_health_ttl_s,
        failure_ttl_s=settings.cluster_health_failure_ttl_s,
        timeout_s=settings.cluster_health_timeout_s,
        monotonic=monotonic,
    )


def cluster_health_of(request: Request) -> ClusterHealthCache:
    """The application's shared cache, made on first use (tests may put their own in app.state)."""
    state = request.app.state
    with _PROBE_LOCK:
        cache: ClusterHealthCache | None = getattr(state, "cluster_health", None)
        if cache is None:
            cache = cluster_health_cache(state.gateway)
            state.cluster_health = cache
    return cache


class ReadinessProbe:
    """Runs the checks with timeouts; cluster checks come from a ``ClusterHealthCache``.

    One per application (kept in ``app.state.readiness``), built on the application's shared
    cache; each uvicorn worker process has its own, which is fine since the cache only bounds
    how often *this* process pings. Without ``clusters`` (tests) it makes its own cache.
    """

    def __init__(
        self,
        gateway: Gateway,
        *,
        clusters: ClusterHealthCache | None = None,
        cluster_ttl_s: float | None = None,
        cluster_failure_ttl_s: float | None = None,
        cluster_timeout_s: float | None = None,
        database_timeout_s: float = 3.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.gateway = gateway
        self.database_timeout_s = database_timeout_s
        self.monotonic = monotonic
        if clusters is None:
            clusters = cluster_health_cache(gateway, monotonic=monotonic)
            self._owns_clusters = True
        else:
            self._owns_clusters = False
        for attr, value in (("ttl_s", cluster_ttl_s), ("failure_ttl_s", cluster_failure_ttl_s),
                            ("timeout_s", cluster_timeout_s)):  # fmt: skip
            if value is not None:
                setattr(clusters, attr, value)
        self.clusters = clusters
        self._lock = threading.Lock()
        self._db_in_flight: Future[Check] | None = None
        # One thread: a database check that hangs is never started twice.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readyz")

    def database(self) -> Check:
        """``SELECT 1`` on a pooled connection; never cached (it is cheap and local)."""
        with self._lock:
            future = self._db_in_flight
            if future is None or future.done():
                future = self._pool.submit(self._select_one)
                self._db_in_flight = future
        try:
            return future.result(timeout=self.database_timeout_s)
        except FutureTimeout:
            return Check("down", detail=f"no answer within {self.database_timeout_s:g} s",
                         checked_at=self.monotonic())  # fmt: skip
        except Exception as exc:  # a bug in a check must not turn the probe into a 500
            log.exception("readyz.check_failed", check="db")
            return Check("down", detail=type(exc).__name__, checked_at=self.monotonic())

    def cluster(self, name: str) -> Check:
        return _check_of(self.clusters.get(name))

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

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._owns_clusters:
            self.clusters.close()


def _check_of(reading: HealthReading) -> Check:
    if reading.problem is not None:
        # Shown to anonymous probes: the error's title only (its detail may name hosts).
        return Check("down", detail=reading.problem_title, checked_at=reading.checked_mono)
    health = reading.health
    if not health.reachable:
        return Check("down", detail=health.detail or "unreachable", checked_at=reading.checked_mono)
    return Check("up", latency_ms=health.latency_ms, slurm_version=health.slurm_version,
                 checked_at=reading.checked_mono)  # fmt: skip


def probe_of(request: Request) -> ReadinessProbe:
    """The application's probe, made on first use (tests may put their own in app.state)."""
    clusters = cluster_health_of(request)
    state = request.app.state
    with _PROBE_LOCK:
        probe: ReadinessProbe | None = getattr(state, "readiness", None)
        if probe is None:
            probe = ReadinessProbe(state.gateway, clusters=clusters)
            state.readiness = probe
    return probe


_PROBE_LOCK = threading.RLock()


@router.get("/readyz", include_in_schema=False)
def readyz(request: Request, cluster: Annotated[list[str] | None, Query()] = None) -> JSONResponse:
    """200 when the database and every checked cluster answer, else 503; per-component states."""
    probe = probe_of(request)
    gateway = probe.gateway
    # An unknown name raises NotFound: a probe's route, so a 404 problem+json whatever it accepts.
    names = [gateway.profile(name).name for name in (cluster or [gateway.settings.default_cluster])]
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
