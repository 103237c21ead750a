"""MeteredRunner: any CommandRunner, with each command's latency and failures recorded.

Wiring wraps every runner it builds for a cluster, so every Slurm command (sbatch, squeue,
sacct, scancel, sacctmgr…) is measured at one place whatever the runner (local or SSH) and
whichever backend method ran it. The command label is the argv's first element from a fixed
list (``observability.metrics.command_label``), never an argument.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from myriagate.errors import MyriagateError
from myriagate.observability.metrics import SLURM_COMMAND_ERRORS, SLURM_COMMAND_SECONDS, command_label
from myriagate.ports import CommandResult, CommandRunner

# A command that ran and exited non-zero (with check=False, the backend judges it).
EXIT_STATUS = "exit_status"


class MeteredRunner:
    """Delegates to ``inner``; records duration (success or not) and errors per cluster/command."""

    def __init__(self, inner: CommandRunner, cluster: str) -> None:
        self.inner = inner
        self.cluster = cluster

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float = 60.0,
        check: bool = True,
    ) -> CommandResult:
        # A bad argv (a shell string, empty) is the inner runner's to refuse; label it "other".
        first = argv[0] if not isinstance(argv, str | bytes) and len(argv) > 0 else ""
        command = command_label(first if isinstance(first, str) else "")
        started = time.perf_counter()
        try:
            result = self.inner.run(argv, stdin=stdin, timeout=timeout, check=check)
        except MyriagateError as exc:
            SLURM_COMMAND_ERRORS.labels(self.cluster, command, exc.code).inc()
            raise
        except Exception:
            SLURM_COMMAND_ERRORS.labels(self.cluster, command, "internal_error").inc()
            raise
        finally:
            SLURM_COMMAND_SECONDS.labels(self.cluster, command).observe(time.perf_counter() - started)
        if result.returncode != 0:
            SLURM_COMMAND_ERRORS.labels(self.cluster, command, EXIT_STATUS).inc()
        return result

    def __getattr__(self, name: str) -> object:
        # Runner-specific attributes (``login`` of LocalRunner/SshRunner) stay reachable.
        return getattr(self.inner, name)
