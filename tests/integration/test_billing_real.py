"""The gateway's billing rate equals the REAL dev cluster's, shape by shape.

Each shape is a job script header. The gateway reads it as it reads any script
(``parse_directives`` + ``merge``) and prices it with the devcluster profile
(``charging.gateway_billing_rate``); plain ``sbatch`` as alice submits the same script and
``scontrol show job -o`` shows Slurm's own ``billing=``: while the job is held (Slurm's
ReqTRES, ``pending=True``) and, for the shapes whose allocation differs from the request
(``--exclusive``, ``--cpus-per-gpu``), once it runs (AllocTRES). Every job is cancelled.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from myriagate.domain.directives import merge, parse_directives
from myriagate.domain.jobs import JobSpec
from myriagate.profiles.loader import load_profile
from myriagate.profiles.models import ClusterProfile
from myriagate.services.allocations import charging
from myriagate.settings import Settings
from tests.integration.conftest import DevCluster

pytestmark = pytest.mark.slurm

# (sbatch options, Slurm's billing while held): measured on the dev cluster (Slurm 22.05.8,
# court/debug CPU=1.0,Mem=0.25G, long CPU=1.5,Mem=0.25G, gpu adds GRES/gpu=4.0; DefMemPerCPU=1000).
HELD: list[tuple[str, int]] = [
    ("--partition=court", 1),
    ("--partition=court --ntasks=4 --mem=8000M", 5),
    ("--partition=court --ntasks=3 --cpus-per-task=2", 7),
    ("--partition=court --ntasks=2 --mem-per-cpu=3000", 3),
    ("--partition=long --ntasks=3", 5),
    ("--partition=court --ntasks-per-node=5", 6),
    ("--partition=debug --cpus-per-task=4 --mem=20G", 9),
    ("--partition=court --ntasks=2 --hint=nomultithread", 2),
    ("--partition=court --ntasks=2 --threads-per-core=1", 2),
    ("--partition=parallel --nodes=3 --ntasks-per-node=4", 14),
    ("--partition=parallel --nodes=2 --ntasks-per-node=28 --exclusive", 69),
    ("--partition=gpu --gres=gpu:1", 5),
    ("--partition=gpu --gres=gpu:p100:1", 5),
    ("--partition=gpu --gpus=2", 9),
    ("--partition=gpu --gpus-per-node=1", 5),
    ("--partition=gpu --ntasks=2 --gpus-per-task=1", 10),
    ("--partition=gpu --gpus=2 --mem-per-gpu=2000", 9),
    ("--partition=gpu --gpus=2 --cpus-per-task=8 --mem=32G", 24),
    # While pending Slurm counts the CPUs asked (1), not yet those of the allocation:
    ("--partition=court --exclusive", 1),
    ("--partition=gpu --gpus=1 --cpus-per-gpu=4", 5),
]
# (sbatch options, Slurm's billing once running): the whole node's 32 CPUs and
# DefMemPerCPU × 32 for --exclusive; GPUs × --cpus-per-gpu CPUs.
RUNNING: list[tuple[str, int]] = [
    ("--partition=court --exclusive", 39),
    ("--partition=court --exclusive --mem=4000M", 32),
    ("--partition=court --exclusive --mem-per-cpu=500", 35),
    ("--partition=gpu --exclusive", 47),
    ("--partition=gpu --gpus=1 --cpus-per-gpu=4", 8),
    ("--partition=court --ntasks=4 --mem=8000M", 5),
]


def script(options: str) -> str:
    header = "".join(f"#SBATCH {option}\n" for option in options.split())
    return f"#!/bin/bash\n{header}#SBATCH --time=00:05:00\n#SBATCH --job-name=mg-billing\nsleep 60\n"


def spec_of(options: str) -> JobSpec:
    return merge(parse_directives(script(options)))


def _run(argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60, check=False)


def slurm_billing(slurm_job_id: str) -> tuple[str, int | None]:
    """(state, billing) of the job as ``scontrol show job -o`` shows it (TRES= is ReqTRES while
    pending, AllocTRES once running)."""
    fields = dict(
        item.split("=", 1)
        for item in _run(["scontrol", "show", "job", "-o", slurm_job_id]).stdout.split()
        if "=" in item
    )
    billing = next(
        (
            int(v)
            for k, _, v in (t.partition("=") for t in fields.get("TRES", "").split(","))
            if k == "billing"
        ),
        None,
    )
    return fields.get("JobState", "?"), billing


class Submitter:
    """Plain sbatch as alice (no gateway in between); cancels everything it submitted."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def submit(self, options: str, *, hold: bool) -> str:
        argv = ["runuser", "-u", "alice", "--", "sbatch", "--parsable", "--output=/dev/null", "--chdir=/tmp"]
        done = _run(argv + (["--hold"] if hold else []), stdin=script(options))
        assert done.returncode == 0, f"sbatch {options}: {done.stderr.strip()}"
        slurm_job_id = done.stdout.strip().split(";")[0]
        self.ids.append(slurm_job_id)
        return slurm_job_id

    def cancel_all(self) -> None:
        if self.ids:
            _run(["scancel", *self.ids])


@pytest.fixture(scope="module")
def profile() -> ClusterProfile:
    return load_profile("devcluster", Settings(dev_mode=True))


@pytest.fixture
def sbatch(devcluster: DevCluster) -> Iterator[Submitter]:
    submitter = Submitter()
    yield submitter
    submitter.cancel_all()


@pytest.mark.parametrize(("options", "billing"), HELD, ids=[o for o, _ in HELD])
def test_held_job_billing_equals_the_gateways(
    options: str, billing: int, profile: ClusterProfile, sbatch: Submitter
) -> None:
    slurm_job_id = sbatch.submit(options, hold=True)
    state, shown = slurm_billing(slurm_job_id)
    assert state == "PENDING"
    assert shown == billing, f"Slurm now shows billing={shown} for {options}: update HELD"
    assert charging.gateway_billing_rate(spec_of(options), profile, pending=True) == shown


@pytest.mark.whole_node  # an --exclusive job starts only on an empty node, and then blocks it
@pytest.mark.parametrize(("options", "billing"), RUNNING, ids=[o for o, _ in RUNNING])
def test_running_job_billing_equals_the_hold(
    options: str, billing: int, profile: ClusterProfile, sbatch: Submitter
) -> None:
    slurm_job_id = sbatch.submit(options, hold=False)
    deadline = time.monotonic() + 90
    state, shown = slurm_billing(slurm_job_id)
    while state != "RUNNING" and time.monotonic() < deadline:
        time.sleep(1)
        state, shown = slurm_billing(slurm_job_id)
    if state != "RUNNING":
        pytest.skip(f"{options}: still {state} after 90 s (the shared node is busy)")
    assert shown == billing, f"Slurm now shows billing={shown} for {options}: update RUNNING"
    assert charging.gateway_billing_rate(spec_of(options), profile) == shown
    spec = spec_of(options).model_copy(update={"time_limit_s": 600})
    assert charging.worst_case(spec, charging.pricing_of(profile, spec.partition)).core_seconds == shown * 600
