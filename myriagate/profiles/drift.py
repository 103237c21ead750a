"""Where a cluster profile and the cluster itself disagree (``admin slurm-sync --dry-run``).

The gateway checks and prices jobs with the profile; Slurm runs them with its own
configuration. Every difference below is a job the gateway would refuse although Slurm would
run it, or accept although Slurm refuses it, or price differently from Slurm's ``billing``:
time limits, node counts, node shape, features, QOS allow-lists, GPUs, billing weights and
rule, default memory per CPU, licenses and partitions on one side only. What the profile
deliberately does not offer (no ``features``, no ``qos``, GPUs on a partition with
``gpus_per_node = 0``, no licenses) is not a difference: the gateway simply does not offer it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from myriagate.domain import hostlists
from myriagate.domain.billing import BillingRule, Weights, parse_weights
from myriagate.domain.cluster_config import ClusterConfig, SlurmNode, SlurmPartition, SlurmSettings
from myriagate.domain.walltime import format_walltime
from myriagate.errors import MyriagateError
from myriagate.profiles.models import ClusterProfile, Partition

ABSENT = "(absent)"


@dataclass(frozen=True)
class Mismatch:
    """One difference: which partition (None: the whole cluster), which profile key, both
    values as an administrator would write them, and why it matters."""

    partition: str | None
    key: str
    profile: str
    slurm: str
    note: str = ""

    def as_dict(self) -> dict[str, str | None]:
        return {
            "partition": self.partition,
            "key": self.key,
            "profile": self.profile,
            "slurm": self.slurm,
            "note": self.note,
        }


def compare(profile: ClusterProfile, config: ClusterConfig) -> list[Mismatch]:
    """Every difference between ``profile`` and what ``config`` (scontrol) says, in profile order."""
    out: list[Mismatch] = []
    for partition in profile.partitions:
        found = config.partition(partition.name)
        if found is None:
            out.append(
                Mismatch(partition.name, "name", partition.name, ABSENT, "Slurm refuses jobs sent there")
            )
            continue
        out += _limits(partition, found)
        out += _nodes(partition, found, config)
        out += _qos(partition, found)
        out += _billing(partition, found)
        out += _memory(profile, partition, found, config)
    named = set(profile.partition_names)
    for extra in config.partitions:
        if extra.name not in named:
            out.append(Mismatch(extra.name, "name", ABSENT, extra.name, "not offered by the gateway"))
    out += _cluster(profile, config)
    return out


def _time(seconds: int | None) -> str:
    return "UNLIMITED" if seconds is None else format_walltime(seconds)


def _limits(p: Partition, s: SlurmPartition) -> list[Mismatch]:
    out: list[Mismatch] = []
    if p.max_walltime_s != s.max_time_s:
        out.append(Mismatch(p.name, "max_walltime", _time(p.max_walltime_s), _time(s.max_time_s), "MaxTime"))
    if p.default_walltime_s != s.effective_default_time_s:
        out.append(
            Mismatch(
                p.name,
                "default_walltime",
                _time(p.default_walltime_s),
                _time(s.effective_default_time_s),
                "DefaultTime (MaxTime when unset): the time limit of a job that asks for none",
            )
        )
    if p.max_nodes != s.effective_max_nodes:
        out.append(
            Mismatch(
                p.name,
                "max_nodes",
                str(p.max_nodes),
                str(s.effective_max_nodes),
                "MaxNodes, at most the partition's own nodes",
            )
        )
    return out


def _nodes(p: Partition, s: SlurmPartition, config: ClusterConfig) -> list[Mismatch]:
    names = hostlists.expand(s.nodes, "Nodes") if s.nodes else ()
    out: list[Mismatch] = []
    if p.nodes is not None and set(p.node_names) != set(names):
        out.append(Mismatch(p.name, "nodes", p.nodes, s.nodes or ABSENT, "Nodes"))
    nodes = [n for n in (config.node(name) for name in names) if n is not None]
    if not nodes:
        if names:
            note = "scontrol show node lists none of them (FUTURE nodes?): their shape is unchecked"
            out.append(Mismatch(p.name, "nodes", p.nodes or ABSENT, s.nodes, note))
        return out
    out += _shape(p, nodes)
    out += _features(p, nodes)
    out += _gpus(p, nodes)
    return out


def _smallest(p: Partition, key: str, wanted: int | None, have: Iterable[int], what: str) -> list[Mismatch]:
    """``wanted`` against the smallest node's value (a job must fit on any node it gets)."""
    least = min(have)
    if wanted is None or wanted == least:
        return []
    return [Mismatch(p.name, key, str(wanted), str(least), f"{what} of the partition's smallest node")]


def _shape(p: Partition, nodes: list[SlurmNode]) -> list[Mismatch]:
    return [
        *_smallest(p, "cpus_per_node", p.cpus_per_node, (n.cpus for n in nodes), "CPUTot"),
        *_smallest(p, "mem_per_node_mb", p.mem_per_node_mb, (n.real_memory_mb for n in nodes), "RealMemory"),
        *_smallest(p, "sockets_per_node", p.sockets_per_node, (n.sockets for n in nodes), "Sockets"),
        *_smallest(
            p, "cores_per_socket", p.cores_per_socket, (n.cores_per_socket for n in nodes), "CoresPerSocket"
        ),
        *_smallest(
            p, "threads_per_core", p.threads_per_core, (n.threads_per_core for n in nodes), "ThreadsPerCore"
        ),
        *_smallest(p, "tmp_per_node_mb", p.tmp_per_node_mb, (n.tmp_disk_mb for n in nodes), "TmpDisk"),
    ]


def _features(p: Partition, nodes: list[SlurmNode]) -> list[Mismatch]:
    if not p.features:
        return []  # --constraint is not offered here
    have = sorted({f for n in nodes for f in n.features})
    if set(p.features) == set(have):
        return []
    missing = sorted(set(p.features) - set(have))
    note = (
        f"no node has {', '.join(missing)}: --constraint on it is refused" if missing else "AvailableFeatures"
    )
    return [Mismatch(p.name, "features", ",".join(sorted(p.features)), ",".join(have) or ABSENT, note)]


def _gpus(p: Partition, nodes: list[SlurmNode]) -> list[Mismatch]:
    if p.gpus_per_node == 0:
        return []  # GPUs are not offered here, whatever the nodes have
    out: list[Mismatch] = []
    least = min(n.gpu_count for n in nodes)
    if least != p.gpus_per_node:
        out.append(
            Mismatch(
                p.name, "gpus_per_node", str(p.gpus_per_node), str(least), "GPUs (Gres) of the smallest node"
            )
        )
    have = {t for n in nodes for t in n.gpu_types}
    missing = [t for t in p.offered_gpu_types if t not in have]
    if missing:
        key = "gpu_types" if p.gpu_types else "gpu_type"
        out.append(
            Mismatch(
                p.name, key, ",".join(p.offered_gpu_types), ",".join(sorted(have)) or ABSENT, "GRES types"
            )
        )
    return out


def _qos(p: Partition, s: SlurmPartition) -> list[Mismatch]:
    if not p.qos or s.allow_qos is None:
        return []  # --qos not offered here, or Slurm allows every QOS on the partition
    if set(p.qos) == set(s.allow_qos):
        return []
    refused = sorted(set(p.qos) - set(s.allow_qos))
    note = f"Slurm refuses {', '.join(refused)} here" if refused else "AllowQos"
    return [Mismatch(p.name, "qos", ",".join(sorted(p.qos)), ",".join(sorted(s.allow_qos)), note)]


def _weights_text(w: Weights) -> str:
    """Weights as slurm.conf writes them (``CPU=1.0,Mem=0.25G,GRES/gpu=4.0``), zeros left out."""
    items = [("CPU", w.cpu, ""), ("Mem", w.mem_per_gb, "G"), ("Node", w.node, ""), ("GRES/gpu", w.gpu, "")]
    items += [(f"GRES/gpu:{name}", weight, "") for name, weight in w.gpu_types]
    return (
        ",".join(f"{name}={weight.normalize():f}{unit}" for name, weight, unit in items if weight) or "(none)"
    )


def _billing(p: Partition, s: SlurmPartition) -> list[Mismatch]:
    mine = p.billing_weights.as_weights()
    try:
        theirs = parse_weights(s.billing_weights)
    except MyriagateError as exc:
        return [Mismatch(p.name, "billing_weights", _weights_text(mine), s.billing_weights, exc.detail)]
    if mine == theirs:
        return []
    note = "TRESBillingWeights: the gateway's costs would not match Slurm's billing"
    return [Mismatch(p.name, "billing_weights", _weights_text(mine), s.billing_weights or "(none)", note)]


def _slurm_rule(flags: tuple[str, ...]) -> BillingRule:
    if "MAX_TRES_GRES" in flags:
        return BillingRule.MAX_TRES_GRES
    return BillingRule.MAX_TRES if "MAX_TRES" in flags else BillingRule.SUM


def _mb(value: int | None) -> str:
    return ABSENT if value is None else str(value)


def _settings(profile: ClusterProfile, settings: SlurmSettings | None) -> list[Mismatch]:
    """The slurm.conf values that change a job's cost: PriorityFlags and DefMemPerCPU."""
    if settings is None:
        return []
    out: list[Mismatch] = []
    rule = _slurm_rule(settings.priority_flags)
    if profile.slurm.billing_rule != rule:
        note = "PriorityFlags: how the weighted resources add up to billing"
        out.append(Mismatch(None, "slurm.billing_rule", profile.slurm.billing_rule.value, rule.value, note))
    mine, theirs = profile.slurm.def_mem_per_cpu_mb, settings.def_mem_per_cpu_mb
    if mine != theirs:
        note = "DefMemPerCPU: the memory (so the cost) of a job that asks for none"
        out.append(Mismatch(None, "slurm.def_mem_per_cpu_mb", _mb(mine), _mb(theirs), note))
    return out


def _memory(
    profile: ClusterProfile, p: Partition, s: SlurmPartition, config: ClusterConfig
) -> list[Mismatch]:
    """A partition's own DefMemPerCPU, when either side sets one (else the cluster's counts)."""
    if config.settings is None or (p.def_mem_per_cpu_mb is None and s.def_mem_per_cpu_mb is None):
        return []
    mine = p.def_mem_per_cpu_mb or profile.slurm.def_mem_per_cpu_mb
    theirs = s.def_mem_per_cpu_mb or config.settings.def_mem_per_cpu_mb
    if mine == theirs:
        return []
    note = "the partition's DefMemPerCPU: the memory (so the cost) of a job that asks for none"
    return [Mismatch(p.name, "def_mem_per_cpu_mb", _mb(mine), _mb(theirs), note)]


def _cluster(profile: ClusterProfile, config: ClusterConfig) -> list[Mismatch]:
    out = _settings(profile, config.settings)
    default = profile.default_partition
    slurm_default = next((s.name for s in config.partitions if s.default), None)
    if default is not None and slurm_default is not None and default.name != slurm_default:
        note = "a job that names no partition: the gateway sends its own default"
        out.append(Mismatch(None, "slurm.default_partition", default.name, slurm_default, note))
    have = dict(config.licenses)
    if profile.licenses and have != profile.licenses:
        mine, theirs = _licenses_text(profile.licenses), _licenses_text(have)
        out.append(Mismatch(None, "slurm.licenses", mine, theirs, "Licenses"))
    return out


def _licenses_text(licenses: dict[str, int]) -> str:
    return ",".join(f"{name}:{count}" for name, count in sorted(licenses.items())) or ABSENT


__all__ = ["ABSENT", "Mismatch", "compare"]
