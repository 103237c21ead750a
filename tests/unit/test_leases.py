"""The one lease helper: named leases and job transfer claims, on SQLite and PostgreSQL.

A holder keeps what it took, nobody else takes it before it expires, anybody may take it over
after, and when many workers race for one lease exactly one wins.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models.jobs import Job
from myriagate.db.models.staging import JobStaging
from myriagate.db.models.users import User
from myriagate.domain.states import JobState
from myriagate.services.common.leases import Lease, holder_id
from tests.conftest import FakeClock


def _job_with_plan(session: Session, user: User, clock: FakeClock) -> uuid.UUID:
    now = clock.now()
    job = Job(
        user_id=user.id,
        cluster="devcluster",
        cluster_login=user.username,
        tag=f"mg:{uuid.uuid4()}",
        state=JobState.STAGING_IN,
        script_text="#!/bin/bash\n",
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    session.flush()
    session.add(JobStaging(job_id=job.id))
    session.commit()
    return job.id


def test_holder_ids_differ_within_one_process() -> None:
    assert len({holder_id() for _ in range(50)}) == 50


def test_named_lease_is_kept_renewed_stolen_after_expiry_and_released(
    session: Session, clock: FakeClock
) -> None:
    a = Lease.named("poll:devcluster", holder="a", ttl_s=30, clock=clock)
    b = Lease.named("poll:devcluster", holder="b", ttl_s=30, clock=clock)
    assert a.acquire(session) and a.current_holder(session) == "a"
    assert not b.acquire(session) and not b.renew(session)
    clock.advance(20)
    assert a.renew(session)  # now + 30 s again
    clock.advance(20)
    assert not b.acquire(session)
    clock.advance(11)
    assert a.current_holder(session) is None  # expired
    assert b.acquire(session) and b.current_holder(session) == "b"
    assert not a.renew(session) and not a.release(session)  # lost: renewing never takes it back
    assert b.release(session) and b.current_holder(session) is None
    assert a.acquire(session)


def test_staging_claim_uses_the_job_row_and_never_creates_one(
    session: Session, clock: FakeClock, alice: User
) -> None:
    job_id = _job_with_plan(session, alice, clock)
    w1 = Lease.staging_claim(job_id, holder="w1", ttl_s=600, clock=clock)
    w2 = Lease.staging_claim(job_id, holder="w2", ttl_s=600, clock=clock)
    assert w1.acquire(session) and not w2.acquire(session)
    assert session.get(JobStaging, job_id).claimed_by == "w1"  # type: ignore[union-attr]
    clock.advance(601)
    assert w2.acquire(session) and not w1.renew(session)
    assert w2.release(session) and w2.current_holder(session) is None
    row = session.get(JobStaging, job_id)
    session.refresh(row)
    assert row is not None and row.claimed_by is None and row.claimed_until is None
    assert not Lease.staging_claim(uuid.uuid4(), holder="w1", ttl_s=600, clock=clock).acquire(session)


def _race(session_factory: sessionmaker[Session], make: Callable[[str], Lease], workers: int = 8) -> set[str]:
    winners: set[str] = set()
    start = threading.Barrier(workers)

    def attempt(name: str) -> None:
        start.wait()
        with session_factory() as s:
            if make(name).acquire(s):
                winners.add(name)

    threads = [threading.Thread(target=attempt, args=(f"w{i}",)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return winners


def test_one_winner_when_workers_race_for_a_new_named_lease(
    session_factory: sessionmaker[Session], clock: FakeClock
) -> None:
    winners = _race(session_factory, lambda name: Lease.named("sweep:x", holder=name, ttl_s=60, clock=clock))
    assert len(winners) == 1


def test_one_winner_when_workers_race_for_a_job_claim(
    session_factory: sessionmaker[Session], session: Session, clock: FakeClock, alice: User
) -> None:
    job_id = _job_with_plan(session, alice, clock)
    winners = _race(
        session_factory, lambda name: Lease.staging_claim(job_id, holder=name, ttl_s=60, clock=clock)
    )
    assert len(winners) == 1
