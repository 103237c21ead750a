"""The profile checks agree with Slurm: each option set is given to ``check_job`` with the
devcluster profile and to ``sbatch --test-only`` on the dev cluster (as alice, nothing queued),
and both must accept it or both refuse it.

A few requests the gateway refuses on purpose where Slurm would take them (GPUs on court, whose
node does have GPUs but whose profile offers none) are listed apart.
"""

from __future__ import annotations

import subprocess

import pytest

from myriagate.domain import directives
from myriagate.errors import InvalidRequest
from myriagate.profiles import check_job, load_profile
from myriagate.profiles.models import ClusterProfile
from myriagate.settings import Settings
from tests.conftest import CLUSTER
from tests.integration.conftest import DevCluster

pytestmark = pytest.mark.slurm

ACCEPTED = [
    "-p court --ntasks-per-node=16 -c 2",
    "-p court -N 1 -n 2 --ntasks-per-node=4",
    "-p court --ntasks-per-socket=16 -n 32",
    "-p court --threads-per-core=1 -c 32",
    "-p court --hint=nomultithread -c 32",
    "-p court --exclusive=user",
    "-p court --qos=short",
    "-p court --constraint=ib&avx2",
    "-p court --nodelist=vm",
    "-p court --tmp=5000",
    "-p court -L matlab:2,matlab:2",
    "-p court --time=10 --time-min=5",
    "-p gpu --gpus=2",
    "-p gpu --gpus=p100:1",
    "-p gpu --gpus-per-task=1 -n 2",
    "-p gpu --gpus=2 --cpus-per-gpu=16",
    "-p gpu --gres=gpu:1 --mem-per-gpu=4000",
]
REFUSED = [
    "-p court -N 1 -n 4 --ntasks-per-node=2",
    "-p court --ntasks-per-node=33",
    "-p court --ntasks-per-node=16 -c 3",
    "-p court --ntasks-per-socket=17",
    "-p court --ntasks-per-socket=2 -n 8",
    "-p court --ntasks-per-socket=2 --ntasks-per-node=6",
    "-p court --threads-per-core=2",
    "-p court --exclusive --mem-per-cpu=4000",
    "-p court --mem-per-cpu=4000 -n 17",
    "-p court --time=10 --time-min=20",
    "-p court --qos=long",
    "-p court --constraint=skylake",
    "-p court --nodelist=node001",
    "-p court --tmp=20000",
    "-p court -L matlab:5",
    "-p gpu --gpus=3",
    "-p gpu --gpus=v100:1",
    "-p gpu --gpus-per-node=3",
    "-p gpu --gpus-per-task=1 -n 3",
    "-p gpu --gpus=1 --cpus-per-gpu=4 -c 2",
    "-p gpu --gpus=2 --cpus-per-gpu=17",
    "-p gpu --gpus=2 --mem-per-gpu=40000",
    "-p gpu --mem-per-gpu=4000",
    "-p gpu --gpus=1 --gpus-per-node=2",
    "-p gpu --gpus=2 --gpus-per-task=1 -n 1",
]
# The gateway is stricter here, by design: the profile offers no GPUs on court.
STRICTER = ["-p court --gpus=1"]
SHORT = {"-p": "partition", "-N": "nodes", "-n": "ntasks", "-c": "cpus-per-task", "-L": "licenses"}


@pytest.fixture(scope="module")
def profile(devcluster: DevCluster) -> ClusterProfile:
    return load_profile(CLUSTER, Settings(dev_mode=True))


def gateway_accepts(profile: ClusterProfile, options: str) -> bool:
    overrides: dict[str, str | bool] = {}
    words = options.split()
    while words:
        word = words.pop(0)
        if word in SHORT:
            overrides[SHORT[word]] = words.pop(0)
        else:
            name, eq, value = word.removeprefix("--").partition("=")
            overrides[name] = value if eq else True
    try:
        spec = directives.merge([], overrides)
        check_job(profile, spec, allowed_accounts={"caen-climat"})
    except InvalidRequest:
        return False
    return True


def slurm_accepts(options: str) -> bool:
    done = subprocess.run(
        ["runuser", "-u", "alice", "--", "sbatch", "--test-only", "-A", "caen-climat", "-t", "10",
         *options.split(), "--wrap=true"],
        capture_output=True, text=True, timeout=60, check=False, cwd="/tmp",
    )  # fmt: skip
    answer = done.stdout + done.stderr
    assert done.returncode == 0 or "error" in answer or "failure" in answer, answer
    return done.returncode == 0 and "to start at" in answer


@pytest.mark.parametrize("options", ACCEPTED + REFUSED)
def test_the_gateway_and_slurm_agree(profile: ClusterProfile, options: str) -> None:
    expected = options in ACCEPTED
    assert slurm_accepts(options) is expected, f"Slurm on {options}"
    assert gateway_accepts(profile, options) is expected, f"gateway on {options}"


@pytest.mark.parametrize("options", STRICTER)
def test_where_the_gateway_is_stricter_on_purpose(profile: ClusterProfile, options: str) -> None:
    assert slurm_accepts(options) and not gateway_accepts(profile, options)
