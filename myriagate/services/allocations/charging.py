"""What a job costs: its worst case when submitted (the hold) and what it really used (the charge).

Both apply ``domain.costs.job_cost`` (Slurm's ``TRESBillingWeights`` rule, summed) with the
partition's billing weights from the cluster profile. Nothing here touches the database or
Slurm: the inputs are a validated ``JobSpec`` or a ``JobUsage`` from sacct.

The worst case counts what Slurm would allocate for the request:

- CPUs: ``ntasks`` is the whole job's task count (Slurm's meaning, not per node); a job with
  ``--nodes`` gets at least one task per node; each task has ``cpus_per_task`` CPUs (1 by
  default), so a bare job holds 1 CPU.
- Memory: ``--mem`` is per node, ``--mem-per-cpu`` per CPU; a job asking neither holds its
  CPUs' share of a node's memory (node memory ÷ CPUs per node × CPUs), an upper bound of the
  ``DefMemPerCPU`` sites set.
- GPUs: GPUs per node × nodes.
- Time: the time limit (``check_job`` always fills it in from the partition's default).
- Array jobs: every task may run at once and each is billed, so the hold is one task's worst
  case × the number of tasks.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from myriagate.domain.costs import Cost, Weights, job_cost
from myriagate.domain.jobs import JobSpec, JobUsage
from myriagate.errors import InvalidRequest
from myriagate.profiles.models import ClusterProfile, Partition


@dataclass(frozen=True)
class Request:
    """The resources of one job (or one array task) as Slurm would allocate them."""

    cpus: int
    mem_mb: int
    gpus: int
    seconds: int
    tasks: int = 1  # array tasks


def weights_of(partition: Partition) -> Weights:
    """The partition's billing weights as the domain's exact ``Weights``."""
    bw = partition.billing_weights
    return Weights(cpu=bw.cpu, mem_per_gb=bw.mem_per_gb, gpu=bw.gpu)


def partition_of(profile: ClusterProfile, name: str | None) -> Partition:
    """The named partition (or the default one); InvalidRequest when the profile has neither."""
    found = profile.partition(name) if name else profile.default_partition
    if found is None:
        raise InvalidRequest(
            f"partition {name!r} is not in the profile of {profile.name}: its cost is unknown"
        )
    return found


def requested(spec: JobSpec, partition: Partition, *, array_tasks: int = 1) -> Request:
    """What Slurm would allocate for ``spec`` on ``partition`` (see the module docstring)."""
    nodes = spec.nodes or 1
    tasks = max(spec.ntasks or nodes, nodes)
    cpus = tasks * (spec.cpus_per_task or 1)
    if spec.mem_mb is not None:
        mem_mb = spec.mem_mb * nodes
    elif spec.mem_per_cpu_mb is not None:
        mem_mb = spec.mem_per_cpu_mb * cpus
    else:
        # Integer arithmetic rounded up: a share of node memory per CPU, never under it.
        mem_mb = -(-partition.mem_per_node_mb * cpus // partition.cpus_per_node)
    gpus = spec.gres_gpus_per_node * nodes
    seconds = spec.time_limit_s or partition.default_walltime_s
    return Request(cpus=cpus, mem_mb=mem_mb, gpus=gpus, seconds=seconds, tasks=max(1, array_tasks))


def worst_case(spec: JobSpec, partition: Partition, *, array_tasks: int = 1) -> Cost:
    """The hold for ``spec``: requested resources × time limit × weights (× array tasks)."""
    r = requested(spec, partition, array_tasks=array_tasks)
    one = job_cost(
        cpus=r.cpus, mem_mb=r.mem_mb, gpus=r.gpus, seconds=r.seconds, weights=weights_of(partition)
    )
    return Cost(one.core_seconds * r.tasks, one.gpu_seconds * r.tasks)


def actual(usage: JobUsage, weights: Weights) -> Cost:
    """What a job really used: Σ over its runs of allocated CPUs, memory and GPUs × elapsed
    time × weights, rounded up once (``domain.costs.job_cost``'s rule, to the unit).

    A requeued job ran several times and an array job is its tasks: ``usage.runs`` lists each
    run with its own allocation (``slurm.runs``), and every one is billed. A job that ran once
    has no ``runs`` and is the single run itself.
    """
    return Rate.of(weights).cost(runs_of(usage))


def runs_of(usage: JobUsage) -> tuple[JobUsage, ...]:
    """The single runs a usage adds up (itself when it ran once)."""
    return usage.runs or (usage,)


@dataclass(frozen=True)
class Rate:
    """Billing weights as integers over one denominator, so settling 100,000 jobs costs
    integer arithmetic instead of Decimal (the same result as ``job_cost``, tested)."""

    cpu: int  # per CPU-second, × 1024 / denominator
    mem: int  # per MB-second, / denominator (a GB is 1024 MB)
    gpu: int  # per GPU-second, / denominator (core side × 1024)
    denominator: int

    @classmethod
    def of(cls, weights: Weights) -> Rate:
        return _rate(weights)

    def cost(self, runs: Iterable[JobUsage]) -> Cost:
        core = gpu = 0
        for run in runs:
            if min(run.alloc_cpus, run.alloc_mem_mb, run.alloc_gpus, run.elapsed_s) < 0:
                raise InvalidRequest("resources and durations cannot be negative")
            core += (run.alloc_cpus * self.cpu + run.alloc_mem_mb * self.mem) * run.elapsed_s
            gpu += run.alloc_gpus * self.gpu * run.elapsed_s
        return Cost(-(-core // self.denominator), -(-gpu // self.denominator))


@functools.lru_cache(maxsize=64)
def _rate(weights: Weights) -> Rate:
    values = (weights.cpu, weights.mem_per_gb, weights.gpu)
    places = max(_places(w) for w in values)
    # w × 10^places is a whole number for each weight: exact, no rounding anywhere.
    cpu, mem, gpu = (int(w.scaleb(places)) for w in values)
    return Rate(cpu=cpu * 1024, mem=mem, gpu=gpu * 1024, denominator=10**places * 1024)


def _places(weight: Decimal) -> int:
    exponent = weight.as_tuple().exponent
    if not isinstance(exponent, int):
        raise ValueError(f"billing weight {weight} is not a finite number")
    return max(0, -exponent)


def actual_on(profile: ClusterProfile, usage: JobUsage, partition: str | None) -> Cost:
    """``actual`` with the weights of ``partition`` (or the partition sacct reports)."""
    return rate_on(profile, usage, partition).cost(runs_of(usage))


def rate_on(profile: ClusterProfile, usage: JobUsage, partition: str | None) -> Rate:
    """The billing rate of ``partition`` (or of the partition sacct reports).

    A job that ran on a partition the profile does not know is billed at the neutral rule
    (1 per CPU, nothing for memory or GPUs), so it is never free.
    """
    name = partition or usage.partition
    # sacct prints "court,long" for a job submitted to several partitions; the first ran it.
    name = name.split(",", 1)[0] if name else None
    found = profile.partition(name) if name else None
    return Rate.of(weights_of(found) if found is not None else Weights())
