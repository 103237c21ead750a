"""A job's results with a '-rf' file, a link and a fifo beside a good file, on the REAL dev
cluster and storage sshd (issue #15, first contact: one such name failed the job and stored
nothing). The far side names the link and the fifo without following or reading them, the
gateway skips the name its rules refuse, the good file is stored and verified, and the job
completes with a reason naming the three.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from myriagate.clock import SystemClock
from myriagate.db.models import Dataset, Job, User
from myriagate.domain.states import JobState
from myriagate.services.jobs import tracking
from myriagate.services.staging import step as staging
from myriagate.services.staging.plan import StagingRequest
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.wiring import Gateway, worker_ledger
from tests.conftest import CLUSTER
from tests.integration import test_staging_real

pytestmark = pytest.mark.slurm

gateway = test_staging_real.gateway  # the same staging gateway fixture

CLOCK = SystemClock()
CAEN = Path("/srv/myriagate-storage/caen")
SCRIPT = """#!/bin/bash
#SBATCH -p debug -t 2
mkdir results
echo real > results/real.txt
printf y > "results/-rf"
ln -s real.txt results/link
ln -s /etc results/etc
mkfifo results/fifo
"""


def test_a_dash_named_file_a_link_and_a_fifo_are_skipped_and_named_the_good_file_is_stored(
    gateway: Gateway, db: sessionmaker[Session], users: dict[str, User]
) -> None:
    ctx = gateway.staging_context(CLUSTER, CLOCK, "skipped-worker")
    with db() as session:
        job = submit_job(
            session, backends=gateway.backends(CLUSTER), profile=gateway.profile(CLUSTER),
            user=session.merge(users["alice"]), request=SubmitRequest(script_text=SCRIPT, cluster=CLUSTER),
            clock=CLOCK, staging=StagingRequest(output_patterns=["results/*"], store="caen"),
            residency=gateway.residency("test"),
        )  # fmt: skip
        job_id = job.id
    assert staging.run_pending(ctx) == 1  # the job's own directory, then sbatch
    job_dir = Path(f"/home/alice/myriagate-jobs/{job_id}")
    deadline = time.monotonic() + 120
    while True:
        with db() as session:
            tracking.tick(session, cluster=CLUSTER, backends=gateway.backends(CLUSTER), clock=CLOCK,
                          ledger=worker_ledger(CLOCK))  # fmt: skip
            state = session.get_one(Job, job_id).state
        if state is JobState.STAGING_OUT:
            break
        assert state in (JobState.PENDING, JobState.RUNNING) and time.monotonic() < deadline, state
        time.sleep(1.0)
    assert (job_dir / "results/-rf").read_bytes() == b"y"

    assert staging.run_pending(ctx) == 1
    with db() as session:
        job = session.get_one(Job, job_id)
        assert job.state is JobState.COMPLETED, job.reason
        assert job.reason == (
            "1 result file(s) stored in Caen (FR-NOR); 4 skipped, as they cannot be stored safely: "
            "'results/-rf' (a refused name), 'results/etc' (a link), 'results/fifo' (not a regular file), "
            "'results/link' (a link)"
        )
        dataset = session.scalars(sa.select(Dataset).where(Dataset.producer_job_id == job_id)).one()
        assert [(f.path, f.sha256) for f in dataset.files] == [
            ("results/real.txt", hashlib.sha256(b"real\n").hexdigest())
        ]
        stored = Path(dataset.root)
    assert stored.is_relative_to(CAEN)
    assert sorted(p.name for p in (stored / "results").iterdir()) == ["real.txt"]
    assert (stored / "results/real.txt").read_bytes() == b"real\n"
    shutil.rmtree(stored, ignore_errors=True)
    shutil.rmtree(job_dir, ignore_errors=True)
