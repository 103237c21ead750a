"""``scontrol show partition|node|licenses -o`` and ``show config``: argv, pure parsers, a reader.

One record per line, ``Key=Value`` words. Values are the administrator's (names, features,
weights), but a few are free text with spaces (``OS=Linux 6.1 #1 SMP``, ``Reason=no slurmd,
placeholder``), so a value runs up to the next `` Key=`` word rather than the next space.
A line without its name key is skipped; a number Slurm cannot have printed is read as 0 and
shows up as a difference, never as a crash. Captured outputs: ``tests/data/slurm/scontrol_*``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from myriagate.domain.cluster_config import ClusterConfig, SlurmNode, SlurmPartition, SlurmSettings
from myriagate.domain.walltime import UNLIMITED, parse_walltime
from myriagate.errors import MyriagateError
from myriagate.ports import CommandRunner
from myriagate.slurm.parse import parse_config
from myriagate.slurm.records import lines

_KEY = re.compile(r"(?:^|\s)([A-Za-z][A-Za-z0-9_/:.]*)=")
_NONE = frozenset({"", "NONE", "(null)", "N/A"})


# --- argv builders ----------------------------------------------------------------------------
def show_partitions() -> tuple[str, ...]:
    return ("scontrol", "--oneliner", "show", "partition")


def show_nodes() -> tuple[str, ...]:
    return ("scontrol", "--oneliner", "show", "node")


def show_licenses() -> tuple[str, ...]:
    return ("scontrol", "--oneliner", "show", "licenses")


def show_config() -> tuple[str, ...]:
    return ("scontrol", "show", "config")


# --- parsers ----------------------------------------------------------------------------------
def key_values(line: str) -> dict[str, str]:
    """``A=1 B=two words C=3`` -> {A: "1", B: "two words", C: "3"}; the first of a key wins."""
    found = list(_KEY.finditer(line))
    out: dict[str, str] = {}
    for i, match in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(line)
        out.setdefault(match.group(1), line[match.end() : end].strip())
    return out


def _records(text: str | bytes, name_key: str) -> Iterator[dict[str, str]]:
    for line in lines(text):
        record = key_values(line)
        if record.get(name_key):
            yield record


def _int(text: str | None) -> int:
    text = (text or "").strip()
    return int(text) if text.isdigit() else 0


def _limit(text: str | None) -> int | None:
    """A count that may be UNLIMITED (None)."""
    text = (text or "").strip()
    return None if text in UNLIMITED or text in _NONE else _int(text)


def _time(text: str | None) -> int | None:
    """Seconds of a Slurm time, None for UNLIMITED / NONE."""
    text = (text or "").strip()
    if text in UNLIMITED or text in _NONE:
        return None
    try:
        return parse_walltime(text)
    except MyriagateError:
        return 0


def _names(text: str | None) -> tuple[str, ...]:
    text = (text or "").strip()
    return () if text in _NONE else tuple(n for n in text.split(",") if n)


def parse_gres(text: str | None) -> tuple[tuple[str, int], ...]:
    """GPUs of ``Gres=``: ``gpu:a100:6(S:0-1),gpu:a100_1g.10gb:14`` -> ((a100, 6), (a100_1g.10gb, 14));
    an untyped ``gpu:2`` gives ("", 2); other GRES are left out."""
    out: dict[str, int] = {}
    for item in _names(text):
        parts = item.split("(", 1)[0].split(":")
        if parts[0] != "gpu" or len(parts) < 2:
            continue
        count_text = parts[-1]
        kind = ":".join(parts[1:-1]) if len(parts) > 2 else ""
        if not count_text.isdigit():  # gpu:a100 (count 1 is written out by scontrol; be lenient)
            kind, count_text = ":".join(parts[1:]), "1"
        out[kind] = out.get(kind, 0) + int(count_text)
    return tuple(out.items())


def parse_partitions(text: str | bytes) -> list[SlurmPartition]:
    out: list[SlurmPartition] = []
    for r in _records(text, "PartitionName"):
        allow = r.get("AllowQos", "ALL")
        out.append(
            SlurmPartition(
                name=r["PartitionName"],
                max_time_s=_time(r.get("MaxTime")),
                default_time_s=_time(r.get("DefaultTime")),
                max_nodes=_limit(r.get("MaxNodes")),
                total_nodes=_int(r.get("TotalNodes")),
                nodes="" if r.get("Nodes", "") in _NONE else r["Nodes"],
                allow_qos=None if allow.upper() == "ALL" else _names(allow),
                billing_weights="" if r.get("TRESBillingWeights", "") in _NONE else r["TRESBillingWeights"],
                default=r.get("Default") == "YES",
                state=r.get("State", ""),
                def_mem_per_cpu_mb=_limit(r["DefMemPerCPU"]) if "DefMemPerCPU" in r else None,
            )
        )
    return out


def parse_nodes(text: str | bytes) -> list[SlurmNode]:
    out: list[SlurmNode] = []
    for r in _records(text, "NodeName"):
        out.append(
            SlurmNode(
                name=r["NodeName"],
                cpus=_int(r.get("CPUTot")),
                real_memory_mb=_int(r.get("RealMemory")),
                sockets=_int(r.get("Sockets")),
                cores_per_socket=_int(r.get("CoresPerSocket")),
                threads_per_core=_int(r.get("ThreadsPerCore")),
                tmp_disk_mb=_int(r.get("TmpDisk")),
                features=_names(r.get("AvailableFeatures")),
                gpus=parse_gres(r.get("Gres")),
                state=r.get("State", ""),
            )
        )
    return out


def parse_settings(text: str | bytes) -> SlurmSettings:
    """``PriorityFlags`` and ``DefMemPerCPU`` of ``scontrol show config`` (``Key = value`` lines)."""
    found = parse_config(text)
    return SlurmSettings(
        priority_flags=_names(found.get("PriorityFlags")),
        def_mem_per_cpu_mb=_limit(found["DefMemPerCPU"]) if "DefMemPerCPU" in found else None,
    )


def parse_licenses(text: str | bytes) -> list[tuple[str, int]]:
    """``LicenseName=matlab Total=4 …`` lines -> [(matlab, 4)]."""
    return [(r["LicenseName"], _int(r.get("Total"))) for r in _records(text, "LicenseName")]


# --- reader -----------------------------------------------------------------------------------
class ScontrolClusterConfig:
    """Reads a cluster's partitions, nodes, licenses and settings: four read-only scontrol calls."""

    def __init__(self, runner: CommandRunner, *, timeout_s: float = 60.0) -> None:
        self._runner = runner
        self._timeout_s = timeout_s

    def read(self) -> ClusterConfig:
        def run(argv: tuple[str, ...]) -> str | bytes:
            return self._runner.run(argv, timeout=self._timeout_s).stdout

        return ClusterConfig(
            partitions=tuple(parse_partitions(run(show_partitions()))),
            nodes=tuple(parse_nodes(run(show_nodes()))),
            licenses=tuple(parse_licenses(run(show_licenses()))),
            settings=parse_settings(run(show_config())),
        )


__all__ = [
    "ScontrolClusterConfig",
    "key_values",
    "parse_gres",
    "parse_licenses",
    "parse_nodes",
    "parse_partitions",
    "parse_settings",
    "show_config",
    "show_licenses",
    "show_nodes",
    "show_partitions",
]
