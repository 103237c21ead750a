"""The cost rule: worst case at submit (the hold) and actual cost from sacct (the charge)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from myriagate.domain.costs import Cost, Weights
from myriagate.domain.jobs import GresRequest, JobSpec, JobUsage
from myriagate.domain.states import JobState
from myriagate.errors import InvalidRequest
from myriagate.profiles.loader import load_profile
from myriagate.profiles.models import ClusterProfile, Partition
from myriagate.services import charging
from myriagate.settings import Settings


@pytest.fixture(scope="module")
def devcluster() -> ClusterProfile:
    return load_profile("devcluster", Settings(dev_mode=True))


@pytest.fixture(scope="module")
def court(devcluster: ClusterProfile) -> Partition:
    found = devcluster.partition("court")
    assert found is not None
    return found


def gpu_partition() -> Partition:
    return Partition(
        name="gpu_v100", max_walltime="48:00:00", max_nodes=4, cpus_per_node=32, mem_per_node_mb=180000,
        gpus_per_node=4, billing_weights={"cpu": 1, "mem_per_gb": 0, "gpu": "1"},
    )  # fmt: skip


def test_worked_example_of_the_docs(court: Partition) -> None:
    # docs/allocations.md: 4 CPUs and 8000 MB for one hour on court (CPU=1.0, Mem=0.25G):
    # (4 × 1.0 + 8000/1024 × 0.25) × 3600 = 21431.25 -> 21432 core-seconds.
    spec = JobSpec(partition="court", ntasks=4, mem_mb=8000, time_limit_s=3600)
    assert charging.worst_case(spec, court) == Cost(21432, 0)


def test_a_bare_job_holds_one_cpu_and_its_share_of_node_memory(court: Partition) -> None:
    request = charging.requested(JobSpec(partition="court", time_limit_s=600), court)
    assert (request.cpus, request.mem_mb, request.seconds) == (1, 2000, 600)  # 64000 MB / 32 CPUs


def test_ntasks_is_for_the_whole_job_and_nodes_get_a_task_each(court: Partition) -> None:
    assert charging.requested(JobSpec(ntasks=8, cpus_per_task=2, time_limit_s=60), court).cpus == 16
    assert charging.requested(JobSpec(nodes=3, cpus_per_task=4, time_limit_s=60), court).cpus == 12
    assert charging.requested(JobSpec(nodes=2, ntasks=6, time_limit_s=60), court).cpus == 6


def test_memory_per_node_and_per_cpu(court: Partition) -> None:
    assert charging.requested(JobSpec(nodes=2, mem_mb=4096, time_limit_s=60), court).mem_mb == 8192
    assert charging.requested(JobSpec(ntasks=4, mem_per_cpu_mb=1024, time_limit_s=60), court).mem_mb == 4096


def test_missing_time_limit_uses_the_partition_default(court: Partition) -> None:
    assert charging.requested(JobSpec(), court).seconds == 3600


def test_gpus_cost_gpu_seconds_per_node() -> None:
    spec = JobSpec(nodes=2, ntasks=2, gres=(GresRequest(name="gpu", count=2),), mem_mb=1024, time_limit_s=100)
    assert charging.worst_case(spec, gpu_partition()) == Cost(core_seconds=200, gpu_seconds=400)


def test_an_array_holds_every_task(court: Partition) -> None:
    spec = JobSpec(ntasks=2, mem_mb=1024, time_limit_s=60)
    one = charging.worst_case(spec, court)
    assert charging.worst_case(spec, court, array_tasks=10) == Cost(one.core_seconds * 10, 0)


def test_the_long_partition_weighs_cpus_more(devcluster: ClusterProfile) -> None:
    spec = JobSpec(ntasks=2, mem_per_cpu_mb=1024, time_limit_s=3600)
    court = charging.worst_case(spec, charging.partition_of(devcluster, "court"))
    long = charging.worst_case(spec, charging.partition_of(devcluster, "long"))
    assert (court, long) == (Cost(2 * 3600 + 1800, 0), Cost(3 * 3600 + 1800, 0))


def test_unknown_partition_is_refused(devcluster: ClusterProfile) -> None:
    with pytest.raises(InvalidRequest, match="its cost is unknown"):
        charging.partition_of(devcluster, "nope")
    assert charging.partition_of(devcluster, None).name == "court"


def usage(**kw: object) -> JobUsage:
    values: dict[str, object] = {"slurm_job_id": "12", "state": JobState.COMPLETED, "elapsed_s": 100,
                                 "alloc_cpus": 2, "alloc_mem_mb": 2048, "partition": "court"}  # fmt: skip
    values.update(kw)
    return JobUsage(**values)  # type: ignore[arg-type]


def test_actual_cost_is_what_sacct_reports_times_the_weights(devcluster: ClusterProfile) -> None:
    # (2 × 1.0 + 2 GB × 0.25) × 100 s = 250 on court; (2 × 1.5 + 0.5) × 100 = 350 on long.
    assert charging.actual_on(devcluster, usage(), None) == Cost(250, 0)
    assert charging.actual_on(devcluster, usage(partition="long"), None) == Cost(350, 0)
    assert charging.actual_on(devcluster, usage(), "long") == Cost(350, 0)  # the job's own partition wins


def test_a_job_that_never_ran_costs_nothing(devcluster: ClusterProfile) -> None:
    assert charging.actual_on(devcluster, usage(elapsed_s=0, alloc_cpus=0), None).is_zero


def test_an_unknown_partition_is_billed_per_cpu_never_free(devcluster: ClusterProfile) -> None:
    assert charging.actual_on(devcluster, usage(partition="gone"), None) == Cost(200, 0)
    assert charging.actual(usage(), Weights(cpu=Decimal("0.5"))) == Cost(100, 0)
