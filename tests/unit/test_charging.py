"""The cost rule: worst case at submit (the hold) and actual cost from sacct (the charge)."""

from __future__ import annotations

import json
import random
from decimal import Decimal

import pytest

from myriagate.domain.billing import BillingRule, Tres, billing
from myriagate.domain.costs import Cost
from myriagate.domain.jobs import GresRequest, JobSpec, JobUsage
from myriagate.domain.states import JobState
from myriagate.errors import InvalidRequest
from myriagate.profiles.loader import load_profile
from myriagate.profiles.models import BillingWeights, ClusterProfile, Partition
from myriagate.services.allocations import charging
from myriagate.services.allocations.charging import Pricing
from myriagate.settings import Settings
from myriagate.slurm.cli_backend import SlurmCliBackend, accounted_jobs
from myriagate.slurm.commands import SEP
from tests.fakes.fake_runner import DATA_DIR, FakeRunner, load_capture


@pytest.fixture(scope="module")
def devcluster() -> ClusterProfile:
    return load_profile("devcluster", Settings(dev_mode=True))


@pytest.fixture(scope="module")
def court(devcluster: ClusterProfile) -> Pricing:
    return charging.pricing_of(devcluster, "court")


def gpu_partition(**kw: object) -> Partition:
    values: dict[str, object] = {
        "name": "gpu_v100", "max_walltime": "48:00:00", "max_nodes": 4, "cpus_per_node": 32,
        "mem_per_node_mb": 180000, "gpus_per_node": 4, "billing_weights": BillingWeights(gpu=Decimal(1)),
    }  # fmt: skip
    values.update(kw)
    return Partition.model_validate(values)


def part(pricing: Pricing) -> Partition:
    assert pricing.partition is not None
    return pricing.partition


def priced(partition: Partition, **kw: object) -> Pricing:
    return Pricing(weights=partition.billing_weights.as_weights(), partition=partition, **kw)  # type: ignore[arg-type]


def test_worked_example_of_the_docs(court: Pricing, devcluster: ClusterProfile) -> None:
    # docs/allocations.md: 4 CPUs and 8000 MB for one hour on court (CPU=1.0, Mem=0.25G):
    # Slurm bills 4 × 1.0 + 8000/1024 × 0.25 = 5.95 -> billing=5 per second (scontrol shows
    # it), so the hold is 5 × 3600 = 18000 core-seconds. (Before: ⌈5.95 × 3600⌉ = 21432.)
    spec = JobSpec(partition="court", ntasks=4, mem_mb=8000, time_limit_s=3600)
    assert charging.worst_case(spec, court) == Cost(18000, 0)
    # The same with --gres=gpu:1 on gpu (…,GRES/gpu=4.0): ⌊5.95 + 4⌋ = 9, and one GPU-hour.
    on_gpu = spec.model_copy(update={"partition": "gpu", "gres": (GresRequest(name="gpu", count=1),)})
    assert charging.worst_case(on_gpu, charging.pricing_of(devcluster, "gpu")) == Cost(32400, 3600)


def test_a_bare_job_holds_one_cpu_and_the_default_memory_per_cpu(court: Pricing) -> None:
    # DefMemPerCPU=1000 on the dev cluster: scontrol shows TRES=cpu=1,mem=1000M,node=1,billing=1.
    request = charging.requested(
        JobSpec(partition="court", time_limit_s=600), part(court), def_mem_per_cpu_mb=1000
    )
    assert (request.cpus, request.mem_mb, request.seconds) == (1, 1000, 600)
    assert charging.worst_case(JobSpec(partition="court", time_limit_s=600), court) == Cost(600, 0)


def test_without_a_default_memory_a_job_holds_its_cpus_share_of_a_node() -> None:
    partition = gpu_partition(gpus_per_node=0, billing_weights=BillingWeights(mem_per_gb=Decimal(1)))
    request = charging.requested(JobSpec(ntasks=2, time_limit_s=60), partition)
    assert request.mem_mb == 2 * 180000 // 32  # 11250


def test_ntasks_is_for_the_whole_job_and_nodes_get_a_task_each(court: Pricing) -> None:
    p = part(court)
    assert charging.requested(JobSpec(ntasks=8, cpus_per_task=2, time_limit_s=60), p).cpus == 16
    assert charging.requested(JobSpec(nodes=3, cpus_per_task=4, time_limit_s=60), p).cpus == 12
    assert charging.requested(JobSpec(nodes=2, ntasks=6, time_limit_s=60), p).cpus == 6


def test_ntasks_per_node_times_nodes() -> None:
    # -N 3 --ntasks-per-node=4 on parallel: scontrol shows cpu=12,node=3 (billing=14).
    parallel = gpu_partition(name="parallel", cpus_per_node=28, gpus_per_node=0)
    request = charging.requested(JobSpec(nodes=3, ntasks_per_node=4), parallel, def_mem_per_cpu_mb=1000)
    assert (request.cpus, request.nodes, request.mem_mb) == (12, 3, 12000)
    # With --ntasks, --ntasks-per-node is a maximum: 10 tasks, at most 4 a node, need 3 nodes.
    request = charging.requested(JobSpec(ntasks=10, ntasks_per_node=4, mem_mb=100), parallel)
    assert (request.cpus, request.nodes, request.mem_mb) == (10, 3, 300)


def test_memory_per_node_per_cpu_and_per_gpu(court: Pricing) -> None:
    p = part(court)
    assert charging.requested(JobSpec(nodes=2, mem_mb=4096, time_limit_s=60), p).mem_mb == 8192
    assert charging.requested(JobSpec(ntasks=4, mem_per_cpu_mb=1024, time_limit_s=60), p).mem_mb == 4096
    # --gpus=2 --mem-per-gpu=2000: scontrol shows mem=4000M.
    spec = JobSpec(gpus="2", mem_per_gpu_mb=2000)
    assert charging.requested(spec, gpu_partition()).mem_mb == 4000


def test_missing_time_limit_uses_the_partition_default(court: Pricing) -> None:
    assert charging.requested(JobSpec(), part(court)).seconds == 3600


def test_gpus_are_billed_by_weight_and_counted_as_gpu_seconds() -> None:
    # 2 nodes × gpu:2, 2 CPUs, 2 × 1024 MB: billing = 2 × 1 + 4 × 1 = 6 per second; the
    # GPU-seconds are the 4 GPUs' real seconds. (Before: 200 core-s + 400 GPU-s, the GPU
    # weight moving GPU time into GPU-seconds only.)
    spec = JobSpec(nodes=2, ntasks=2, gres=(GresRequest(name="gpu", count=2),), mem_mb=1024, time_limit_s=100)
    assert charging.worst_case(spec, priced(gpu_partition())) == Cost(core_seconds=600, gpu_seconds=400)


def test_gpu_seconds_do_not_depend_on_the_gpu_weight() -> None:
    # Every shipped profile had gpu = 0, so GPU jobs held and were charged 0 GPU-seconds.
    free = gpu_partition(billing_weights=BillingWeights())
    spec = JobSpec(gres=(GresRequest(name="gpu", count=2),), time_limit_s=100, mem_mb=10)
    assert charging.worst_case(spec, priced(free)) == Cost(core_seconds=100, gpu_seconds=200)


@pytest.mark.parametrize(
    ("spec", "gpus", "cpus", "nodes"),
    [
        (JobSpec(gpus="6"), 6, 1, 2),  # --gpus is the whole job's: 6 need two 4-GPU nodes
        (JobSpec(gpus="v100:2"), 2, 1, 1),
        (JobSpec(nodes=2, gpus_per_node="3"), 6, 2, 2),
        (JobSpec(ntasks=3, gpus_per_task="1"), 3, 3, 1),
        (JobSpec(gpus="2", cpus_per_gpu=4), 2, 8, 1),  # scontrol: cpu=4 for --gpus=1 --cpus-per-gpu=4
        (JobSpec(gres=(GresRequest(name="gpu", type="v100", count=1),), nodes=2), 2, 2, 2),
    ],
)
def test_every_gpu_option(spec: JobSpec, gpus: int, cpus: int, nodes: int) -> None:
    request = charging.requested(spec, gpu_partition())
    assert (request.gpus, request.cpus, request.nodes) == (gpus, cpus, nodes)


def test_exclusive_takes_whole_nodes(court: Pricing) -> None:
    # sbatch -p court --exclusive, running on vm: TRES=cpu=32,mem=32000M,node=1,billing=39
    # (DefMemPerCPU × every CPU), and with --mem=4000: mem=4000M, billing=32.
    spec = JobSpec(partition="court", exclusive="node", time_limit_s=100)
    request = charging.requested(spec, part(court), def_mem_per_cpu_mb=1000)
    assert (request.cpus, request.mem_mb) == (32, 32000)
    assert charging.worst_case(spec, court) == Cost(39 * 100, 0)
    with_mem = spec.model_copy(update={"mem_mb": 4000})
    assert charging.worst_case(with_mem, court) == Cost(32 * 100, 0)
    per_cpu = spec.model_copy(update={"mem_per_cpu_mb": 500})
    assert charging.requested(per_cpu, part(court)).mem_mb == 16000
    # Two whole nodes, and every GPU on them (Slurm gives an exclusive job the node's GRES).
    two = charging.requested(JobSpec(nodes=2, exclusive="node"), gpu_partition(), def_mem_per_cpu_mb=1000)
    assert (two.cpus, two.gpus, two.mem_mb) == (64, 8, 64000)
    # --exclusive=user shares nothing with others but allocates only what was asked.
    assert charging.requested(JobSpec(exclusive="user"), gpu_partition()).cpus == 1


def test_while_pending_slurm_counts_only_the_cpus_asked(court: Pricing, devcluster: ClusterProfile) -> None:
    # scontrol show job of a held job: -p court --exclusive shows cpu=1,mem=1000M,billing=1;
    # --gpus=1 --cpus-per-gpu=4 shows cpu=1. Once running: 32 CPUs (39), 4 CPUs.
    exclusive = JobSpec(partition="court", exclusive="node")
    assert charging.gateway_billing_rate(exclusive, devcluster, pending=True) == 1
    assert charging.gateway_billing_rate(exclusive, devcluster) == 39
    per_gpu = charging.requested(JobSpec(gpus="1", cpus_per_gpu=4), gpu_partition(), pending=True)
    assert per_gpu.cpus == 1


def test_whole_cores_on_nodes_with_threads() -> None:
    smt = gpu_partition(sockets_per_node=2, cores_per_socket=16, threads_per_core=2, cpus_per_node=64)
    assert charging.requested(JobSpec(ntasks=2), smt).cpus == 4  # a core each
    assert charging.requested(JobSpec(ntasks=2, cpus_per_task=4), smt).cpus == 8
    assert charging.requested(JobSpec(ntasks=2, cpus_per_task=4, hint="nomultithread"), smt).cpus == 16
    assert charging.requested(JobSpec(ntasks=2, cpus_per_task=4, threads_per_core=1), smt).cpus == 16


def test_an_array_holds_every_task(court: Pricing) -> None:
    spec = JobSpec(ntasks=2, mem_mb=1024, time_limit_s=60)
    one = charging.worst_case(spec, court)
    assert charging.worst_case(spec, court, array_tasks=10) == Cost(one.core_seconds * 10, 0)


def test_the_long_partition_weighs_cpus_more(devcluster: ClusterProfile) -> None:
    # 2 CPUs, 2 GB: court bills ⌊2 + 0.5⌋ = 2 per second, long ⌊3 + 0.5⌋ = 3.
    spec = JobSpec(ntasks=2, mem_per_cpu_mb=1024, time_limit_s=3600)
    court = charging.worst_case(spec, charging.pricing_of(devcluster, "court"))
    long = charging.worst_case(spec, charging.pricing_of(devcluster, "long"))
    assert (court, long) == (Cost(2 * 3600, 0), Cost(3 * 3600, 0))


def test_max_tres_profiles_bill_the_largest_weighted_tres(devcluster: ClusterProfile) -> None:
    # 2 CPUs and 64 GB: ⌊2 + 16⌋ = 18 summed; ⌊max(2, 16)⌋ = 16 with PriorityFlags=MAX_TRES.
    spec = JobSpec(partition="court", ntasks=2, mem_mb=64 * 1024, time_limit_s=10)
    max_tres = devcluster.model_copy(
        update={"slurm": devcluster.slurm.model_copy(update={"billing_rule": BillingRule.MAX_TRES})}
    )
    assert charging.gateway_billing_rate(spec, devcluster) == 18
    assert charging.gateway_billing_rate(spec, max_tres) == 16
    assert charging.worst_case(spec, charging.pricing_of(max_tres, "court")) == Cost(160, 0)


def test_typed_gpu_weights_count_for_the_partitions_gpu_type() -> None:
    a100 = gpu_partition(gpu_type="a100", billing_weights="CPU=1,GRES/gpu:a100=8")
    spec = JobSpec(gres=(GresRequest(name="gpu", count=2),), time_limit_s=10)
    assert charging.worst_case(spec, priced(a100)) == Cost((1 + 16) * 10, 2 * 10)


def test_unknown_partition_is_refused(devcluster: ClusterProfile) -> None:
    with pytest.raises(InvalidRequest, match="its cost is unknown"):
        charging.partition_of(devcluster, "nope")
    assert charging.partition_of(devcluster, None).name == "court"


def usage(**kw: object) -> JobUsage:
    values: dict[str, object] = {"slurm_job_id": "12", "state": JobState.COMPLETED, "elapsed_s": 100,
                                 "alloc_cpus": 2, "alloc_mem_mb": 2048, "partition": "court"}  # fmt: skip
    values.update(kw)
    return JobUsage(**values)  # type: ignore[arg-type]


def test_actual_cost_is_sacct_billing_times_elapsed(devcluster: ClusterProfile) -> None:
    # sacct's billing wins over the profile: it is what Slurm billed (even if the profile is off).
    billed = usage(tres_alloc={"billing": 7, "cpu": 2, "mem": 2048}, alloc_gpus=1)
    charge = charging.charge_on(devcluster, billed, None)
    assert charge.cost == Cost(700, 100)
    assert charge.reason == "used (billing from sacct)"


def test_without_billing_in_sacct_the_partitions_rule_is_applied(devcluster: ClusterProfile) -> None:
    # An older record without billing=: 2 CPUs + 2 GB × 0.25 = 2.5 -> 2 on court, 3.5 -> 3 on long.
    assert charging.actual_on(devcluster, usage(), None) == Cost(200, 0)
    assert charging.actual_on(devcluster, usage(partition="long"), None) == Cost(300, 0)
    assert charging.actual_on(devcluster, usage(), "long") == Cost(300, 0)  # the job's own partition wins
    assert charging.charge_on(devcluster, usage(), None).reason == (
        "used (billing computed from cpu, mem and gres: none in sacct)"
    )


def test_a_job_that_never_ran_costs_nothing(devcluster: ClusterProfile) -> None:
    assert charging.actual_on(devcluster, usage(elapsed_s=0, alloc_cpus=0), None).is_zero


def test_an_unknown_partition_is_billed_per_cpu_never_free(devcluster: ClusterProfile) -> None:
    assert charging.actual_on(devcluster, usage(partition="gone"), None) == Cost(200, 0)


# --- every run is charged: requeued jobs and array tasks (sacct --duplicates) ------------------

REQUEUE_JOBS: dict[str, str] = json.loads((DATA_DIR / "jobs_requeue.json").read_text())
# court: 1 CPU + 1000 MB × 0.25/GB = 1.24 per second, sacct billing=1 (2 CPUs: billing=2).
ONE_CPU, TWO_CPUS = 1, 2


def test_a_requeued_job_is_charged_for_both_runs_from_real_sacct(devcluster: ClusterProfile) -> None:
    runner = FakeRunner().reply_from("sacct", "sacct_usage_requeued")
    plain, array = REQUEUE_JOBS["plain"], REQUEUE_JOBS["array"]

    usage = SlurmCliBackend(runner).accounting([plain, array])

    assert "--duplicates" in runner.argvs("sacct")[0]
    job = usage[plain]
    assert job.state is JobState.COMPLETED and [r.elapsed_s for r in job.runs] == [5, 12]
    # 5 s before the requeue + 12 s after, at sacct's billing=1: 17 (the last run alone: 12).
    assert charging.actual_on(devcluster, job, "court") == Cost(17 * ONE_CPU, 0) == Cost(17, 0)


def test_an_array_is_charged_the_sum_of_its_tasks_requeued_runs_included(devcluster: ClusterProfile) -> None:
    runner = FakeRunner().reply_from("sacct", "sacct_usage_requeued")
    array = REQUEUE_JOBS["array"]

    usage = SlurmCliBackend(runner).accounting([array])[array]

    # Tasks 0 and 2 ran 10 s; task 1 ran 5 s, was requeued, then ran 10 s: 35 s of 2 CPUs.
    assert usage.state is JobState.COMPLETED
    assert sorted((r.slurm_job_id, r.elapsed_s) for r in usage.runs) == [
        (f"{array}_0", 10), (f"{array}_1", 5), (f"{array}_1", 10), (f"{array}_2", 10),
    ]  # fmt: skip
    assert charging.actual_on(devcluster, usage, "court") == Cost(35 * TWO_CPUS, 0) == Cost(70, 0)


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

    assert charging.actual(usage, Pricing()) == Cost(4 * 100 + 1 * 100, 0)  # not 4 CPUs × 200 s


def test_a_job_running_again_after_a_node_failure_is_not_charged_yet() -> None:
    # NODE_FAIL is a final state: were it taken for the job's end, the next run would go unbilled.
    text = "\n".join([
        sacct_line("701", "NODE_FAIL", 100, 2, "2026-11-28T10:00:00"),
        sacct_line("701", "RUNNING", 30, 2, "2026-11-28T10:05:00"),
    ])  # fmt: skip

    assert accounted_jobs(text) == []
    usage = SlurmCliBackend(FakeRunner().reply("sacct", text)).accounting(["701"])["701"]
    assert usage.state is JobState.RUNNING and usage.elapsed_s == 130


def test_runs_without_billing_are_priced_by_the_domain_rule() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        pricing = Pricing(
            weights=BillingWeights(
                cpu=Decimal(rng.choice(["1", "1.5", "0.333", "0"])),
                mem_per_gb=Decimal(rng.choice(["0", "0.25", "0.1", "1.125"])),
                gpu=Decimal(rng.choice(["0", "1", "4.5"])),
            ).as_weights(),
            rule=rng.choice(list(BillingRule)),
        )
        cpus, mem, gpus, secs = (
            rng.randint(0, 256),
            rng.randint(0, 10**6),
            rng.randint(0, 8),
            rng.randint(0, 10**7),
        )
        runs = (
            JobUsage(
                "1", JobState.FAILED, elapsed_s=secs, alloc_cpus=cpus, alloc_mem_mb=mem, alloc_gpus=gpus
            ),
            JobUsage("1", JobState.COMPLETED, elapsed_s=7, alloc_cpus=1, tres_alloc={"billing": 3}),
        )
        job = JobUsage("1", JobState.COMPLETED, elapsed_s=secs + 7, alloc_cpus=1, runs=runs)
        rate = billing(Tres(cpus, mem, gpus=gpus), pricing.weights, pricing.rule)
        charge = charging.charge_of(job, pricing)
        assert charge.cost == Cost(rate * secs + 3 * 7, gpus * secs)
        assert charge.reason == "used (billing from sacct; 1 of 2 runs computed from cpu, mem and gres)"
