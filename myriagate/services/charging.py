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

from dataclasses import dataclass

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
    gpus = spec.gpus_per_node * nodes
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
    """What a job really used: allocated CPUs, memory and GPUs × elapsed time × weights.

    For an array job the backend reports the tasks' summed elapsed time with one task's
    allocation (``slurm.arrays.aggregate_usage``), which is the sum of the tasks' costs up
    to the rounding of one fraction.
    """
    return job_cost(
        cpus=usage.alloc_cpus,
        mem_mb=usage.alloc_mem_mb,
        gpus=usage.alloc_gpus,
        seconds=usage.elapsed_s,
        weights=weights,
    )


def actual_on(profile: ClusterProfile, usage: JobUsage, partition: str | None) -> Cost:
    """``actual`` with the weights of ``partition`` (or the partition sacct reports).

    A job that ran on a partition the profile does not know is billed at the neutral rule
    (1 per CPU, nothing for memory or GPUs), so it is never free.
    """
    name = partition or usage.partition
    # sacct prints "court,long" for a job submitted to several partitions; the first ran it.
    name = name.split(",", 1)[0] if name else None
    found = profile.partition(name) if name else None
    return actual(usage, weights_of(found) if found is not None else Weights())
