"""3 gateway processes × 50 parallel holds on a project that can pay for exactly k.

Each process is a separate Python interpreter with its own engine and connection pool (as
three gateway instances on one database would be); inside it, 50 threads hold at once. Only
the database serialises them, so exactly k holds may succeed, on SQLite (one file, WAL) and
on PostgreSQL, and the balance is never seen below zero.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.ledger import SqlLedger
from myriagate.db.models.allocations import EntryKind, LedgerEntry
from myriagate.db.repos import allocations as allocations_repo
from myriagate.db.repos import projects as projects_repo
from myriagate.domain.costs import Cost
from tests.conftest import CLUSTER

PROCESSES = 3
THREADS = 50
K = 37  # fits exactly K holds
AMOUNT = Cost(core_seconds=3600, gpu_seconds=600)

# One gateway process: connect, start THREADS threads, wait for "go" on stdin, hold at once.
GATEWAY = """
import json, sys, threading, uuid
from myriagate.db.ledger import SqlLedger
from myriagate.db.session import make_engine, make_session_factory
from myriagate.domain.costs import Cost
from myriagate.errors import InsufficientAllocation

url, allocation_id, core, gpu, threads = sys.argv[1], uuid.UUID(sys.argv[2]), *map(int, sys.argv[3:6])
factory = make_session_factory(make_engine(url))
barrier = threading.Barrier(threads + 1)
outcomes = []

def submit():
    barrier.wait()
    with factory() as session:
        try:
            SqlLedger(session).hold(allocation_id=allocation_id, job_id=uuid.uuid4(), amount=Cost(core, gpu))
            session.commit()
            outcomes.append("accepted")
        except InsufficientAllocation:
            session.rollback()
            outcomes.append("refused")
        except Exception as exc:
            outcomes.append(f"error: {exc!r}")

workers = [threading.Thread(target=submit) for _ in range(threads)]
for w in workers:
    w.start()
print("ready", flush=True)
sys.stdin.readline()
barrier.wait()
for w in workers:
    w.join()
print(json.dumps(outcomes), flush=True)
"""


def _seed(session: Session) -> str:
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    projects_repo.add_institution(session, code="unicaen", name="Université de Caen")
    project = projects_repo.add_project(
        session, cluster=CLUSTER, slurm_account="caen-climat", institution="unicaen", created_at=t0
    )
    period = allocations_repo.create_period(
        session,
        cluster=CLUSTER,
        name="2026",
        starts_at=datetime(2026, 1, 1, tzinfo=UTC),
        ends_at=datetime(2027, 1, 1, tzinfo=UTC),
    )
    allocation = allocations_repo.create_allocation(
        session, project_id=project.id, period_id=period.id, created_at=t0
    )
    # Exactly K of core time; GPU time has some slack, so the core-seconds decide.
    granted = Cost(K * AMOUNT.core_seconds, K * AMOUNT.gpu_seconds + 5)
    SqlLedger(session).grant(allocation.id, granted, author="admin", reason="test", enforce_quota=False)
    session.commit()
    return str(allocation.id)


def test_three_processes_of_fifty_parallel_holds_accept_exactly_k(
    db_url: str, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        allocation_id = _seed(session)
    args = [db_url, allocation_id, str(AMOUNT.core_seconds), str(AMOUNT.gpu_seconds), str(THREADS)]
    gateways = [
        subprocess.Popen(
            [sys.executable, "-c", GATEWAY, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    lowest: list[int] = []
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_remaining, args=(session_factory, allocation_id, stop, lowest))
    try:
        for gateway in gateways:
            assert gateway.stdout is not None and gateway.stdout.readline().strip() == "ready"
        sampler.start()
        for gateway in gateways:  # all three go at once
            assert gateway.stdin is not None
            gateway.stdin.write("go\n")
            gateway.stdin.flush()
        outcomes: list[str] = []
        for gateway in gateways:
            out, err = gateway.communicate(timeout=180)
            assert gateway.returncode == 0, err
            outcomes += json.loads(out.strip().splitlines()[-1])
    finally:
        stop.set()
        if sampler.is_alive():
            sampler.join()
        for gateway in gateways:
            if gateway.poll() is None:
                gateway.kill()

    assert [o for o in outcomes if o.startswith("error")] == []
    assert outcomes.count("accepted") == K
    assert outcomes.count("refused") == PROCESSES * THREADS - K
    with session_factory() as session:
        balance = SqlLedger(session).balance(uuid.UUID(allocation_id))
        holds = session.scalar(sa.select(sa.func.count()).where(LedgerEntry.kind == EntryKind.HOLD))
    assert balance.held == Cost(K * AMOUNT.core_seconds, K * AMOUNT.gpu_seconds)
    assert balance.remaining == Cost(0, 5)
    assert holds == K
    assert lowest and min(lowest) >= 0


def _sample_remaining(
    factory: sessionmaker[Session], allocation_id: str, stop: threading.Event, lowest: list[int]
) -> None:
    """Read the raw totals again and again while the holds run; remember the smallest margin."""
    sql = sa.text(
        "SELECT MIN(granted_core_seconds - held_core_seconds - charged_core_seconds,"
        " granted_gpu_seconds - held_gpu_seconds - charged_gpu_seconds) FROM allocations"
    )
    with factory() as session:
        if session.get_bind().dialect.name == "postgresql":
            sql = sa.text(str(sql).replace("MIN(", "LEAST("))
        while not stop.is_set():
            lowest.append(int(session.execute(sql).scalar_one()))
            session.rollback()
            time.sleep(0.005)
