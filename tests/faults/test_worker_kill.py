"""A worker killed with SIGKILL mid-tick: another worker process takes its lease over once it
expires and finishes the work; nothing is submitted, charged or released twice.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from myriagate.db.models.leases import Lease
from myriagate.db.models.staging import JobStaging
from myriagate.domain.states import JobState
from myriagate.services.runtime.worker import lease_name
from tests.faults import consistency
from tests.faults.conftest import CLOCK, CLUSTER, World, write_profile

pytestmark = [pytest.mark.faults, pytest.mark.slurm]
LEASE_S = 4


def start_worker(world: World, log: Path, *args: str, **more_env: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MYRIAGATE_DEV_MODE": "true",
        "MYRIAGATE_DATABASE_URL": world.settings.database_url,
        "MYRIAGATE_PROFILES_DIR": str(world.settings.profiles_dir),
        "MYRIAGATE_SSH_CA_KEY_PATH": str(world.settings.ssh_ca_key_path),
        "MYRIAGATE_DEFAULT_CLUSTER": CLUSTER,
        "MYRIAGATE_SPOOL_DIR": str(world.settings.spool_dir),
        "MYRIAGATE_LEASE_S": str(LEASE_S),
        "MYRIAGATE_POLL_MIN_S": "0.5",
        "MYRIAGATE_POLL_MAX_S": "1",
        "MYRIAGATE_NOTIFICATIONS_ENABLED": "false",
        "MYRIAGATE_LOG_LEVEL": "INFO",
        **more_env,
    }
    argv = [sys.executable, "-c", "from myriagate.cli.main import run; run()", "worker", *args]
    return subprocess.Popen(argv, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def lease_holder(world: World) -> str | None:
    with world.factory() as session:
        return session.scalar(sa.select(Lease.holder).where(Lease.name == lease_name(CLUSTER)))


def test_worker_killed_mid_tick_is_taken_over(world: World, profiles_dir: Path, tmp_path: Path) -> None:
    write_profile(profiles_dir)  # the same cluster, seen by the worker processes too
    ids = [world.submit("#!/bin/bash\nsleep 2\n") for _ in range(6)]
    assert all(ids)
    first = start_worker(world, tmp_path / "worker1.log")
    second: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + 30
        while (holder := lease_holder(world)) is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert holder is not None, (tmp_path / "worker1.log").read_text()[-3000:]
        time.sleep(1.3)  # ticking: polling and settling the jobs as they end
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = time.monotonic()
        second = start_worker(world, tmp_path / "worker2.log")
        while lease_holder(world) == holder and time.monotonic() < killed_at + 60:
            time.sleep(0.2)
        takeover_s = time.monotonic() - killed_at
        assert lease_holder(world) != holder, "the second worker never took the lease over"
        assert takeover_s < LEASE_S + 15
        left = consistency.wait_settled(world.factory, world.accepted, timeout_s=90)
        assert left == 0, (tmp_path / "worker2.log").read_text()[-3000:]
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(15)
    world.check(
        "test_worker_killed_mid_tick_is_taken_over",
        f"6 jobs; a `myriagate worker` process killed with SIGKILL 1.3 s into its ticks; a second "
        f"worker process started at once took the cluster's lease ({LEASE_S} s) over and settled everything",
        takeover_s=round(takeover_s, 1),
    )


BIG = 192 * 2**20
CLAIM_S = 5


def _upload_big(world: World) -> tuple[uuid.UUID, str]:
    from myriagate.db.repos import users as users_repo
    from myriagate.services.staging import uploads

    digest = hashlib.sha256()
    with world.factory() as session:
        user = users_repo.get(session, world.user_id)
        assert user is not None
        upload = uploads.create_upload(session, user=user, at=CLOCK.now())
        writer, clean = uploads.open_file(
            session, upload_id=upload.id, path="data/big.bin", user=user,
            spool_dir=world.settings.spool_dir, max_bytes=BIG,
        )  # fmt: skip
        block = os.urandom(1 << 20)
        for i in range(BIG >> 20):
            chunk = block[:-4] + i.to_bytes(4, "big")  # every MiB differs: no accidental match
            writer.write(chunk)
            digest.update(chunk)
        sha = writer.finish(None)
        assert sha == digest.hexdigest()
        uploads.record_file(session, upload_id=upload.id, path=clean, size_bytes=BIG, sha256=sha)
        session.commit()
        return upload.id, sha


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _uploaded_bytes(port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("myriagate_transfer_bytes_total{") and 'direction="upload"' in line
    )


def test_worker_killed_mid_transfer_resumes_elsewhere(
    world: World, profiles_dir: Path, tmp_path: Path
) -> None:
    from myriagate.services.staging.plan import StagingRequest
    from myriagate.services.submission.submit import SubmitRequest, submit_job

    write_profile(profiles_dir)
    upload_id, sha = _upload_big(world)
    with world.factory() as session:
        from myriagate.db.repos import users as users_repo

        job = submit_job(
            session, backends=world.gateway.backends(CLUSTER), profile=world.gateway.profile(CLUSTER),
            user=users_repo.get(session, world.user_id),  # type: ignore[arg-type]
            request=SubmitRequest(
                script_text="#!/bin/bash\nsha256sum data/big.bin\n", cluster=CLUSTER,
                overrides={"partition": "debug", "time": "2", "job-name": f"{world.run}-big",
                           "account": "caen-climat"},
            ),
            clock=CLOCK, ledger=world.gateway.allocations.hold_ledger(),
            staging=StagingRequest(upload_id=upload_id), residency=world.gateway.residency("test"),
        )  # fmt: skip
        job_id = job.id
        assert job.state is JobState.STAGING_IN
    world.accepted.append(job_id)
    job_dir = Path(f"/home/alice/myriagate-jobs/{job_id}")
    claim = {"MYRIAGATE_STAGING_CLAIM_S": str(CLAIM_S)}
    first = start_worker(world, tmp_path / "worker1.log", **claim)
    second: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + 60
        partial = 0
        while partial < BIG // 4 and time.monotonic() < deadline:
            partial = sum(p.stat().st_size for p in (job_dir / ".myriagate").rglob("*") if p.is_file()) \
                if (job_dir / ".myriagate").is_dir() else 0  # fmt: skip
            time.sleep(0.05)
        assert 0 < partial < BIG, f"no transfer in progress to kill: {partial} bytes"
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert not (job_dir / "data" / "big.bin").exists()  # nothing under the final name yet
        port = _free_port()
        second = start_worker(world, tmp_path / "worker2.log", "--metrics-port", str(port), **claim)
        left = consistency.wait_settled(world.factory, world.accepted, timeout_s=150)
        assert left == 0, (tmp_path / "worker2.log").read_text()[-3000:]
        sent_by_second = _uploaded_bytes(port)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(15)
    assert 0 < sent_by_second < BIG, f"the second worker sent {sent_by_second} bytes of {BIG}: not resumed"
    assert world.job(job_id).state is JobState.COMPLETED, world.job(job_id).reason
    with world.factory() as session:
        plan = session.get(JobStaging, job_id)
        assert plan is not None and [r["sha256"] for r in plan.staged_inputs] == [sha]
    world.check(
        "test_worker_killed_mid_transfer_resumes_elsewhere",
        f"a {BIG >> 20} MiB input staged in by a `myriagate worker` process, killed with SIGKILL once "
        f"a quarter was in its partial file; a second worker took the claim over after it expired "
        f"({CLAIM_S} s), resumed the transfer, verified the sha256, submitted the job once",
        dirs=[job_dir],
        partial_mib_at_kill=round(partial / 2**20),
        mib_sent_by_second=round(sent_by_second / 2**20),
    )
    shutil.rmtree(job_dir)  # the test's own job directory (192 MiB)
