"""The profile checks of real job scripts' options: each refusal names the limit and the
partition, several problems come back together, and what Slurm 22.05 accepts passes.

The rules follow what the dev cluster's Slurm 22.05 answered to ``sbatch --test-only``
(deploy/devcluster/README.md).
"""

from __future__ import annotations

import pytest

from myriagate.domain.jobs import GresRequest, JobSpec
from myriagate.errors import FieldError, ProfileViolation
from myriagate.profiles import ClusterProfile, check_job, parse_profile
from myriagate.profiles.validation_layout import layout
from tests.fakes.mini_profile import MINI_HEADER, MINI_LICENSES, gpu_partition, shaped_cpu_partition

PROFILE = (
    MINI_HEADER
    + MINI_LICENSES
    + shaped_cpu_partition("cpu", default_walltime="01:00:00")
    + """
[[partitions]]
name = "smt"
max_walltime = "04:00:00"
max_nodes = 1
cpus_per_node = 16
mem_per_node_mb = 32000
sockets_per_node = 1
cores_per_socket = 8
threads_per_core = 2
"""
    + gpu_partition(nodes="gpu[1-2]")
    + """
[[partitions]]
name = "bare"
max_walltime = "04:00:00"
max_nodes = 2
cpus_per_node = 8
mem_per_node_mb = 16000
"""
)


@pytest.fixture(scope="module")
def mini() -> ClusterProfile:
    return parse_profile(PROFILE, source="mini.toml")


def refusals(profile: ClusterProfile, spec: JobSpec) -> list[FieldError]:
    with pytest.raises(ProfileViolation) as caught:
        check_job(profile, spec, allowed_accounts={"p"})
    return list(caught.value.fields)


def passes(profile: ClusterProfile, spec: JobSpec) -> JobSpec:
    return check_job(profile, spec, allowed_accounts={"p"})


REFUSED = [
    # --- tasks, sockets, threads ------------------------------------------------------
    (
        JobSpec(ntasks_per_node=29),
        "ntasks_per_node",
        "29 tasks per node × 1 CPUs = 29 CPUs; a node of partition 'cpu' has 28",
    ),
    (
        JobSpec(ntasks_per_node=16, cpus_per_task=2),
        "ntasks_per_node",
        "16 tasks per node × 2 CPUs = 32 CPUs; a node of partition 'cpu' has 28",
    ),
    (
        JobSpec(nodes=1, ntasks=4, ntasks_per_node=2),
        "ntasks",
        "4 tasks on 1 node(s) is 4 per node, more than --ntasks-per-node=2 allows on partition 'cpu'",
    ),
    (
        JobSpec(ntasks=10, ntasks_per_node=2),
        "ntasks",
        "10 tasks, 2 per node (--ntasks-per-node=2), need 5 nodes; partition 'cpu' allows at most 4",
    ),
    (
        JobSpec(ntasks_per_socket=15),
        "ntasks_per_socket",
        "15 tasks per socket × 1 CPUs = 15 CPUs; a socket of partition 'cpu' has 14",
    ),
    (
        JobSpec(ntasks=20, ntasks_per_socket=2),
        "ntasks",
        "20 tasks, 4 per node (--ntasks-per-socket=2 × 2 sockets), need 5 nodes; partition 'cpu' "
        "allows at most 4",
    ),
    (
        JobSpec(ntasks_per_socket=2, ntasks_per_node=6),
        "ntasks_per_node",
        "--ntasks-per-node=6 is more than --ntasks-per-socket=2 × 2 sockets of a node of partition "
        "'cpu' allow (4 tasks)",
    ),
    (
        JobSpec(threads_per_core=2),
        "threads_per_core",
        "2 threads per core requested; the cores of partition 'cpu' have 1",
    ),
    (
        JobSpec(partition="smt", hint="nomultithread", threads_per_core=2),
        "hint",
        "--hint=nomultithread uses one thread per core, but --threads-per-core asks for 2",
    ),
    (
        JobSpec(partition="smt", hint="nomultithread", cpus_per_task=9),
        "cpus_per_task",
        "9 CPUs per task requested; a node of partition 'smt' has 8 using 1 thread(s) per core "
        "(--hint=nomultithread)",
    ),
    (
        JobSpec(partition="smt", threads_per_core=1, ntasks=9),
        "ntasks",
        "9 tasks × 1 CPU need 2 nodes; partition 'smt' allows at most 1",
    ),
    (
        JobSpec(exclusive="node", mem_per_cpu_mb=5000),
        "mem_per_cpu",
        "5000 MB per CPU × 28 CPUs per node (--exclusive: the whole node) exceeds the 128000 MB of a "
        "node of partition 'cpu'",
    ),
    (
        JobSpec(time_limit_s=600, time_min_s=1200),
        "time_min",
        "--time-min 00:20:00 is longer than the time limit 00:10:00",
    ),
    (
        JobSpec(time_min_s=7200),
        "time_min",
        "--time-min 02:00:00 is longer than the time limit 01:00:00 (partition 'cpu''s default)",
    ),
    # --- GPUs ---------------------------------------------------------------------------
    (JobSpec(gpus="3"), "gpus", "--gpus=3: partition 'cpu' has no GPUs"),
    (JobSpec(gpus_per_task="1"), "gpus_per_task", "--gpus-per-task=1: partition 'cpu' has no GPUs"),
    (JobSpec(cpus_per_gpu=2), "cpus_per_gpu", "--cpus-per-gpu: partition 'cpu' has no GPUs"),
    (JobSpec(mem_per_gpu_mb=2000), "mem_per_gpu", "--mem-per-gpu: partition 'cpu' has no GPUs"),
    (
        JobSpec(partition="gpu", gpus_per_node="5"),
        "gpus_per_node",
        "--gpus-per-node=5: 5 GPUs per node; a node of partition 'gpu' has 4",
    ),
    (
        JobSpec(partition="gpu", gpus="9"),
        "gpus",
        "--gpus=9 needs 3 nodes of 4 GPUs; partition 'gpu' allows at most 2",
    ),
    (
        JobSpec(partition="gpu", nodes=1, gpus="5"),
        "gpus",
        "--gpus=5 needs 2 nodes of 4 GPUs; you asked for 1 node(s) of partition 'gpu'",
    ),
    (
        JobSpec(partition="gpu", gpus="1", gpus_per_node="2"),
        "gpus",
        "--gpus=1 is fewer than the 2 GPUs per node asked by --gpus-per-node or --gres",
    ),
    (
        JobSpec(partition="gpu", gpus="h200:1"),
        "gpus",
        "--gpus=h200:1: GPU type 'h200' is not on partition 'gpu' (it has: a100, a100_1g.10gb)",
    ),
    (
        JobSpec(partition="gpu", gpus_per_task="1", ntasks=9),
        "gpus_per_task",
        "9 tasks × 1 GPU need 3 nodes of 4 GPUs; partition 'gpu' allows at most 2",
    ),
    (
        JobSpec(partition="gpu", gpus_per_task="2", nodes=1, ntasks=3),
        "gpus_per_task",
        "3 tasks per node × 2 GPUs = 6 GPUs per node; a node of partition 'gpu' has 4",
    ),
    (
        JobSpec(partition="gpu", gpus_per_task="5"),
        "gpus_per_task",
        "--gpus-per-task=5: a node of partition 'gpu' has 4 GPUs",
    ),
    (
        JobSpec(partition="gpu", gpus="4", gpus_per_task="1", ntasks=2),
        "gpus_per_task",
        "--gpus=4 with --gpus-per-task=1 means 4 tasks, but --ntasks is 2",
    ),
    (
        JobSpec(partition="gpu", gpus_per_node="4", cpus_per_gpu=17),
        "cpus_per_gpu",
        "17 CPUs per GPU × 4 GPUs per node = 68 CPUs; a node of partition 'gpu' has 64",
    ),
    (
        JobSpec(partition="gpu", gpus="1", cpus_per_gpu=2, cpus_per_task=2),
        "cpus_per_gpu",
        "--cpus-per-gpu and --cpus-per-task cannot be combined",
    ),
    (
        JobSpec(partition="gpu", gpus_per_node="4", mem_per_gpu_mb=200000),
        "mem_per_gpu",
        "200000 MB per GPU × 4 GPUs per node exceeds the 512000 MB of a node of partition 'gpu'",
    ),
    (
        JobSpec(partition="gpu", mem_per_gpu_mb=2000),
        "mem_per_gpu",
        "--mem-per-gpu needs GPUs: ask for them with --gpus",
    ),
    # --- features, QOS, nodes, scratch --------------------------------------------------
    (
        JobSpec(constraint="skylake|ib"),
        "constraint",
        "node feature 'skylake' is not on partition 'cpu' (its features: broadwell, ib, avx2)",
    ),
    (
        JobSpec(partition="bare", constraint="ib"),
        "constraint",
        "--constraint is not offered on partition 'bare': it lists no node features",
    ),
    (JobSpec(qos="long"), "qos", "QOS 'long' is not allowed on partition 'cpu'; allowed: normal, short"),
    (JobSpec(partition="bare", qos="normal"), "qos", "--qos is not offered on partition 'bare'"),
    (
        JobSpec(nodelist="node[004-005]"),
        "nodelist",
        "node node005 is not in partition 'cpu' (its nodes: node[001-004])",
    ),
    (
        JobSpec(nodelist="node[001-003]", nodes=2),
        "nodelist",
        "--nodelist names 3 nodes; the job may use at most 2 (--nodes)",
    ),
    (
        JobSpec(partition="bare", nodelist="n1"),
        "nodelist",
        "--nodelist is not offered on partition 'bare': the gateway does not know its nodes",
    ),
    (
        JobSpec(exclude="node[001-004]"),
        "exclude",
        "--exclude=node[001-004] leaves no node of partition 'cpu' (its nodes: node[001-004])",
    ),
    (
        JobSpec(tmp_mb=20000),
        "tmp",
        "20000 MB of local scratch (--tmp) requested; a node of partition 'cpu' has 10000 MB",
    ),
    # --- licences (the cluster's) --------------------------------------------------------
    (JobSpec(licenses="matlab:5"), "licenses", "5 matlab licence(s) requested; Mini has 4 in all"),
    (JobSpec(licenses="matlab:2,matlab:3"), "licenses", "5 matlab licence(s) requested; Mini has 4"),
    (
        JobSpec(licenses="comsol"),
        "licenses",
        "licence 'comsol' does not exist on Mini; its licences: matlab (4), ansys@flexlm (2)",
    ),
    # sbatch reads "matlab@2" as licence "matlab" of license server "2", not as a count.
    (JobSpec(licenses="matlab@2"), "licenses", "licence 'matlab@2' does not exist on Mini"),
    (JobSpec(licenses="matlab|ansys@flexlm"), "licenses", "Slurm 22.05 on Mini cannot take one licence"),
]


@pytest.mark.parametrize(("spec", "loc", "message"), REFUSED, ids=[m[:60] for _, _, m in REFUSED])
def test_each_refusal_names_the_limit(mini: ClusterProfile, spec: JobSpec, loc: str, message: str) -> None:
    problems = refusals(mini, spec)
    assert [p.loc for p in problems] == [(loc,)], problems
    assert message in problems[0].message


ACCEPTED = [
    JobSpec(nodes=2, ntasks_per_node=14, cpus_per_task=2),
    JobSpec(nodes=1, ntasks=2, ntasks_per_node=4),
    JobSpec(ntasks=8, ntasks_per_socket=2, nodes=2),
    JobSpec(nodes=4, ntasks_per_node=28, exclusive="node", mem_per_cpu_mb=4000),
    JobSpec(exclusive="user", time_limit_s=600, time_min_s=300),
    JobSpec(partition="smt", cpus_per_task=16, threads_per_core=2),
    JobSpec(partition="smt", hint="multithread", ntasks=16),
    JobSpec(partition="smt", hint="nomultithread", cpus_per_task=8),
    JobSpec(partition="bare", threads_per_core=4, ntasks_per_socket=2, exclude="n9", tmp_mb=10**6),
    JobSpec(partition="gpu", gpus="8"),
    JobSpec(partition="gpu", gpus="a100_1g.10gb:2", gpus_per_task="a100:1", ntasks=2),
    JobSpec(partition="gpu", gpus_per_task="1", ntasks=8, cpus_per_gpu=16, mem_per_gpu_mb=128000),
    JobSpec(partition="gpu", gres=(GresRequest(name="gpu", count=4),), cpus_per_gpu=16, nodelist="gpu2"),
    JobSpec(constraint="[ib&avx2]*2|broadwell", qos="short", nodelist="node[001-002]", tmp_mb=10000),
    JobSpec(licenses="matlab:2,matlab:2,ansys@flexlm"),
]


@pytest.mark.parametrize("spec", ACCEPTED, ids=range(len(ACCEPTED)))
def test_what_slurm_accepts_passes(mini: ClusterProfile, spec: JobSpec) -> None:
    passes(mini, spec)


def test_ntasks_follow_nodes_times_tasks_per_node(mini: ClusterProfile) -> None:
    cpu = mini.partitions[0]
    problems: list[FieldError] = []
    shape = layout(cpu, JobSpec(nodes=3, ntasks_per_node=7, cpus_per_task=2), problems)
    assert (shape.ntasks, shape.tasks_per_node, shape.cpus_per_node, problems) == (21, 7, 14, [])
    # --ntasks wins over --nodes × --ntasks-per-node and the latter is a maximum per node.
    shape = layout(cpu, JobSpec(nodes=3, ntasks=5, ntasks_per_node=7), problems)
    assert (shape.ntasks, shape.tasks_per_node, problems) == (5, 2, [])


def test_several_problems_come_back_together(mini: ClusterProfile) -> None:
    spec = JobSpec(
        ntasks_per_node=29, threads_per_core=2, qos="long", constraint="skylake", nodelist="x1",
        tmp_mb=20000, licenses="matlab:5", gpus="1", time_min_s=7200, account="other",
    )  # fmt: skip
    problems = refusals(mini, spec)
    assert [p.loc[0] for p in problems] == [
        "time_min", "threads_per_core", "ntasks_per_node", "gpus", "constraint", "qos", "nodelist",
        "tmp", "licenses", "account",
    ]  # fmt: skip
    # Every partition-level message names the partition it was checked against.
    assert all("'cpu'" in p.message for p in problems if p.loc[0] not in {"licenses", "account"})
    with pytest.raises(ProfileViolation) as caught:
        check_job(mini, spec, allowed_accounts={"p"})
    assert caught.value.detail.count("; ") >= len(problems) - 1
