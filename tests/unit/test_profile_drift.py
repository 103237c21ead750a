"""Profile drift: scontrol's own description of the cluster, read and compared with a profile.

Captured from the dev cluster (tests/data/slurm/capture_scontrol.py): the devcluster profile
matches it exactly, and each kind of difference an administrator can make shows up as one
row naming the partition, the profile key and both values.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from myriagate.domain.cluster_config import ClusterConfig, SlurmSettings
from myriagate.profiles import ClusterProfile, parse_profile
from myriagate.profiles.drift import ABSENT, Mismatch, compare
from myriagate.profiles.loader import bundled_profiles_dir
from myriagate.slurm import scontrol
from tests.fakes.fake_runner import FakeRunner, load_capture

DEV_TOML = (bundled_profiles_dir() / "devcluster.toml").read_text(encoding="utf-8")


def captured(name: str) -> bytes:
    return load_capture(name)[0]


@pytest.fixture(scope="module")
def config() -> ClusterConfig:
    runner = (
        FakeRunner()
        .reply_from("scontrol", "scontrol_show_partition", when=lambda argv: "partition" in argv)
        .reply_from("scontrol", "scontrol_show_node", when=lambda argv: "node" in argv)
        .reply_from("scontrol", "scontrol_show_licenses", when=lambda argv: "licenses" in argv)
        .reply_from("scontrol", "scontrol_show_config", when=lambda argv: "config" in argv)
    )
    return scontrol.ScontrolClusterConfig(runner).read()


def dev(*replacements: tuple[str, str]) -> ClusterProfile:
    text = DEV_TOML
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return parse_profile(text, source="devcluster.toml")


# --- parsing ---------------------------------------------------------------------------------
def test_key_values_keep_values_with_spaces() -> None:
    line = "NodeName=vm OS=Linux 6.1 #1 SMP  RealMemory=64000 Reason=no slurmd, placeholder"
    assert scontrol.key_values(line) == {
        "NodeName": "vm",
        "OS": "Linux 6.1 #1 SMP",
        "RealMemory": "64000",
        "Reason": "no slurmd, placeholder",
    }


def test_partitions_are_read_with_their_limits(config: ClusterConfig) -> None:
    names = [p.name for p in config.partitions]
    assert names == ["court", "long", "debug", "gpu", "parallel"]
    court, debug, gpu, parallel = (config.partition(n) for n in ("court", "debug", "gpu", "parallel"))
    assert court is not None and court.default and court.max_time_s == 4 * 3600 and court.max_nodes is None
    assert court.allow_qos == ("normal", "short") and court.billing_weights == "CPU=1.0,Mem=0.25G"
    assert debug is not None and (debug.default_time_s, debug.max_nodes) == (600, 1)
    assert gpu is not None and gpu.billing_weights == "CPU=1.0,Mem=0.25G,GRES/gpu=4.0"
    assert parallel is not None and (parallel.nodes, parallel.total_nodes, parallel.effective_max_nodes) == (
        "node[001-004]",
        4,
        4,
    )


def test_nodes_are_read_with_features_gres_and_shape(config: ClusterConfig) -> None:
    vm, node001 = config.node("vm"), config.node("node001")
    assert vm is not None and (vm.cpus, vm.real_memory_mb, vm.tmp_disk_mb) == (32, 64000, 10000)
    assert (vm.sockets, vm.cores_per_socket, vm.threads_per_core) == (2, 16, 1)
    assert vm.features == ("broadwell", "ib", "avx2") and vm.gpus == (("p100", 2),)
    assert node001 is not None and node001.state.startswith("DOWN") and node001.gpus == ()
    assert config.licenses == (("ansys", 2), ("matlab", 4))
    assert config.settings == SlurmSettings(priority_flags=(), def_mem_per_cpu_mb=1000)


@pytest.mark.parametrize(
    ("gres", "gpus"),
    [
        ("gpu:a100:6(S:0-1),gpu:a100_1g.10gb:14", (("a100", 6), ("a100_1g.10gb", 14))),
        ("gpu:2", (("", 2),)),
        ("gpu:p100:2,mps:100", (("p100", 2),)),
        ("(null)", ()),
        ("", ()),
    ],
)
def test_gres(gres: str, gpus: tuple[tuple[str, int], ...]) -> None:
    assert scontrol.parse_gres(gres) == gpus


def test_odd_lines_are_skipped_not_fatal() -> None:
    text = "garbage\nPartitionName=x MaxTime=bogus TotalNodes=two\n\n"
    (only,) = scontrol.parse_partitions(text)
    assert (only.name, only.max_time_s, only.total_nodes, only.allow_qos) == ("x", 0, 0, None)
    assert scontrol.parse_nodes("NodeName= CPUTot=4\n") == []


# --- comparing -------------------------------------------------------------------------------
def test_the_devcluster_profile_matches_its_cluster(config: ClusterConfig) -> None:
    assert compare(dev(), config) == []


@pytest.mark.parametrize(
    ("replacement", "expected"),
    [
        (
            ('max_walltime = "04:00:00"', 'max_walltime = "08:00:00"'),
            Mismatch("court", "max_walltime", "08:00:00", "04:00:00", "MaxTime"),
        ),
        (
            ('max_walltime = "00:30:00"\ndefault_walltime = "00:10:00"', 'max_walltime = "00:30:00"'),
            Mismatch(
                "debug",
                "default_walltime",
                "00:30:00",
                "00:10:00",
                "DefaultTime (MaxTime when unset): the time limit of a job that asks for none",
            ),
        ),
        (
            ("max_nodes = 4\ncpus_per_node = 28", "max_nodes = 8\ncpus_per_node = 28"),
            Mismatch("parallel", "max_nodes", "8", "4", "MaxNodes, at most the partition's own nodes"),
        ),
        (
            ("cpus_per_node = 28\nmem_per_node_mb = 128000", "cpus_per_node = 28\nmem_per_node_mb = 192000"),
            Mismatch(
                "parallel",
                "mem_per_node_mb",
                "192000",
                "128000",
                "RealMemory of the partition's smallest node",
            ),
        ),
        (
            ('qos = ["normal", "short"]', 'qos = ["normal", "short", "long"]'),
            Mismatch("court", "qos", "long,normal,short", "normal,short", "Slurm refuses long here"),
        ),
        (
            ('features = ["broadwell", "ib", "avx2"]', 'features = ["broadwell", "ib", "avx512"]'),
            Mismatch(
                "court",
                "features",
                "avx512,broadwell,ib",
                "avx2,broadwell,ib",
                "no node has avx512: --constraint on it is refused",
            ),
        ),
        (
            ("gpus_per_node = 2", "gpus_per_node = 4"),
            Mismatch("gpu", "gpus_per_node", "4", "2", "GPUs (Gres) of the smallest node"),
        ),
        (
            ('gpu_type = "p100"', 'gpu_type = "v100"'),
            Mismatch("gpu", "gpu_type", "v100", "p100", "GRES types"),
        ),
        (
            ('gpu = "4.0" }', 'gpu = "2.0" }'),
            Mismatch(
                "gpu",
                "billing_weights",
                "CPU=1,Mem=0.25G,GRES/gpu=2",
                "CPU=1.0,Mem=0.25G,GRES/gpu=4.0",
                "TRESBillingWeights: the gateway's costs would not match Slurm's billing",
            ),
        ),
        (
            ('nodes = "node[001-004]"', 'nodes = "node[001-003]"'),
            Mismatch("parallel", "nodes", "node[001-003]", "node[001-004]", "Nodes"),
        ),
        (
            ("licenses = { matlab = 4, ansys = 2 }", "licenses = { matlab = 8, ansys = 2 }"),
            Mismatch(None, "slurm.licenses", "ansys:2,matlab:8", "ansys:2,matlab:4", "Licenses"),
        ),
    ],
)
def test_each_difference_is_one_row(
    config: ClusterConfig, replacement: tuple[str, str], expected: Mismatch
) -> None:
    assert compare(dev(replacement), config) == [expected]


def test_partitions_on_one_side_only(config: ClusterConfig) -> None:
    profile = dev(('name = "parallel"', 'name = "mpi"'))
    rows = compare(profile, config)
    assert Mismatch("mpi", "name", "mpi", ABSENT, "Slurm refuses jobs sent there") in rows
    assert Mismatch("parallel", "name", ABSENT, "parallel", "not offered by the gateway") in rows
    assert len(rows) == 2


def test_what_the_profile_does_not_offer_is_not_a_difference(config: ClusterConfig) -> None:
    # No features, no QOS, no licenses in the profile: --constraint, --qos and -L are simply
    # not offered; the GPUs on vm are not offered on court (gpus_per_node = 0) either.
    profile = dev(
        ('qos = ["normal", "short"]\nfeatures = ["broadwell", "ib", "avx2"]\n', ""),
        ("licenses = { matlab = 4, ansys = 2 }", ""),
    )
    assert compare(profile, config) == []


def test_hidden_nodes_are_said_to_be_unchecked() -> None:
    text = captured("scontrol_show_partition")
    config = ClusterConfig(partitions=tuple(scontrol.parse_partitions(text)))  # no node lines
    rows = [r for r in compare(dev(), config) if r.key == "nodes"]
    assert {r.partition for r in rows} == {"court", "long", "debug", "gpu", "parallel"}
    assert all("FUTURE" in r.note for r in rows)


def test_billing_rule_and_default_memory_follow_slurm_conf(config: ClusterConfig) -> None:
    flagged = replace(config, settings=SlurmSettings(("MAX_TRES", "NO_FAIR_TREE"), 2000))
    rule_note = "PriorityFlags: how the weighted resources add up to billing"
    memory_note = "DefMemPerCPU: the memory (so the cost) of a job that asks for none"
    assert compare(dev(), flagged) == [
        Mismatch(None, "slurm.billing_rule", "sum", "max_tres", rule_note),
        Mismatch(None, "slurm.def_mem_per_cpu_mb", "1000", "2000", memory_note),
    ]  # fmt: skip
    unread = replace(config, settings=None)
    assert compare(dev(('billing_rule = "sum"', 'billing_rule = "max_tres"')), unread) == []


def test_a_partitions_own_default_memory(config: ClusterConfig) -> None:
    gpu = config.partition("gpu")
    assert gpu is not None
    own = replace(config, partitions=tuple(replace(p, def_mem_per_cpu_mb=4000) if p is gpu else p
                                           for p in config.partitions))  # fmt: skip
    note = "the partition's DefMemPerCPU: the memory (so the cost) of a job that asks for none"
    assert compare(dev(), own) == [Mismatch("gpu", "def_mem_per_cpu_mb", "1000", "4000", note)]
    text = scontrol.parse_partitions("PartitionName=x DefMemPerCPU=4000 MaxTime=1:00:00\n")
    assert text[0].def_mem_per_cpu_mb == 4000


def test_capture_script_reads_what_the_tests_replay() -> None:
    script = (Path(__file__).parents[1] / "data" / "slurm" / "capture_scontrol.py").read_text()
    for name in ("scontrol_show_partition", "scontrol_show_node", "scontrol_show_licenses"):
        assert name in script and captured(name)
