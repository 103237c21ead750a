"""Metrics on the REAL dev cluster: a worker tick records squeue's latency and the tick's own
duration, through the gateway's real wiring (SSH, pooled paramiko, short-lived certificates).

Submits one short job as alice (so the tick has something to poll) and cancels it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.orm import Session, sessionmaker

from myriagate.clock import SystemClock
from myriagate.db.models.users import User
from myriagate.profiles.loader import load_profile
from myriagate.services.runtime import worker as worker_service
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.settings import Settings
from myriagate.wiring import ClusterBackends, worker_ledger
from tests.conftest import CLUSTER
from tests.integration.conftest import DevCluster

pytestmark = pytest.mark.slurm

CLOCK = SystemClock()
SCRIPT = "#!/bin/bash\n#SBATCH --job-name=mg-metrics\n#SBATCH --partition=debug\n#SBATCH --time=2\nsleep 60\n"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def backends(devcluster: DevCluster, gateway_settings: Settings) -> Iterator[ClusterBackends]:
    backends = ClusterBackends(load_profile(CLUSTER, gateway_settings), gateway_settings)
    yield backends
    backends.close()


@pytest.fixture
def held_job(db: sessionmaker[Session], backends: ClusterBackends, users: dict[str, User]) -> Iterator[str]:
    with db() as session:
        job = submit_job(
            session,
            backends=backends,
            profile=backends.profile,
            user=session.merge(users["alice"]),
            request=SubmitRequest(script_text=SCRIPT, cluster=CLUSTER),
            clock=CLOCK,
        )
        assert job.slurm_job_id is not None, job.reason
        slurm_job_id = job.slurm_job_id
    yield slurm_job_id
    # Only the job this test made.
    subprocess.run(["scancel", slurm_job_id], capture_output=True, timeout=30, check=False)


def test_a_tick_records_squeue_latency_and_its_own_duration(
    db: sessionmaker[Session], backends: ClusterBackends, gateway_settings: Settings, held_job: str
) -> None:
    squeue = {"cluster": CLUSTER, "command": "squeue"}
    before_calls = sample("myriagate_slurm_command_duration_seconds_count", **squeue)
    before_sum = sample("myriagate_slurm_command_duration_seconds_sum", **squeue)
    before_ticks = sample("myriagate_poll_tick_duration_seconds_count", cluster=CLUSTER, outcome="ok")
    assert sample("myriagate_slurm_command_duration_seconds_count", cluster=CLUSTER, command="sbatch") >= 1

    result = worker_service.run_once(
        db,
        cluster=CLUSTER,
        backends=backends,
        clock=CLOCK,
        settings=gateway_settings,
        profile=backends.profile,
        ledger=worker_ledger(CLOCK),
    )

    assert result is not None and result.error is None and result.polled >= 1, result
    calls = sample("myriagate_slurm_command_duration_seconds_count", **squeue) - before_calls
    seconds = sample("myriagate_slurm_command_duration_seconds_sum", **squeue) - before_sum
    assert calls == 1, "one squeue for every unfinished job of the cluster"
    # A real squeue over SSH takes milliseconds, not nothing and not the timeout.
    assert 0.001 < seconds < 30, seconds
    assert (
        sample("myriagate_poll_tick_duration_seconds_count", cluster=CLUSTER, outcome="ok") - before_ticks
        == 1
    )
    tick_seconds = sample("myriagate_poll_tick_duration_seconds_sum", cluster=CLUSTER, outcome="ok")
    assert tick_seconds >= seconds
    print(f"squeue over SSH: {seconds * 1000:.1f} ms; tick total so far: {tick_seconds * 1000:.1f} ms")
