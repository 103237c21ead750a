"""Data staging end to end on the REAL dev cluster and storage sshd.

Inputs uploaded to the spool are staged over SSH into the job's own directory, the job reads
them under Slurm, its results go to the "caen" endpoint (127.0.0.1:2223, FR-NOR) and are
recorded as a dataset whose checksums match the bytes on disk; the "paris" endpoint (FR-IDF)
is refused and audited, and nothing is written there.
"""

from __future__ import annotations

import hashlib
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from myriagate.clock import SystemClock
from myriagate.db.models import AuditEvent, Dataset, Job, JobStaging, User
from myriagate.domain.states import JobState
from myriagate.errors import ResidencyViolation
from myriagate.profiles.loader import load_all_profiles
from myriagate.services.jobs import tracking
from myriagate.services.staging import step as staging
from myriagate.services.staging import uploads
from myriagate.services.staging.plan import StagingRequest
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.settings import Settings
from myriagate.wiring import Gateway, worker_ledger
from tests.conftest import CLUSTER
from tests.integration.conftest import DevCluster

pytestmark = pytest.mark.slurm

CLOCK = SystemClock()
CAEN = Path("/srv/myriagate-storage/caen")
PARIS = Path("/srv/myriagate-storage/paris")
SCRIPT = """#!/bin/bash
#SBATCH --job-name=staging-e2e
#SBATCH --time=00:05:00
#SBATCH --partition=debug
set -eu
mkdir -p results
tr a-z A-Z < data/input.csv > results/upper.h5
sha256sum data/input.csv params.toml > results/inputs.sha256
"""


@pytest.fixture
def gateway(devcluster: DevCluster, db: sessionmaker[Session], tmp_path: Path) -> Iterator[Gateway]:
    settings = Settings(
        dev_mode=True,
        ssh_ca_key_path=devcluster.ca_key,
        enforce_allocations=False,
        spool_dir=tmp_path / "spool",
    )
    gateway = Gateway(settings=settings, profiles=load_all_profiles(settings), session_factory=db)
    yield gateway
    gateway.close()


def _upload(session: Session, user: User, spool: Path, files: dict[str, bytes]) -> uuid.UUID:
    upload = uploads.create_upload(session, user=user, at=CLOCK.now())
    for path, data in files.items():
        writer, clean = uploads.open_file(
            session, upload_id=upload.id, path=path, user=user, spool_dir=spool, max_bytes=1 << 20
        )
        writer.write(data)
        sha = writer.finish(None)
        uploads.record_file(session, upload_id=upload.id, path=clean, size_bytes=len(data), sha256=sha)
    return upload.id


def _wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(1.0)
    raise AssertionError(f"timed out waiting for {what}")


def test_inputs_in_job_reads_them_outputs_out_to_caen_as_a_dataset(
    gateway: Gateway, db: sessionmaker[Session], users: dict[str, User]
) -> None:
    inputs = {"data/input.csv": b"time,temp\n0,12.5\n1,13.0\n", "params.toml": b"steps = 2 # caf\xc3\xa9\n"}
    ctx = gateway.staging_context(CLUSTER, CLOCK, "e2e-worker")
    with db() as session:
        alice = session.merge(users["alice"])
        upload_id = _upload(session, alice, gateway.settings.spool_dir, inputs)
        job = submit_job(
            session,
            backends=gateway.backends(CLUSTER),
            profile=gateway.profile(CLUSTER),
            user=alice,
            request=SubmitRequest(script_text=SCRIPT, cluster=CLUSTER),
            clock=CLOCK,
            staging=StagingRequest(upload_id=upload_id, output_patterns=["results/*"], store="caen"),
            residency=gateway.residency("test"),
        )
        job_id = job.id
        assert job.state is JobState.STAGING_IN

    assert staging.run_pending(ctx) == 1  # inputs staged over SSH and verified, then sbatch
    with db() as session:
        job = session.get_one(Job, job_id)
        assert job is not None and job.slurm_job_id is not None, job.reason if job else None
        job_dir = Path(f"/home/alice/myriagate-jobs/{job_id}")
        assert (job_dir / "data/input.csv").read_bytes() == inputs["data/input.csv"]
        assert (job_dir / "params.toml").owner() == "alice"

    def reached_staging_out() -> bool:
        with db() as session:
            tracking.tick(
                session,
                cluster=CLUSTER,
                backends=gateway.backends(CLUSTER),
                clock=CLOCK,
                ledger=worker_ledger(CLOCK),
            )
            state = session.get(Job, job_id).state  # type: ignore[union-attr]
            assert state in (JobState.PENDING, JobState.RUNNING, JobState.STAGING_OUT), state
            return state is JobState.STAGING_OUT

    _wait_for(reached_staging_out, 120, "the job to end in Slurm")
    assert staging.run_pending(ctx) == 1
    with db() as session:
        job = session.get_one(Job, job_id)
        assert job is not None and job.state is JobState.COMPLETED, job.reason if job else None
        dataset = session.scalars(sa.select(Dataset).where(Dataset.producer_job_id == job_id)).one()
        assert (dataset.endpoint, dataset.region) == ("caen", "FR-NOR")
        stored = Path(dataset.root)
        assert stored.is_relative_to(CAEN)
        files = {f.path: f for f in dataset.files}
        assert set(files) == {"results/upper.h5", "results/inputs.sha256"}
        for path, record in files.items():
            on_disk = (stored / path).read_bytes()
            assert hashlib.sha256(on_disk).hexdigest() == record.sha256
            assert len(on_disk) == record.size_bytes
        assert (stored / "results/upper.h5").read_bytes() == inputs["data/input.csv"].upper()
        # The job really read the staged inputs: its own checksums match what was uploaded.
        sums = (stored / "results/inputs.sha256").read_text()
        assert hashlib.sha256(inputs["params.toml"]).hexdigest() in sums
        plan = session.get(JobStaging, job_id)
        assert plan is not None and plan.output_dataset_id == dataset.id
        assert not any(p.name.endswith((".part", ".mg-part")) for p in stored.rglob("*"))
    shutil.rmtree(stored, ignore_errors=True)
    shutil.rmtree(job_dir, ignore_errors=True)


def test_outputs_to_paris_are_refused_audited_and_nothing_is_written_there(
    gateway: Gateway, db: sessionmaker[Session], users: dict[str, User]
) -> None:
    before = sorted(p.as_posix() for p in PARIS.rglob("*"))
    with db() as session:
        alice = session.merge(users["alice"])
        with pytest.raises(ResidencyViolation, match="FR-IDF"):
            submit_job(
                session,
                backends=gateway.backends(CLUSTER),
                profile=gateway.profile(CLUSTER),
                user=alice,
                request=SubmitRequest(script_text=SCRIPT, cluster=CLUSTER),
                clock=CLOCK,
                staging=StagingRequest(output_patterns=["results/*"], store="paris"),
                residency=gateway.residency("test"),
            )
    with db() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0
        event = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "staging.refused")).one()
        assert event.detail["endpoint"] == "paris" and event.detail["site"] == "Paris"
    assert sorted(p.as_posix() for p in PARIS.rglob("*")) == before


NEIGHBOUR_SCRIPT = """#!/bin/bash
#SBATCH --job-name=neighbours
#SBATCH --time=00:05:00
#SBATCH --partition=debug
set -eu
mkdir -p results
echo "written by $SLURM_JOB_ID" > "results/from-$SLURM_JOB_ID.txt"
sleep 4
seen=$(ls results)
echo "$seen" > "results/seen-by-$SLURM_JOB_ID.txt"
"""


def test_two_jobs_of_one_login_with_the_same_patterns_keep_their_results_apart(
    gateway: Gateway, db: sessionmaker[Session], users: dict[str, User]
) -> None:
    """No inputs, the same result pattern, running at the same time: each job runs in a fresh
    0700 directory of its own, so each dataset holds exactly its own job's files."""
    ctx = gateway.staging_context(CLUSTER, CLOCK, "neighbours-worker")
    job_ids: list[uuid.UUID] = []
    with db() as session:
        alice = session.merge(users["alice"])
        for _ in range(2):
            job = submit_job(
                session, backends=gateway.backends(CLUSTER), profile=gateway.profile(CLUSTER), user=alice,
                request=SubmitRequest(script_text=NEIGHBOUR_SCRIPT, cluster=CLUSTER), clock=CLOCK,
                staging=StagingRequest(output_patterns=["results/*"], store="caen"),
                residency=gateway.residency("test"),
            )  # fmt: skip
            assert job.state is JobState.STAGING_IN  # its own directory is made first
            job_ids.append(job.id)
    assert staging.run_pending(ctx) == 2  # both directories made, both jobs sent to Slurm
    for job_id in job_ids:
        own = Path(f"/home/alice/myriagate-jobs/{job_id}")
        assert own.is_dir() and own.owner() == "alice" and own.stat().st_mode & 0o777 == 0o700

    def both_done() -> bool:
        with db() as session:
            tracking.tick(
                session,
                cluster=CLUSTER,
                backends=gateway.backends(CLUSTER),
                clock=CLOCK,
                ledger=worker_ledger(CLOCK),
            )
            states = [session.get(Job, j).state for j in job_ids]  # type: ignore[union-attr]
            waiting = (JobState.PENDING, JobState.RUNNING, JobState.STAGING_OUT)
            assert all(s in waiting for s in states), states
            return all(s is JobState.STAGING_OUT for s in states)

    _wait_for(both_done, 120, "both jobs to end in Slurm")
    assert staging.run_pending(ctx) == 2
    with db() as session:
        for job_id in job_ids:
            job = session.get_one(Job, job_id)
            assert job is not None and job.state is JobState.COMPLETED, job.reason
            dataset = session.scalars(sa.select(Dataset).where(Dataset.producer_job_id == job_id)).one()
            sid = job.slurm_job_id
            own_files = {f"results/from-{sid}.txt", f"results/seen-by-{sid}.txt"}
            assert {f.path for f in dataset.files} == own_files
            assert dataset.selection == "job_dir"
            seen = (Path(dataset.root) / f"results/seen-by-{sid}.txt").read_text().split()
            assert seen == [f"from-{sid}.txt"]  # the neighbour's file was never in its directory
            shutil.rmtree(dataset.root, ignore_errors=True)
            shutil.rmtree(f"/home/alice/myriagate-jobs/{job_id}", ignore_errors=True)
