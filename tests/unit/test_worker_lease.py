"""The worker: one ticking worker per cluster thanks to the lease, backoff between ticks."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from myriagate.clock import SystemClock
from myriagate.db.models import Job, User
from myriagate.db.repos import leases
from myriagate.domain.states import JobState
from myriagate.services.allocations.settlement import SettleResult
from myriagate.services.jobs.tracking import TickResult
from myriagate.services.runtime.worker import Backoff, Worker, WorkerOptions, lease_name
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.settings import Settings
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.fakes.profiles import dev_profile


class TickLog:
    """A tick stand-in that records who ticked when, and how many ticked at once."""

    def __init__(self, duration_s: float = 0.0, changed: int = 0) -> None:
        self.duration_s = duration_s
        self.changed = changed
        self.calls: list[tuple[str, float]] = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def for_holder(self, holder: str) -> Any:
        def tick(session: Session, **_: object) -> TickResult:
            with self._lock:
                self.active += 1
                self.max_active = max(self.max_active, self.active)
                self.calls.append((holder, time.monotonic()))
            time.sleep(self.duration_s)
            with self._lock:
                self.active -= 1
            return TickResult(changed=self.changed, polled=1)

        return tick

    def holders(self) -> list[str]:
        return [holder for holder, _ in self.calls]


def worker(
    session_factory: sessionmaker[Session],
    backends: FakeSlurmBackendFactory,
    clock: Any,
    holder: str,
    log: TickLog | None = None,
    **options: float,
) -> Worker:
    kwargs: dict[str, Any] = {"holder": holder, "ledger": worker_ledger(clock)}
    if log is not None:
        kwargs["tick"] = log.for_holder(holder)
    return Worker(session_factory, backends, clock, WorkerOptions(cluster=CLUSTER, **options), **kwargs)


def test_the_delay_doubles_while_idle_and_resets_on_change() -> None:
    backoff = Backoff(min_s=2.0, max_s=30.0)
    assert [backoff.next(changed=False) for _ in range(6)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert backoff.next(changed=True) == 2.0
    assert backoff.next(changed=False) == 4.0


def test_options_come_from_settings() -> None:
    settings = Settings(dev_mode=True, poll_min_s=1.5, poll_max_s=20, lease_s=45)
    options = WorkerOptions.from_settings(settings, "myria")
    assert (options.cluster, options.poll_min_s, options.poll_max_s, options.lease_s) == (
        "myria",
        1.5,
        20,
        45,
    )


def test_a_second_worker_waits_until_the_lease_expires(
    session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory, clock: FakeClock
) -> None:
    log = TickLog()
    first = worker(session_factory, backends, clock, "w1", log, lease_s=30)
    second = worker(session_factory, backends, clock, "w2", log, lease_s=30)

    assert first.run_once() is not None
    assert second.run_once() is None
    clock.advance(29)
    assert first.run_once() is not None  # renewed: good for 30 s from now
    clock.advance(29)
    assert second.run_once() is None
    clock.advance(2)  # the first worker died without renewing
    assert second.run_once() is not None
    assert first.run_once() is None
    assert log.holders() == ["w1", "w1", "w2"]


def test_a_worker_keeps_its_lease_while_it_sleeps_between_ticks(
    session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory, clock: FakeClock
) -> None:
    log = TickLog()
    first = worker(session_factory, backends, clock, "w1", log, lease_s=10, poll_min_s=60, poll_max_s=120)
    second = worker(session_factory, backends, clock, "w2", log, lease_s=10)

    delay = first.step()
    assert delay == 60
    clock.advance(65)  # longer than lease_s, shorter than the delay plus lease_s
    assert second.run_once() is None
    with session_factory() as session:
        assert leases.holder_of(session, lease_name(CLUSTER), now=clock.now()) == "w1"


def test_the_worker_ticks_the_real_tracking(
    session_factory: sessionmaker[Session],
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    with session_factory() as session:
        request = SubmitRequest(
            script_text="#!/bin/bash\ntrue\n", cluster=CLUSTER, overrides={"job-name": "run"}
        )
        job = submit_job(
            session, backends=backends, profile=dev_profile(), user=alice, request=request, clock=clock
        )
    assert job.slurm_job_id is not None
    fake_cluster.finish(job.slurm_job_id, "COMPLETED")

    result = worker(session_factory, backends, clock, "w1").run_once()
    assert result is not None and (result.changed, result.polled) == (1, 1)
    with session_factory() as session:
        stored = session.get(Job, job.id)
        assert stored is not None and stored.state is JobState.COMPLETED


def test_a_failing_tick_does_not_kill_the_worker(
    session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory, clock: FakeClock
) -> None:
    def broken_tick(session: Session, **_: object) -> TickResult:
        raise RuntimeError("a bug")

    w = Worker(session_factory, backends, clock, WorkerOptions(cluster=CLUSTER, poll_min_s=1, poll_max_s=8),
               ledger=worker_ledger(clock), holder="w1", tick=broken_tick)  # fmt: skip
    result = w.run_once()
    assert result is not None and result.error is not None and "a bug" in result.error
    assert [w.step(), w.step()] == [1, 2]  # backing off, still alive


@pytest.mark.parametrize("poll_error", [None, "squeue: no exit after 3 s, killed"])
def test_settlement_waits_while_the_cluster_does_not_answer_the_poll(
    session_factory: sessionmaker[Session],
    backends: FakeSlurmBackendFactory,
    clock: FakeClock,
    poll_error: str | None,
) -> None:
    settled: list[int] = []

    def tick(session: Session, **_: object) -> TickResult:
        return TickResult(changed=0, polled=2, error=poll_error)

    def settle(session: Session) -> SettleResult:
        settled.append(1)
        return SettleResult(settled=3)

    w = Worker(session_factory, backends, clock, WorkerOptions(cluster=CLUSTER), ledger=worker_ledger(clock),
               holder="w1", tick=tick, settle=settle)  # fmt: skip
    result = w.run_once()
    assert result is not None and result.error == poll_error
    # A failing cluster gets no sacct sweep stacked on the failed poll; a healthy one is settled.
    assert (len(settled), result.changed) == ((0, 0) if poll_error else (1, 3))


@pytest.mark.timeout(60)
def test_two_workers_never_tick_one_cluster_at_the_same_time(
    session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory
) -> None:
    log = TickLog(duration_s=0.02)
    options: dict[str, float] = {"poll_min_s": 0.01, "poll_max_s": 0.02, "lease_s": 2.0}
    workers = [worker(session_factory, backends, SystemClock(), f"w{i}", log, **options) for i in (1, 2)]
    stops = [threading.Event(), threading.Event()]
    threads = [
        threading.Thread(target=w.run, args=(s,), daemon=True) for w, s in zip(workers, stops, strict=True)
    ]
    for t in threads:
        t.start()
    time.sleep(1.0)
    holders_before = set(log.holders())
    leader = log.holders()[0]
    index = 0 if leader == "w1" else 1
    stops[index].set()  # the leader stops and gives the lease up
    threads[index].join(10)
    stopped_at = time.monotonic()
    time.sleep(0.5)
    stops[1 - index].set()
    threads[1 - index].join(10)

    assert log.max_active == 1
    assert holders_before == {leader}  # the standby never ticked while the leader was alive
    assert len(log.calls) > 10
    follower = "w2" if leader == "w1" else "w1"
    assert any(holder == follower and at > stopped_at for holder, at in log.calls)  # it took over
