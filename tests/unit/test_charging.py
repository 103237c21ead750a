"""The cost rule: worst case at submit (the hold) and actual cost from sacct (the charge)."""

from __future__ import annotations

import json
import random
from decimal import ROUND_CEILING, Decimal

import pytest

from myriagate.domain.costs import Cost, Weights, job_cost
from myriagate.domain.jobs import GresRequest, JobSpec, JobUsage
from myriagate.domain.states import JobState
from myriagate.errors import InvalidRequest
from myriagate.profiles.loader import load_profile
from myriagate.profiles.models import BillingWeights, ClusterProfile, Partition
from myriagate.services.allocations import charging
from myriagate.settings import Settings
from myriagate.slurm.cli_backend import SlurmCliBackend, accounted_jobs
from myriagate.slurm.commands import SEP
from tests.fakes.fake_runner import DATA_DIR, FakeRunner, load_capture


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
        gpus_per_node=4, billing_weights=BillingWeights(gpu=Decimal(1)),
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


# --- every run is charged: requeued jobs and array tasks (sacct --duplicates) ------------------

REQUEUE_JOBS: dict[str, str] = json.loads((DATA_DIR / "jobs_requeue.json").read_text())
# court: 1 CPU + 1000 MB × 0.25/GB = 1.244140625 core-seconds per second (2 CPUs: 2.244140625).
ONE_CPU, TWO_CPUS = Decimal("1.244140625"), Decimal("2.244140625")


def ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def test_a_requeued_job_is_charged_for_both_runs_from_real_sacct(devcluster: ClusterProfile) -> None:
    runner = FakeRunner().reply_from("sacct", "sacct_usage_requeued")
    plain, array = REQUEUE_JOBS["plain"], REQUEUE_JOBS["array"]

    usage = SlurmCliBackend(runner).accounting([plain, array])

    assert "--duplicates" in runner.argvs("sacct")[0]
    job = usage[plain]
    assert job.state is JobState.COMPLETED and [r.elapsed_s for r in job.runs] == [5, 12]
    # 5 s before the requeue + 12 s after: 17 × 1.244140625 = 21.15 -> 22 (the last run alone: 15).
    assert charging.actual_on(devcluster, job, "court") == Cost(ceil(17 * ONE_CPU), 0) == Cost(22, 0)


def test_an_array_is_charged_the_sum_of_its_tasks_requeued_runs_included(devcluster: ClusterProfile) -> None:
    runner = FakeRunner().reply_from("sacct", "sacct_usage_requeued")
    array = REQUEUE_JOBS["array"]

    usage = SlurmCliBackend(runner).accounting([array])[array]

    # Tasks 0 and 2 ran 10 s; task 1 ran 5 s, was requeued, then ran 10 s: 35 s of 2 CPUs.
    assert usage.state is JobState.COMPLETED
    assert sorted((r.slurm_job_id, r.elapsed_s) for r in usage.runs) == [
        (f"{array}_0", 10), (f"{array}_1", 5), (f"{array}_1", 10), (f"{array}_2", 10),
    ]  # fmt: skip
    assert charging.actual_on(devcluster, usage, "court") == Cost(ceil(35 * TWO_CPUS), 0) == Cost(79, 0)


def test_the_sweep_adds_up_the_runs_of_requeued_outside_jobs_from_real_sacct() -> None:
    found = {u.slurm_job_id: u for u in accounted_jobs(load_capture("sacct_accounts_requeued")[0])}
    plain, array = REQUEUE_JOBS["plain"], REQUEUE_JOBS["array"]

    assert sorted(found) == sorted([plain, f"{array}_0", f"{array}_1", f"{array}_2"])
    assert found[plain].elapsed_s == 17
    assert found[f"{array}_1"].elapsed_s == 15 and len(found[f"{array}_1"].runs) == 2


def sacct_line(job: str, state: str, elapsed: int, cpus: int, start: str) -> str:
    end = "Unknown" if state == "RUNNING" else start
    tres = f"billing={cpus},cpu={cpus},mem=1024M,node=1"
    fields = [
        job,
        job,
        state,
        "0:0",
        str(elapsed),
        str(cpus),
        "1",
        tres,
        "court",
        "caen-climat",
        "alice",
        start,
        end,
    ]
    return SEP.join(fields)


def test_runs_with_different_allocations_are_each_charged_their_own() -> None:
    # A node failure requeued the job: 4 CPUs for 100 s, then 1 CPU for 100 s.
    text = "\n".join([
        sacct_line("700", "NODE_FAIL", 100, 4, "2026-11-28T10:00:00"),
        sacct_line("700", "COMPLETED", 100, 1, "2026-11-28T10:05:00"),
    ])  # fmt: skip
    usage = SlurmCliBackend(FakeRunner().reply("sacct", text)).accounting(["700"])["700"]

    assert charging.actual(usage, Weights()) == Cost(4 * 100 + 1 * 100, 0)  # not 4 CPUs × 200 s


def test_a_job_running_again_after_a_node_failure_is_not_charged_yet() -> None:
    # NODE_FAIL is a final state: were it taken for the job's end, the next run would go unbilled.
    text = "\n".join([
        sacct_line("701", "NODE_FAIL", 100, 2, "2026-11-28T10:00:00"),
        sacct_line("701", "RUNNING", 30, 2, "2026-11-28T10:05:00"),
    ])  # fmt: skip

    assert accounted_jobs(text) == []
    usage = SlurmCliBackend(FakeRunner().reply("sacct", text)).accounting(["701"])["701"]
    assert usage.state is JobState.RUNNING and usage.elapsed_s == 130


def test_integer_rate_matches_the_decimal_rule() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        weights = Weights(
            cpu=Decimal(rng.choice(["1", "1.5", "0.333", "0"])),
            mem_per_gb=Decimal(rng.choice(["0", "0.25", "0.1", "1.125"])),
            gpu=Decimal(rng.choice(["0", "1", "4.5"])),
        )
        cpus, mem, gpus, secs = (
            rng.randint(0, 256),
            rng.randint(0, 10**6),
            rng.randint(0, 8),
            rng.randint(0, 10**7),
        )
        usage = JobUsage(
            "1", JobState.COMPLETED, elapsed_s=secs, alloc_cpus=cpus, alloc_mem_mb=mem, alloc_gpus=gpus
        )
        expected = job_cost(cpus=cpus, mem_mb=mem, gpus=gpus, seconds=secs, weights=weights)
        assert charging.actual(usage, weights) == expected
