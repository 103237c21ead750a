"""What ``myriagate worker`` runs, built by the composition root (``Gateway.worker_runtime``).

Per cluster: a poller (``runtime.worker.Worker``: lease, tick, settle) and, on a cluster that
can stage data, a transfer loop beside it, so a long stage-out never delays a poll tick. Once
per process: the notifications sender (outbox, webhooks, balance watch). Each runs in a daemon
thread until SIGINT or SIGTERM; one pass of each is ``run_once`` (``worker --once``).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType

from sqlalchemy.orm import Session, sessionmaker

from myriagate.ports import Clock
from myriagate.services.common.leases import holder_id
from myriagate.services.dataset_transfers import runner as dataset_transfers
from myriagate.services.jobs.tracking import TickResult
from myriagate.services.notifications import balance_watch, sender
from myriagate.services.runtime.worker import Worker
from myriagate.services.staging import step as staging_step
from myriagate.services.staging.context import StagingContext

# How long a stopped runtime waits for each thread to finish its pass.
JOIN_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class NotificationsLoop:
    """The notifications sender with the balance watch every minute."""

    session_factory: sessionmaker[Session]
    channels: sender.Channels
    clock: Clock
    holder: str = field(default_factory=holder_id)

    def run(self, stop: threading.Event) -> None:
        """Deliver until ``stop`` is set."""
        sender.run_loop(
            self.session_factory, self.channels, stop, clock=self.clock, every_minute=self._watch_balances
        )

    def _watch_balances(self) -> balance_watch.WatchResult | None:
        return balance_watch.run(self.session_factory, clock=self.clock, holder=self.holder)


@dataclass(frozen=True)
class WorkerRuntime:
    """The worker's loops: pollers and transfer loops per cluster, and the notifications sender."""

    pollers: Sequence[Worker]
    # Only the clusters that can stage data (``staging.step.can_stage``).
    staging: Mapping[str, StagingContext]
    notifications: NotificationsLoop | None
    loop_min_s: float
    loop_max_s: float

    def run_once(self) -> dict[str, dict[str, object]]:
        """One tick (and settlement) and one staging pass per cluster; what each did, by cluster."""
        ticks: dict[str, TickResult | None] = {p.options.cluster: p.run_once() for p in self.pollers}
        staged = {
            name: staging_step.run_pending(ctx) + dataset_transfers.run_pending(ctx)
            for name, ctx in self.staging.items()
        }
        return {
            name: {
                **(result.__dict__ if result is not None else {"lease": "held elsewhere"}),
                "staged": staged.get(name, 0),
            }
            for name, result in ticks.items()
        }

    def threads(self, stop: threading.Event) -> list[threading.Thread]:
        """One daemon thread per loop (not started), each running until ``stop`` is set."""
        threads = [
            threading.Thread(target=p.run, name=f"poll-{p.options.cluster}", args=(stop,), daemon=True)
            for p in self.pollers
        ]
        threads += [
            threading.Thread(
                target=staging_step.run_loop,
                name=f"staging-{name}",
                args=(ctx, stop),
                kwargs={"min_s": self.loop_min_s, "max_s": self.loop_max_s},
                daemon=True,
            )
            for name, ctx in self.staging.items()
        ]
        # Saves and copies between file areas and datasets (issue #17): a thread of their own per
        # cluster, so a long save never holds a job's stage-in back.
        threads += [
            threading.Thread(
                target=dataset_transfers.run_loop,
                name=f"dataset-transfers-{name}",
                args=(ctx, stop),
                kwargs={"min_s": self.loop_min_s, "max_s": self.loop_max_s},
                daemon=True,
            )
            for name, ctx in self.staging.items()
        ]
        if self.notifications is not None:
            notify = self.notifications.run
            threads.append(threading.Thread(target=notify, name="notifications", args=(stop,), daemon=True))
        return threads

    def run(self, stop: threading.Event | None = None) -> None:
        """Run every loop until SIGINT/SIGTERM (or ``stop``), or until every loop has ended.

        Signal handlers are installed only from the main thread (Python allows no other).
        """
        stop = stop or threading.Event()
        if threading.current_thread() is threading.main_thread():

            def on_signal(signum: int, frame: FrameType | None) -> None:
                stop.set()

            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, on_signal)
        threads = self.threads(stop)
        for thread in threads:
            thread.start()
        while not stop.is_set() and any(t.is_alive() for t in threads):
            time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join(timeout=JOIN_TIMEOUT_S)
