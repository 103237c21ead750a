"""What Slurm would allocate for a job request: its TRES totals, for the hold (pure).

``requested`` follows what Slurm 22.05 shows for each option on the dev cluster
(``scontrol show job``: ``TRES=`` while pending, AllocTRES once running; measured in
tests/integration/test_billing_real.py and recorded in docs/allocations.md). With
``pending``, it gives what Slurm counts while the job waits instead (ReqTRES): the CPUs
asked, not yet the whole nodes of ``--exclusive`` nor the ``--cpus-per-gpu`` CPUs.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from myriagate.domain.billing import Tres
from myriagate.domain.jobs import JobSpec
from myriagate.profiles.models import Partition


@dataclass(frozen=True)
class Request:
    """The resources of one job (or one array task) as Slurm would allocate them."""

    tres: Tres
    seconds: int
    tasks: int = 1  # array tasks

    @property
    def cpus(self) -> int:
        return self.tres.cpus

    @property
    def mem_mb(self) -> int:
        return self.tres.mem_mb

    @property
    def gpus(self) -> int:
        return self.tres.gpus

    @property
    def nodes(self) -> int:
        return self.tres.nodes


@dataclass(frozen=True)
class _Gpus:
    """The GPU options of a request: the type named (if any) and each count as written."""

    type: str | None = None
    per_node: int = 0  # --gres=gpu:N and --gpus-per-node
    per_task: int = 0
    per_job: int = 0

    @classmethod
    def of(cls, spec: JobSpec) -> _Gpus:
        named: list[str] = [g.type for g in spec.gres if g.name == "gpu" and g.type]
        counts: list[int] = []
        for text in (spec.gpus_per_node, spec.gpus_per_task, spec.gpus):
            kind, _, count = (text or "0").rpartition(":")
            named += [kind] if kind else []
            counts.append(int(count))
        return cls(
            type=named[0] if named else None,
            per_node=max(spec.gres_gpus_per_node, counts[0]),
            per_task=counts[1],
            per_job=counts[2],
        )

    def total(self, nodes: int, tasks: int) -> int:
        return max(self.per_node * nodes, self.per_task * tasks, self.per_job)


def requested(
    spec: JobSpec,
    partition: Partition,
    *,
    def_mem_per_cpu_mb: int | None = None,
    array_tasks: int = 1,
    pending: bool = False,
) -> Request:
    """What Slurm would allocate for ``spec`` on ``partition`` (see services.allocations.charging)."""
    gpus = _Gpus.of(spec)
    tasks, nodes = _tasks_and_nodes(spec)
    cpus = tasks * _cpus_per_task(spec, partition)
    if not pending:
        total_gpus = gpus.total(nodes, tasks)
        if spec.cpus_per_gpu is not None:
            cpus = max(cpus, total_gpus * spec.cpus_per_gpu)
        nodes = max(
            nodes,
            ceil(cpus / partition.cpus_per_node),
            ceil(total_gpus / partition.gpus_per_node) if partition.gpus_per_node else 1,
        )
    total_gpus = gpus.total(nodes, tasks)
    if spec.exclusive == "node" and not pending:
        # Whole nodes: every CPU, and every GPU (Slurm gives an exclusive job the node's GRES).
        cpus = partition.cpus_per_node * nodes
        total_gpus = max(total_gpus, partition.gpus_per_node * nodes)
    mem_mb = _memory(spec, partition, cpus=cpus, nodes=nodes, gpus=total_gpus, default=def_mem_per_cpu_mb)
    gpu_type = gpus.type or partition.gpu_type
    # Slurm counts a typed TRES for a typed request; once running, for the type it got.
    typed = gpu_type is not None and total_gpus > 0 and (gpus.type is not None or not pending)
    return Request(
        tres=Tres(
            cpus=cpus,
            mem_mb=mem_mb,
            nodes=nodes,
            gpus=total_gpus,
            typed_gpus=((gpu_type, total_gpus),) if typed and gpu_type else (),
        ),
        seconds=spec.time_limit_s or partition.default_walltime_s,
        tasks=max(1, array_tasks),
    )


def _tasks_and_nodes(spec: JobSpec) -> tuple[int, int]:
    """Tasks (``--ntasks``, else ``--ntasks-per-node`` × nodes, else one per node) and the
    nodes they need at the least (``--ntasks-per-node`` is a maximum with ``--ntasks``)."""
    nodes = spec.nodes or 1
    if spec.ntasks is not None:
        if spec.ntasks_per_node is not None:
            nodes = max(nodes, ceil(spec.ntasks / spec.ntasks_per_node))
        return max(spec.ntasks, nodes), nodes
    if spec.ntasks_per_node is not None:
        return spec.ntasks_per_node * nodes, nodes
    return nodes, nodes


def _cpus_per_task(spec: JobSpec, partition: Partition) -> int:
    """``--cpus-per-task``, in whole cores on nodes with several threads per core: Slurm gives
    a job whole cores, and ``--hint=nomultithread`` / ``--threads-per-core=1`` one core per
    CPU asked (not measured here: the dev cluster has one thread per core)."""
    cpt = spec.cpus_per_task or 1
    threads = partition.threads_per_core or 1
    if threads == 1:
        return cpt
    if spec.hint == "nomultithread" or spec.threads_per_core == 1:
        return cpt * threads
    return ceil(cpt / threads) * threads


def _memory(
    spec: JobSpec, partition: Partition, *, cpus: int, nodes: int, gpus: int, default: int | None
) -> int:
    """Memory in MB for the whole job: ``--mem`` per node, ``--mem-per-cpu`` per CPU,
    ``--mem-per-gpu`` per GPU; else ``DefMemPerCPU`` per CPU; else a CPU's share of a node."""
    if spec.mem_mb is not None:
        return spec.mem_mb * nodes
    if spec.mem_per_cpu_mb is not None:
        return spec.mem_per_cpu_mb * cpus
    if spec.mem_per_gpu_mb is not None and gpus:
        return spec.mem_per_gpu_mb * gpus
    if default is not None:
        return default * cpus
    # Integer arithmetic rounded up: a share of node memory per CPU, never under it.
    return -(-partition.mem_per_node_mb * cpus // partition.cpus_per_node)
