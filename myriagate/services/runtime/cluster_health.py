"""Cluster health as the pages, the clusters API and ``/readyz`` show it: cached, single flight.

``ping()`` runs ``scontrol ping``, ``sinfo`` and ``sbatch --version`` on the login node. Asked
on every request, a busy cluster page or a monitoring probe every second would turn into a
stream of Slurm RPCs (squeue.1 and sinfo.1 warn that loops of them can deny service to
slurmctld). So one ``ClusterHealthCache`` per process answers every caller:

- an answer is kept ``ttl_s`` seconds (a failure only ``failure_ttl_s``, so a cluster that
  comes back is seen soon);
- at most one ping per cluster is in flight: callers arriving during a miss wait on it
  instead of starting their own, and a ping that hangs is never duplicated while it hangs;
- a caller waits at most ``timeout_s``; it then gets a "no answer" reading (cached like any
  failure), and the late answer replaces it when it comes.

Every reading says when it was taken, so the page and the API can show how old it is.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from myriagate.errors import MyriagateError
from myriagate.ports import ClusterHealth

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class HealthReading:
    """One ping's outcome: ``health`` (unreachable on any failure), ``problem`` when the ping
    raised our error (its ``title: detail``), and when it was taken."""

    cluster: str
    health: ClusterHealth
    problem: str | None
    checked_at: datetime  # wall clock (UTC), for people
    checked_mono: float  # monotonic clock, for the cache and ages
    problem_title: str | None = None  # the error's title alone (its detail may name hosts)

    @property
    def reachable(self) -> bool:
        return self.problem is None and self.health.reachable

    @property
    def detail(self) -> str | None:
        return self.problem or self.health.detail

    def age_s(self, now_mono: float) -> float:
        return max(now_mono - self.checked_mono, 0.0)


class ClusterHealthCache:
    """``get(name)``: the cluster's latest reading, pinging it only when the reading is stale.

    Thread-safe; meant to be shared by every request of a process (``app.state``). Each API
    process has its own, which bounds *this* process's pings: with N processes a cluster sees
    at most N pings per period.
    """

    def __init__(
        self,
        ping: Callable[[str], ClusterHealth],
        *,
        ttl_s: float = 15.0,
        failure_ttl_s: float = 5.0,
        timeout_s: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_workers: int = 4,
    ) -> None:
        self._ping = ping
        self.ttl_s = ttl_s
        self.failure_ttl_s = failure_ttl_s
        self.timeout_s = timeout_s
        self.monotonic = monotonic
        self.wall_clock = wall_clock
        self._lock = threading.Lock()
        self._cache: dict[str, HealthReading] = {}
        self._in_flight: dict[str, Future[HealthReading]] = {}
        # A few threads: a hung ping keeps its thread until its own (SSH) timeout ends.
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="cluster-health")

    def get(self, name: str, *, timeout_s: float | None = None) -> HealthReading:
        """The fresh cached reading, or the one a ping (shared with concurrent callers) takes."""
        wait_s = self.timeout_s if timeout_s is None else timeout_s
        with self._lock:
            cached = self._cache.get(name)
            if cached is not None and self._fresh(cached):
                return cached
            future = self._in_flight.get(name)
            if future is None:
                future = self._pool.submit(self._take, name)
                self._in_flight[name] = future
            elif cached is not None and not cached.reachable and future.running():
                # A ping is under way (perhaps hanging) and a failure is known: say it now
                # rather than make every caller wait on the same ping again.
                return cached
        try:
            return future.result(timeout=wait_s)
        except FutureTimeout:
            reading = self._reading(
                name, ClusterHealth(reachable=False, detail=f"no answer within {wait_s:g} s"), None
            )
            with self._lock:
                current = self._cache.get(name)
                if current is None or current.checked_mono <= reading.checked_mono:
                    self._cache[name] = reading
            return reading

    def in_flight(self, name: str) -> Future[HealthReading] | None:
        """The ping under way for ``name`` (tests wait on it)."""
        with self._lock:
            return self._in_flight.get(name)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # --- internals -----------------------------------------------------------------------
    def _fresh(self, reading: HealthReading) -> bool:
        ttl = self.ttl_s if reading.reachable else self.failure_ttl_s
        return self.monotonic() - reading.checked_mono < ttl

    def _take(self, name: str) -> HealthReading:
        """Runs in the pool: ping, cache the answer, end the flight."""
        try:
            try:
                reading = self._reading(name, self._ping(name), None)
            except MyriagateError as exc:
                log.warning("cluster.ping_failed", cluster=name, code=exc.code, detail=exc.detail)
                reading = self._reading(
                    name, ClusterHealth(reachable=False), f"{exc.title}: {exc.detail}", exc.title
                )
            except Exception as exc:  # a bug in a backend must not break every health page
                log.exception("cluster.ping_crashed", cluster=name)
                reading = self._reading(
                    name, ClusterHealth(reachable=False), type(exc).__name__, type(exc).__name__
                )
            if not reading.reachable:
                log.warning("cluster.unreachable", cluster=name, detail=reading.detail)
            with self._lock:
                self._cache[name] = reading
            return reading
        finally:
            with self._lock:
                self._in_flight.pop(name, None)

    def _reading(
        self, name: str, health: ClusterHealth, problem: str | None, title: str | None = None
    ) -> HealthReading:
        return HealthReading(name, health, problem, self.wall_clock(), self.monotonic(), title)
