"""The polling loop of one cluster, run by the worker runtime: lease, tick, back off, repeat.

After each tick the worker settles the cluster's finished jobs against their allocations
(``services.allocations.settlement``) when it was given a ``settle`` step (allocations enforced).
The ledger it releases and settles with is a factory the composition root
(``myriagate.wiring.worker_ledger``) hands in: the worker never picks an implementation.

Several workers may run against one database (for availability); the lease
``poll:<cluster>`` makes sure only one of them ticks a cluster at a time. The delay between
ticks doubles from ``poll_min_s`` up to ``poll_max_s`` while nothing changes and drops back
to ``poll_min_s`` as soon as something does, so an idle cluster costs few squeue calls and a
busy one is followed closely.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta

import structlog
from sqlalchemy.orm import Session

from myriagate.observability.metrics import observe_tick
from myriagate.ports import Clock, SlurmBackendFactory
from myriagate.profiles.models import ClusterProfile
from myriagate.services.allocations import settlement
from myriagate.services.allocations.settlement import LedgerFactory, SettleResult
from myriagate.services.common.leases import Lease, holder_id
from myriagate.services.jobs import tracking, vanished
from myriagate.services.jobs.tracking import TickResult
from myriagate.settings import Settings

log = structlog.get_logger(__name__)

TickFn = Callable[..., TickResult]
SettleFn = Callable[[Session], SettleResult]


def lease_name(cluster: str) -> str:
    return f"poll:{cluster}"


@dataclass(frozen=True)
class WorkerOptions:
    cluster: str
    poll_min_s: float = 2.0
    poll_max_s: float = 30.0
    lease_s: float = 30.0
    uncertain_after_s: float = tracking.DEFAULT_UNCERTAIN_AFTER_S
    accounting_lag_s: float = tracking.DEFAULT_ACCOUNTING_LAG_S
    vanished_after_s: float = vanished.DEFAULT_RELEASE_AFTER_S

    @classmethod
    def from_settings(cls, settings: Settings, cluster: str) -> WorkerOptions:
        return cls(
            cluster=cluster,
            poll_min_s=settings.poll_min_s,
            poll_max_s=settings.poll_max_s,
            lease_s=settings.lease_s,
            accounting_lag_s=settings.accounting_lag_s,
            vanished_after_s=settings.vanished_job_release_s,
        )


@dataclass
class Backoff:
    """Delay between ticks: doubles while nothing changes, back to the minimum on change."""

    min_s: float
    max_s: float
    current_s: float = field(init=False)

    def __post_init__(self) -> None:
        self.current_s = self.min_s

    def next(self, changed: bool) -> float:
        """The delay to wait after a tick, given whether it changed anything."""
        delay = self.min_s if changed else self.current_s
        self.current_s = min(self.max_s, delay * 2)
        return delay


@dataclass
class Worker:
    """Ticks one cluster while it holds that cluster's lease."""

    session_factory: Callable[[], Session]
    backends: SlurmBackendFactory
    clock: Clock
    options: WorkerOptions
    # Opens the ledger in the tick's session: a job gone from Slurm has its hold released.
    ledger: LedgerFactory
    holder: str = field(default_factory=holder_id)
    tick: TickFn = tracking.tick
    settle: SettleFn | None = None
    backoff: Backoff = field(init=False)

    _lease: Lease = field(init=False)

    def __post_init__(self) -> None:
        self.backoff = Backoff(self.options.poll_min_s, self.options.poll_max_s)
        self._lease = Lease.named(
            self.lease, holder=self.holder, ttl_s=self.options.lease_s, clock=self.clock
        )

    @property
    def lease(self) -> str:
        return lease_name(self.options.cluster)

    def run_once(self) -> TickResult | None:
        """Take (or renew) the lease and tick; None when another worker holds the lease."""
        with self.session_factory() as session:
            if not self._lease.acquire(session):
                return None
            started = time.perf_counter()
            try:
                result = self.tick(
                    session,
                    cluster=self.options.cluster,
                    backends=self.backends,
                    clock=self.clock,
                    uncertain_after_s=self.options.uncertain_after_s,
                    accounting_lag_s=self.options.accounting_lag_s,
                    vanished_after_s=self.options.vanished_after_s,
                    ledger=self.ledger,
                )
            except Exception as exc:
                # A bug or a database hiccup must not kill the worker: log it, retry later.
                session.rollback()
                log.exception("worker.tick_failed", cluster=self.options.cluster)
                observe_tick(self.options.cluster, started, failed=True)
                return TickResult(changed=0, polled=0, error=repr(exc))
            observe_tick(self.options.cluster, started, failed=result.error is not None)
            return self._settle(session, result)

    def _settle(self, session: Session, result: TickResult) -> TickResult:
        """Settle after the tick; a failure is logged and retried next time, never fatal."""
        if self.settle is None:
            return result
        if result.error is not None:
            # The cluster did not answer the poll: settling now would stack more Slurm
            # commands (sacct sweeps) on a cluster that is failing, and stretch the tick
            # far past one command timeout. Holds wait a tick; nothing is lost.
            log.info("worker.settle_deferred", cluster=self.options.cluster, error=result.error)
            return result
        try:
            settled = self.settle(session)
        except Exception:
            session.rollback()
            log.exception("worker.settle_failed", cluster=self.options.cluster)
            return result
        return replace(result, changed=result.changed + settled.changed)

    def step(self) -> float:
        """One iteration of the loop; returns how long to wait before the next one."""
        result = self.run_once()
        if result is None:
            return self.options.poll_min_s  # standby: check the lease often, it is one UPDATE
        delay = self.backoff.next(result.changed > 0 and result.error is None)
        # Keep the lease while sleeping, so the worker that ticked keeps ticking.
        with self.session_factory() as session:
            self._lease.acquire(session, ttl=timedelta(seconds=delay + self.options.lease_s))
        return delay

    def run(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set, then give the lease up so another worker takes over."""
        log.info("worker.started", cluster=self.options.cluster, holder=self.holder)
        try:
            while not stop.is_set():
                try:
                    delay = self.step()
                except Exception:
                    log.exception("worker.step_failed", cluster=self.options.cluster)
                    delay = self.options.poll_max_s
                stop.wait(delay)
        finally:
            with self.session_factory() as session:
                self._lease.release(session)
            log.info("worker.stopped", cluster=self.options.cluster, holder=self.holder)


def settle_step(
    *,
    cluster: str,
    backends: SlurmBackendFactory,
    clock: Clock,
    settings: Settings,
    profile: ClusterProfile,
    ledger: LedgerFactory,
) -> SettleFn | None:
    """The settlement step for ``cluster``, or None when allocations are not enforced.

    ``profile`` gives the billing weights; ``ledger`` opens the ledger in the worker's session.
    """
    if not settings.enforce_allocations:
        return None

    def step(session: Session) -> SettleResult:
        return settlement.settle(
            session, cluster=cluster, profile=profile, backends=backends, ledger=ledger, clock=clock,
            lease_s=settings.lease_s, outside_confirm_core_seconds=settings.outside_confirm_core_seconds,
        )  # fmt: skip

    return step


def build_poller(
    session_factory: Callable[[], Session],
    *,
    cluster: str,
    backends: SlurmBackendFactory,
    clock: Clock,
    settings: Settings,
    profile: ClusterProfile,
    ledger: LedgerFactory,
) -> Worker:
    """The poller of ``cluster`` with the options of ``settings`` and, when allocations are
    enforced, the settlement step."""
    step = settle_step(
        cluster=cluster, backends=backends, clock=clock, settings=settings, profile=profile, ledger=ledger
    )
    options = WorkerOptions.from_settings(settings, cluster)
    return Worker(session_factory, backends, clock, options, ledger, settle=step)


def run_once(
    session_factory: Callable[[], Session],
    *,
    cluster: str,
    backends: SlurmBackendFactory,
    clock: Clock,
    settings: Settings,
    profile: ClusterProfile,
    ledger: LedgerFactory,
) -> TickResult | None:
    """One lease-guarded tick, then settlement (what ``myriagate worker --once`` runs per cluster)."""
    return build_poller(
        session_factory, cluster=cluster, backends=backends, clock=clock, settings=settings,
        profile=profile, ledger=ledger,
    ).run_once()  # fmt: skip
