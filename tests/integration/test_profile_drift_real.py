"""The profile check against the REAL dev cluster: scontrol read over SSH as a researcher's
login (what any login may read), compared with cluster_profiles/devcluster.toml."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from myriagate.profiles.drift import Mismatch, compare
from myriagate.profiles.loader import load_profile
from myriagate.runners import SshRunner
from myriagate.settings import Settings
from myriagate.slurm.scontrol import ScontrolClusterConfig

pytestmark = pytest.mark.slurm


def test_devcluster_profile_matches_the_running_cluster(
    ssh_runner_for: Callable[[str], SshRunner], gateway_settings: Settings
) -> None:
    config = ScontrolClusterConfig(ssh_runner_for("alice")).read()
    assert [p.name for p in config.partitions] == ["court", "long", "debug", "gpu", "parallel"]
    vm = config.node("vm")
    assert vm is not None and vm.gpus == (("p100", 2),) and "ib" in vm.features
    assert compare(load_profile("devcluster", gateway_settings), config) == []


def test_a_profile_that_promises_more_than_slurm_is_reported(
    ssh_runner_for: Callable[[str], SshRunner], gateway_settings: Settings
) -> None:
    profile = load_profile("devcluster", gateway_settings)
    gpu = profile.partition("gpu")
    assert gpu is not None
    bigger = profile.model_copy(
        update={"partitions": tuple(p if p.name != "gpu" else gpu.model_copy(update={"gpus_per_node": 4})
                                    for p in profile.partitions)}
    )  # fmt: skip
    config = ScontrolClusterConfig(ssh_runner_for("alice")).read()
    assert compare(bigger, config) == [
        Mismatch("gpu", "gpus_per_node", "4", "2", "GPUs (Gres) of the smallest node")
    ]
