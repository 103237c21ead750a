"""What a Slurm cluster says about its partitions, nodes and licenses (``scontrol show … -o``).

Plain records, read by ``slurm.scontrol`` and compared with a cluster profile by
``profiles.drift``: the values are Slurm's, already typed (seconds, MB, counts), with ``None``
where Slurm says UNLIMITED, NONE or (null).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SlurmPartition:
    """One line of ``scontrol show partition -o``."""

    name: str
    max_time_s: int | None  # None: UNLIMITED
    default_time_s: int | None  # None: NONE (Slurm then gives MaxTime)
    max_nodes: int | None  # None: UNLIMITED
    total_nodes: int
    nodes: str  # Slurm hostlist, "" when the partition has none
    allow_qos: tuple[str, ...] | None  # None: ALL
    billing_weights: str  # TRESBillingWeights as written, "" when unset
    default: bool = False
    state: str = "UP"
    def_mem_per_cpu_mb: int | None = None  # the partition's own DefMemPerCPU, if any

    @property
    def effective_default_time_s(self) -> int | None:
        """The time limit of a job that asks for none: DefaultTime, else MaxTime."""
        return self.default_time_s if self.default_time_s is not None else self.max_time_s

    @property
    def effective_max_nodes(self) -> int:
        """The most nodes one job can get: MaxNodes, bounded by the partition's own nodes."""
        return self.total_nodes if self.max_nodes is None else min(self.max_nodes, self.total_nodes)


@dataclass(frozen=True)
class SlurmNode:
    """One line of ``scontrol show node -o``."""

    name: str
    cpus: int
    real_memory_mb: int
    sockets: int
    cores_per_socket: int
    threads_per_core: int
    tmp_disk_mb: int
    features: tuple[str, ...] = ()
    # GPUs by GRES type ("" for untyped ones): Gres=gpu:a100:6,gpu:a100_1g.10gb:14
    gpus: tuple[tuple[str, int], ...] = ()
    state: str = ""

    @property
    def gpu_count(self) -> int:
        return sum(count for _, count in self.gpus)

    @property
    def gpu_types(self) -> tuple[str, ...]:
        return tuple(t for t, _ in self.gpus if t)


@dataclass(frozen=True)
class SlurmSettings:
    """The slurm.conf values of ``scontrol show config`` that change what a job costs."""

    priority_flags: tuple[str, ...] = ()  # MAX_TRES, …
    def_mem_per_cpu_mb: int | None = None  # DefMemPerCPU; None when unset


@dataclass(frozen=True)
class ClusterConfig:
    """Everything ``profiles.drift`` compares: partitions, nodes and licenses, by name."""

    partitions: tuple[SlurmPartition, ...] = ()
    nodes: tuple[SlurmNode, ...] = ()
    licenses: tuple[tuple[str, int], ...] = field(default=())
    settings: SlurmSettings | None = None  # None when scontrol show config was not read

    def partition(self, name: str) -> SlurmPartition | None:
        return next((p for p in self.partitions if p.name == name), None)

    def node(self, name: str) -> SlurmNode | None:
        return next((n for n in self.nodes if n.name == name), None)


__all__ = ["ClusterConfig", "SlurmNode", "SlurmPartition", "SlurmSettings"]
