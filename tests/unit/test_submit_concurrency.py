"""3 gateway processes × 50 parallel SUBMISSIONS on a project that can pay for k.

Unlike test_ledger_concurrency (holds alone), each thread here runs the whole submit use case
(validation, job row, hold, sbatch) as a gateway would, against one shared database; each
process has its own fake Slurm. Exactly k jobs reach Slurm, the others are refused with
InsufficientAllocation and leave no job row, and the balance is never negative.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.ledger import SqlLedger
from myriagate.db.models.jobs import Job
from myriagate.db.repos import allocations as allocations_repo
from myriagate.db.repos import projects as projects_repo
from myriagate.domain.costs import Cost
from myriagate.domain.jobs import JobSpec
from myriagate.profiles.loader import load_profile
from myriagate.services.allocations.holds import job_hold
from myriagate.settings import Settings
from tests.conftest import CLUSTER, FakeClock, add_project, make_user

PROCESSES = 3
THREADS = 50
K = 23
SCRIPT = "#!/bin/bash\n#SBATCH --job-name=race\ntrue\n"
OVERRIDES = {"partition": "debug", "time": "10"}

GATEWAY = """
import json, sys, threading
from myriagate.db.ledger import SqlLedger
from myriagate.db.repos import users as users_repo
from myriagate.db.session import make_engine, make_session_factory
from myriagate.errors import InsufficientAllocation
from myriagate.profiles.loader import load_profile
from myriagate.clock import SystemClock
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.settings import Settings
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory

url, script, overrides, threads = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
first_id = int(sys.argv[5])  # one real Slurm hands out distinct ids; so must the three fakes
factory = make_session_factory(make_engine(url))
profile = load_profile("devcluster", Settings(dev_mode=True))
backends = FakeSlurmBackendFactory(FakeCluster(name="devcluster", first_job_id=first_id))
barrier = threading.Barrier(threads + 1)
outcomes = []

def submit():
    barrier.wait()
    with factory() as session:
        user = users_repo.get_by_username(session, "alice@unicaen.fr")
        try:
            job = submit_job(session, backends=backends, profile=profile, user=user, clock=SystemClock(),
                             request=SubmitRequest(script, "devcluster", overrides), ledger=SqlLedger)
            outcomes.append("accepted" if job.slurm_job_id else f"error: no slurm id ({job.state})")
        except InsufficientAllocation:
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
print(json.dumps({"outcomes": outcomes, "sbatch": backends.cluster.calls["sbatch"]}), flush=True)
"""


def _seed(session: Session) -> Cost:
    clock = FakeClock(datetime(2026, 1, 5, tzinfo=UTC))
    make_user(session, "alice@unicaen.fr", "alice", ["caen-climat"], clock)
    projects_repo.add_institution(session, code="unicaen", name="Université de Caen")
    project = add_project(
        session, cluster=CLUSTER, slurm_account="caen-climat", institution="unicaen", created_at=clock.now()
    )
    now = datetime.now(UTC)
    period = allocations_repo.create_period(
        session, cluster=CLUSTER, name="now", starts_at=datetime(now.year, 1, 1, tzinfo=UTC),
        ends_at=datetime(now.year + 1, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    allocation = allocations_repo.create_allocation(
        session, project_id=project.id, period_id=period.id, created_at=clock.now()
    )
    profile = load_profile(CLUSTER, Settings(dev_mode=True))
    one_job = job_hold(
        profile, JobSpec(partition="debug", time_limit_s=600, account="caen-climat", job_name="race")
    )
    granted = Cost(K * one_job.core_seconds, K * one_job.gpu_seconds)
    SqlLedger(session).grant(allocation.id, granted, author="admin", reason="test", enforce_quota=False)
    session.commit()
    return one_job


def test_three_gateways_of_fifty_parallel_submissions_accept_exactly_k(
    db_url: str, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        one_job = _seed(session)
    assert one_job.core_seconds > 0
    args = [db_url, SCRIPT, json.dumps(OVERRIDES), str(THREADS)]
    gateways = [
        subprocess.Popen([sys.executable, "-c", GATEWAY, *args, str(1000 + 10_000 * n)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(PROCESSES)
    ]  # fmt: skip
    results = []
    try:
        for gateway in gateways:
            assert gateway.stdout is not None and gateway.stdout.readline().strip() == "ready"
        for gateway in gateways:
            assert gateway.stdin is not None
            gateway.stdin.write("go\n")
            gateway.stdin.flush()
        for gateway in gateways:
            out, err = gateway.communicate(timeout=240)
            assert gateway.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for gateway in gateways:
            if gateway.poll() is None:
                gateway.kill()

    outcomes = [o for r in results for o in r["outcomes"]]
    assert [o for o in outcomes if o.startswith("error")] == []
    assert outcomes.count("accepted") == K
    assert outcomes.count("refused") == PROCESSES * THREADS - K
    assert sum(r["sbatch"] for r in results) == K  # refused submissions never reached Slurm
    with session_factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Job)) == K  # nothing left behind
        allocation = allocations_repo.allocation_at(session, CLUSTER, "caen-climat", datetime.now(UTC))
        assert allocation is not None
        balance = SqlLedger(session).balance(allocation.id)
    assert balance.held == Cost(K * one_job.core_seconds, K * one_job.gpu_seconds)
    assert balance.remaining == Cost()
