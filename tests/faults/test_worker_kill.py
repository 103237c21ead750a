"""A worker killed with SIGKILL mid-tick: another worker process takes its lease over once it
expires and finishes the work; nothing is submitted, charged or released twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from myriagate.db.models.leases import Lease
from myriagate.services.worker import lease_name
from tests.faults import consistency
from tests.faults.conftest import CLUSTER, World, write_profile

pytestmark = [pytest.mark.faults, pytest.mark.slurm]
LEASE_S = 4


def start_worker(world: World, log: Path) -> subprocess.Popen[bytes]:
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
    }
    argv = [sys.executable, "-c", "from myriagate.cli.main import run; run()", "worker"]
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
