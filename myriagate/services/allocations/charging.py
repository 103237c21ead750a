"""What a job costs: its worst case when submitted (the hold) and what it used (the charge).

Both are Slurm's billing TRES × seconds in core-seconds and GPUs × seconds in GPU-seconds
(``domain.costs``), with the partition's ``TRESBillingWeights`` and the cluster's billing
rule from the profile (``Pricing``). Nothing here touches the database or Slurm: the
inputs are a validated ``JobSpec`` or a ``JobUsage`` from sacct.

**The hold** prices what Slurm would allocate for the request (``requested``, measured
against ``scontrol show job`` on the dev cluster, tests/integration/test_billing_real.py):

- Tasks: ``--ntasks`` is the whole job's count; else ``--ntasks-per-node`` × nodes; else one
  per node. Nodes: ``--nodes``, or as many as the tasks, CPUs or GPUs need at the least.
- CPUs: tasks × ``--cpus-per-task``; with ``--cpus-per-gpu``, at least GPUs × that; with
  ``--exclusive`` every CPU of the nodes. On nodes with several threads per core,
  ``--threads-per-core=1`` / ``--hint=nomultithread`` take a whole core per CPU asked.
- GPUs: the most of ``--gres=gpu`` and ``--gpus-per-node`` (× nodes), ``--gpus-per-task``
  (× tasks) and ``--gpus`` (the whole job); ``--exclusive`` takes every GPU of the nodes.
- Memory: ``--mem`` × nodes, ``--mem-per-cpu`` × CPUs, or ``--mem-per-gpu`` × GPUs; else
  Slurm's ``DefMemPerCPU`` × CPUs (profile ``def_mem_per_cpu_mb``), or, unknown, a CPU's share
  of the node's memory.
- Time: the time limit (``check_job`` fills in the partition's default). Arrays: one task's
  worst case × the number of tasks (each may run at once and each is billed).

**The charge** is, run by run (every run of a requeued job, every array task), sacct's
``billing`` TRES × elapsed seconds and the run's GPUs × elapsed seconds. A record without a
``billing`` TRES (older accounting) is priced from its cpu, mem, node and gres counts with
the same rule, and the ledger entry says so (``Charge.reason``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field

from myriagate.domain.billing import BillingRule, Tres, Weights, billing
from myriagate.domain.costs import Cost, cost_of
from myriagate.domain.jobs import JobSpec, JobUsage
from myriagate.errors import InvalidRequest
from myriagate.profiles.models import ClusterProfile, Partition
from myriagate.services.allocations.shapes import Request, requested

__all__ = [
    "Charge",
    "Pricing",
    "Request",
    "actual",
    "actual_on",
    "charge_of",
    "charge_on",
    "gateway_billing_rate",
    "partition_of",
    "pricing_of",
    "pricing_on",
    "requested",
    "runs_of",
    "worst_case",
]


@dataclass(frozen=True)
class Pricing:
    """What a cost needs of a partition and its cluster: the weights, the rule, the default
    memory per CPU (``DefMemPerCPU``) and, for holds, the partition itself."""

    weights: Weights = field(default_factory=Weights)
    rule: BillingRule = BillingRule.SUM
    partition: Partition | None = None
    def_mem_per_cpu_mb: int | None = None

    def billing(self, tres: Tres) -> int:
        """The billing TRES Slurm gives a job holding ``tres`` here."""
        return billing(tres, self.weights, self.rule)


def partition_of(profile: ClusterProfile, name: str | None) -> Partition:
    """The named partition (or the default one); InvalidRequest when the profile has neither."""
    found = profile.partition(name) if name else profile.default_partition
    if found is None:
        raise InvalidRequest(
            f"partition {name!r} is not in the profile of {profile.name}: its cost is unknown"
        )
    return found


@functools.lru_cache(maxsize=256)
def _pricing(profile: ClusterProfile, partition: Partition | None) -> Pricing:
    if partition is None:
        # A partition the profile does not know: its CPUs, as Slurm bills a partition without
        # TRESBillingWeights, so it is never free.
        return Pricing(rule=profile.slurm.billing_rule)
    return Pricing(
        weights=partition.billing_weights.as_weights(),
        rule=profile.slurm.billing_rule,
        partition=partition,
        def_mem_per_cpu_mb=partition.def_mem_per_cpu_mb or profile.slurm.def_mem_per_cpu_mb,
    )


def pricing_of(profile: ClusterProfile, name: str | None) -> Pricing:
    """The pricing of the named (or default) partition; InvalidRequest when it is unknown."""
    return _pricing(profile, partition_of(profile, name))


def pricing_on(profile: ClusterProfile, usage: JobUsage, partition: str | None) -> Pricing:
    """The pricing of ``partition`` (or of the partition sacct reports); an unknown one bills
    CPUs (``Pricing()``'s weights)."""
    name = partition or usage.partition
    # sacct prints "court,long" for a job submitted to several partitions; the first ran it.
    name = name.split(",", 1)[0] if name else None
    return _pricing(profile, profile.partition(name) if name else None)


def worst_case(spec: JobSpec, pricing: Pricing, *, array_tasks: int = 1) -> Cost:
    """The hold for ``spec``: the billing of what Slurm would allocate × time limit, its GPUs
    × time limit, × array tasks."""
    r = _request(spec, pricing, array_tasks=array_tasks)
    one = cost_of(pricing.billing(r.tres), r.tres.gpus, r.seconds)
    return Cost(one.core_seconds * r.tasks, one.gpu_seconds * r.tasks)


def _request(spec: JobSpec, pricing: Pricing, *, array_tasks: int = 1, pending: bool = False) -> Request:
    if pricing.partition is None:
        raise InvalidRequest("the job's partition is not in the cluster profile: its cost is unknown")
    return requested(
        spec,
        pricing.partition,
        def_mem_per_cpu_mb=pricing.def_mem_per_cpu_mb,
        array_tasks=array_tasks,
        pending=pending,
    )


def gateway_billing_rate(spec: JobSpec, profile: ClusterProfile, *, pending: bool = False) -> int:
    """The billing TRES per second Slurm gives ``spec`` (one array task), as the hold prices it.

    It is what ``scontrol show job`` shows as ``billing=`` once the job runs (AllocTRES). With
    ``pending``, what it shows while the job waits (ReqTRES): Slurm counts only the CPUs asked
    there, not the whole nodes of ``--exclusive`` nor the ``--cpus-per-gpu`` CPUs.
    """
    pricing = pricing_of(profile, spec.partition)
    return pricing.billing(_request(spec, pricing, pending=pending).tres)


@dataclass(frozen=True)
class Charge:
    """What a finished job is charged, and how: how many of its runs had no billing TRES in
    sacct and were priced from their cpu, mem and gres counts instead."""

    cost: Cost
    runs: int = 1
    computed_runs: int = 0

    @property
    def reason(self) -> str:
        """The ledger entry's reason: where the billing came from."""
        if not self.computed_runs:
            return "used (billing from sacct)"
        if self.computed_runs == self.runs:
            return "used (billing computed from cpu, mem and gres: none in sacct)"
        computed = f"{self.computed_runs} of {self.runs} runs"
        return f"used (billing from sacct; {computed} computed from cpu, mem and gres)"


def runs_of(usage: JobUsage) -> tuple[JobUsage, ...]:
    """The single runs a usage adds up (itself when it ran once)."""
    return usage.runs or (usage,)


def charge_of(usage: JobUsage, pricing: Pricing) -> Charge:
    """Σ over the job's runs of billing × elapsed seconds and GPUs × elapsed seconds.

    A requeued job ran several times and an array job is its tasks: ``usage.runs`` lists each
    run with its own allocation (``slurm.runs``), and every one is billed.
    """
    return _charge(runs_of(usage), pricing)


def _charge(runs: Iterable[JobUsage], pricing: Pricing) -> Charge:
    core = gpu = count = computed = 0
    for run in runs:
        if min(run.alloc_cpus, run.alloc_mem_mb, run.alloc_gpus, run.elapsed_s) < 0:
            raise InvalidRequest("resources and durations cannot be negative")
        count += 1
        rate = run.tres_alloc.get("billing")
        if rate is None:
            computed += 1
            rate = pricing.billing(tres_of(run))
        core += rate * run.elapsed_s
        gpu += run.alloc_gpus * run.elapsed_s
    return Charge(Cost(core, gpu), runs=count, computed_runs=computed)


def tres_of(run: JobUsage) -> Tres:
    """A run's allocated TRES as sacct reports them (typed GPUs from ``gres/gpu:<type>``)."""
    typed = tuple(
        (key.split(":", 1)[1], n) for key, n in sorted(run.tres_alloc.items()) if key.startswith("gres/gpu:")
    )
    return Tres(
        cpus=run.alloc_cpus,
        mem_mb=run.alloc_mem_mb,
        nodes=run.alloc_nodes,
        gpus=run.alloc_gpus,
        typed_gpus=typed,
    )


def actual(usage: JobUsage, pricing: Pricing) -> Cost:
    """``charge_of``'s cost."""
    return charge_of(usage, pricing).cost


def charge_on(profile: ClusterProfile, usage: JobUsage, partition: str | None) -> Charge:
    """``charge_of`` with the pricing of ``partition`` (or of the partition sacct reports)."""
    return charge_of(usage, pricing_on(profile, usage, partition))


def actual_on(profile: ClusterProfile, usage: JobUsage, partition: str | None) -> Cost:
    """``charge_on``'s cost."""
    return charge_on(profile, usage, partition).cost
