"""sbatch's long option names and how its getopt resolves what a script writes.

``SBATCH_LONG_OPTIONS`` is every long option Debian's sbatch 22.05 knows, read off the real
binary (``sbatch --a`` ... ``--z`` list the candidates of each ambiguous prefix). sbatch uses
``getopt_long``: an exact name wins, otherwise a prefix naming exactly one option is that
option, and a prefix naming several is an error. Resolving against sbatch's whole list (not
only the options we accept) keeps our reading identical to sbatch's: ``--err`` is
``--error``, ``--mem-per`` is ambiguous, ``--mem`` is ``--mem``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

SBATCH_LONG_OPTIONS: frozenset[str] = frozenset(
    [
        "account",
        "acctg-freq",
        "array",
        "batch",
        "bb",
        "bbf",
        "begin",
        "chdir",
        "cluster",
        "cluster-constraint",
        "clusters",
        "comment",
        "constraint",
        "container",
        "context",
        "contiguous",
        "core-spec",
        "cores-per-socket",
        "cpu-freq",
        "cpus-per-gpu",
        "cpus-per-task",
        "deadline",
        "delay-boot",
        "dependency",
        "distribution",
        "error",
        "exclude",
        "exclusive",
        "export",
        "export-file",
        "extra-node-info",
        "get-user-env",
        "gid",
        "gpu-bind",
        "gpu-freq",
        "gpus",
        "gpus-per-node",
        "gpus-per-socket",
        "gpus-per-task",
        "gres",
        "gres-flags",
        "help",
        "hint",
        "hold",
        "ignore-pbs",
        "input",
        "job-name",
        "kill-on-invalid-dep",
        "licenses",
        "mail-type",
        "mail-user",
        "mcs-label",
        "mem",
        "mem-bind",
        "mem-per-cpu",
        "mem-per-gpu",
        "mincpus",
        "network",
        "nice",
        "no-kill",
        "no-requeue",
        "nodefile",
        "nodelist",
        "nodes",
        "ntasks",
        "ntasks-per-core",
        "ntasks-per-gpu",
        "ntasks-per-node",
        "ntasks-per-socket",
        "ntasks-per-tres",
        "open-mode",
        "output",
        "overcommit",
        "oversubscribe",
        "parsable",
        "partition",
        "power",
        "prefer",
        "priority",
        "profile",
        "propagate",
        "qos",
        "quiet",
        "reboot",
        "requeue",
        "reservation",
        "signal",
        "sockets-per-node",
        "spread-job",
        "switches",
        "tasks-per-node",
        "test-only",
        "thread-spec",
        "threads-per-core",
        "time",
        "time-min",
        "tmp",
        "uid",
        "usage",
        "use-min-nodes",
        "verbose",
        "version",
        "wait",
        "wait-all-nodes",
        "wckey",
        "wrap",
    ]
)

# Names older Slurm releases accepted and real scripts still carry (Myria's users wrote
# ``--share``); sbatch 22.05 no longer knows them, so they match exactly, never as prefixes.
LEGACY_NAMES: dict[str, str] = {"share": "oversubscribe", "shared": "oversubscribe"}


@dataclass(frozen=True)
class Resolved:
    """What a written long option name means: sbatch's option, and how it was written."""

    name: str  # sbatch's own long name, e.g. "error"
    written: str  # as the script wrote it, e.g. "err"

    @property
    def abbreviated(self) -> bool:
        return self.name != self.written


class UnknownOption(ValueError):
    """No sbatch option has this name; ``suggestion`` is the closest one we accept, if any."""

    def __init__(self, written: str, suggestion: str | None) -> None:
        super().__init__(written)
        self.written = written
        self.suggestion = suggestion


class AmbiguousOption(ValueError):
    """A prefix that names several sbatch options."""

    def __init__(self, written: str, candidates: tuple[str, ...]) -> None:
        super().__init__(written)
        self.written = written
        self.candidates = candidates


def resolve(written: str, *, suggestions: frozenset[str] | set[str] = frozenset()) -> Resolved:
    """sbatch's reading of ``--written``: exact, legacy, or an unambiguous prefix; case counts,
    as for getopt (``--Partition`` is no option of sbatch's)."""
    name = written
    if name in SBATCH_LONG_OPTIONS:
        return Resolved(name, written)
    if name in LEGACY_NAMES:
        return Resolved(LEGACY_NAMES[name], written)
    candidates = tuple(sorted(o for o in SBATCH_LONG_OPTIONS if o.startswith(name))) if name else ()
    if len(candidates) == 1:
        return Resolved(candidates[0], written)
    if candidates:
        raise AmbiguousOption(written, candidates)
    pool = sorted(suggestions or SBATCH_LONG_OPTIONS)
    close = difflib.get_close_matches(name.lower(), pool, n=1, cutoff=0.6)
    raise UnknownOption(written, close[0] if close else None)
