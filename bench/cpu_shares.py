"""Where a benchmark's CPU goes, by process group, read from /proc (Linux).

On the 2-core development machine every process of a submission competes for the same
cores (the gateway, the benchmark's own clients, PostgreSQL, sshd and the sbatch it runs,
slurmctld), so a throughput ratio is mostly a ratio of CPU per operation. ``CpuShares``
snapshots the CPU time of each group before and after a phase; ``per_op`` gives
milliseconds of CPU per operation, and ``machine`` the whole machine's (other people's work
included), from /proc/stat.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
# Processes named so belong to these groups; sshd's own time includes the sbatch it reaps.
_BY_NAME = {
    "postgres": "postgres",
    "sshd": "ssh_sbatch",
    "slurmctld": "slurmctld",
    "slurmscriptd": "slurmctld",
}


@dataclass(frozen=True)
class _Proc:
    ppid: int
    name: str
    own: float  # user + system seconds
    children: float  # reaped children's user + system seconds


def _procs() -> dict[int, _Proc]:
    found: dict[int, _Proc] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        f = raw[raw.rindex(")") + 2 :].split()
        found[int(entry.name)] = _Proc(int(f[1]), name, (int(f[11]) + int(f[12])) / _TICK,
                                       (int(f[13]) + int(f[14])) / _TICK)  # fmt: skip
    return found


def _machine_busy_s() -> float:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / _TICK  # all but idle and iowait


class CpuShares:
    """CPU seconds by group: ``gateway`` (``server_pid`` and its descendants), ``bench`` (this
    process), ``postgres``, ``ssh_sbatch``, ``slurmctld``, ``machine``."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid

    def snapshot(self) -> dict[str, float]:
        procs = _procs()
        totals = dict.fromkeys(("gateway", "bench", "postgres", "ssh_sbatch", "slurmctld"), 0.0)
        for pid, proc in procs.items():
            group = self._group(pid, procs)
            if group is not None:
                totals[group] += proc.own + (proc.children if group == "ssh_sbatch" else 0.0)
        totals["machine"] = _machine_busy_s()
        return totals

    def _group(self, pid: int, procs: dict[int, _Proc]) -> str | None:
        if pid == os.getpid():
            return "bench"
        ancestor = pid
        while ancestor > 1 and ancestor in procs:
            if ancestor == self.server_pid:
                return "gateway"
            ancestor = procs[ancestor].ppid
        return _BY_NAME.get(procs[pid].name)


def per_op(before: dict[str, float], after: dict[str, float], ops: int) -> dict[str, float]:
    """Milliseconds of CPU per operation by group, between two snapshots."""
    return {group: round(1000 * (after[group] - before[group]) / ops, 2) for group in after}
