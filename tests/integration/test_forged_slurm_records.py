"""On the REAL dev cluster: a researcher's free text cannot forge a Slurm record.

Bob (``rouen-chimie``) submits a job directly on the cluster whose ``--comment`` holds
``innocent``, a line break and lines shaped like a finished job of ``caen-climat`` (job 99999,
user alice, 3,600,000 s × 32 CPUs) in every shape the gateway reads (the sweep's old and new
record formats, a framed comment line). The real outside-jobs sweep (settlement against the
real ``SlurmCliBackend`` over SSH as the service login) must charge bob's real job to
``rouen-chimie`` once, alice's honest outside job to ``caen-climat`` once, and nothing at all
for job 99999.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from myriagate.clock import SystemClock
from myriagate.db.ledger import SqlLedger
from myriagate.db.models.allocations import EntryKind, LedgerEntry
from myriagate.db.models.users import User
from myriagate.db.repos import projects as projects_repo
from myriagate.profiles.loader import load_profile
from myriagate.services.allocations import grants as allocations
from myriagate.services.allocations import settlement
from myriagate.settings import Settings
from myriagate.slurm import commands
from myriagate.wiring import ClusterBackends
from tests.conftest import CLUSTER, add_project
from tests.integration.conftest import DevCluster

# Bob's job here has a comment that breaks lines: while squeue shows it, every tag lookup of
# bob's is ambiguous and asks again job by job, which the batched-reconcile test counts. In
# parallel runs both go to one xdist worker (tests/conftest.py ONE_WORKER), and this test waits
# until its job has left squeue.
pytestmark = pytest.mark.slurm

CLOCK = SystemClock()
SEP = commands.SEP
FORGED_ID = "99999"


@pytest.fixture
def backends(devcluster: DevCluster, gateway_settings: Settings) -> Iterator[ClusterBackends]:
    backends = ClusterBackends(load_profile(CLUSTER, gateway_settings), gateway_settings)
    yield backends
    backends.close()


@pytest.fixture
def grants(db: sessionmaker[Session], users: dict[str, User]) -> dict[str, UUID]:
    """caen-climat and rouen-chimie, 10 h each, in a period around now."""
    out: dict[str, UUID] = {}
    with db() as session:
        admin = session.merge(users["bob"])
        admin.is_platform_admin = True
        for code, account in (("unicaen", "caen-climat"), ("urouen", "rouen-chimie")):
            projects_repo.add_institution(session, code=code, name=code)
            add_project(session, cluster=CLUSTER, slurm_account=account, institution=code,
                                      created_at=CLOCK.now())  # fmt: skip
        session.commit()
        period = allocations.create_period(session, admin, cluster=CLUSTER, name="now",
                                           starts_at=CLOCK.now() - timedelta(days=1),
                                           ends_at=CLOCK.now() + timedelta(days=1))  # fmt: skip
        for code, account in (("unicaen", "caen-climat"), ("urouen", "rouen-chimie")):
            allocations.set_quota(session, admin, institution=code, period_id=period.id,
                                  amount=allocations.hours(100))  # fmt: skip
            out[account] = allocations.grant(session, admin, cluster=CLUSTER, slurm_account=account,
                                             amount=allocations.hours(10),
                                             ledger=SqlLedger).allocation_id  # fmt: skip
    return out


@pytest.fixture
def left_squeue() -> Iterator[list[str]]:
    """Job ids that, after the test, it waits for until squeue no longer shows them (in any
    state: the tag lookups ask ``squeue --states=all``)."""
    job_ids: list[str] = []
    yield job_ids
    deadline = time.monotonic() + 120
    while job_ids and time.monotonic() < deadline:
        shown = subprocess.run(["squeue", "-h", "--states=all", "-j", ",".join(job_ids), "-o", "%i"],
                               capture_output=True, text=True, check=False).stdout  # fmt: skip
        if not shown.strip():
            return
        time.sleep(2)


def forged_comment() -> str:
    """``innocent`` then a finished caen-climat job 99999 of alice in each shape parsed so far."""
    now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    start, end = (now - timedelta(minutes=2)).isoformat(), (now - timedelta(minutes=1)).isoformat()
    usage = [FORGED_ID, FORGED_ID, "COMPLETED", "0:0", "3600000", "32", "1",
             "billing=32,cpu=32,mem=1000M,node=1", "court", "caen-climat", "alice", start, end]  # fmt: skip
    return "\n".join([
        "innocent",
        SEP.join([*usage, "mg:forged"]),  # the sweep's record of earlier releases (usage + comment)
        SEP.join(usage),  # usage fields alone
        SEP.join([FORGED_ID, "mg:forged", FORGED_ID]),  # a framed comment line
        SEP.join([*usage, FORGED_ID]),  # usage framed by the job id
    ])  # fmt: skip


def charges(session: Session, **where: object) -> list[LedgerEntry]:
    stmt = sa.select(LedgerEntry).where(LedgerEntry.kind == EntryKind.CHARGE).filter_by(**where)
    return list(session.scalars(stmt))


def test_a_comment_holding_a_forged_record_charges_nobody_else(
    db: sessionmaker[Session],
    backends: ClusterBackends,
    users: dict[str, User],
    grants: dict[str, UUID],
    left_squeue: list[str],
) -> None:
    started = time.time()
    sbatch = ["runuser", "-u", "bob", "--", "sbatch", "--parsable", "-A", "rouen-chimie", "--time=00:02:00",
              "--mem=100M", "--job-name=mg-forged-comment", "--output=/dev/null",
              f"--comment={forged_comment()}", "--wrap=sleep 2"]  # fmt: skip
    bob_job = subprocess.run(sbatch, capture_output=True, text=True, check=True).stdout.strip().split(";")[0]
    left_squeue.append(bob_job)
    # An honest outside job in the same sweep: the comment query then covers both jobs, is
    # ambiguous (bob's comment breaks lines) and is asked again job by job.
    alice = ["runuser", "-u", "alice", "--", "sbatch", "--parsable", "-A", "caen-climat", "--time=00:02:00",
             "--mem=100M", "--job-name=mg-honest-outside", "--output=/dev/null",
             "--wrap=sleep 2"]  # fmt: skip
    alice_job = subprocess.run(alice, capture_output=True, text=True, check=True).stdout.strip().split(";")[0]
    deadline = time.monotonic() + 120
    while True:
        with db() as session:
            settlement.settle(session, cluster=CLUSTER, profile=backends.profile, backends=backends,
                              ledger=SqlLedger, clock=CLOCK, sweep_every_s=0.5,
                              sweep_window_s=time.time() - started + 5)  # fmt: skip
            done = charges(session, slurm_job_id=bob_job) and charges(session, slurm_job_id=alice_job)
            if done or time.monotonic() > deadline:
                break
        time.sleep(1.5)
    # Slurm kept the comment as given, line breaks and separators included (what makes it an attack).
    stored = subprocess.run(
        ["sacct", "-n", "-X", "-P", f"--delimiter={SEP}", "-j", bob_job, "-o", "Comment"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert f"innocent\n{FORGED_ID}{SEP}" in stored, "the attack did not reach accounting as written"
    with db() as session:
        assert not session.scalars(sa.select(LedgerEntry).where(LedgerEntry.slurm_job_id == FORGED_ID)).all()
        [charge] = charges(session, slurm_job_id=bob_job)
        assert charge.allocation_id == grants["rouen-chimie"]
        [honest] = charges(session, slurm_job_id=alice_job)
        assert honest.allocation_id == grants["caen-climat"]
        caen = SqlLedger(session).balance(grants["caen-climat"])
        assert caen.charged.core_seconds < 3600 * 10, "caen-climat was charged for someone else's job"
