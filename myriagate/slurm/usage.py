"""Usage as Slurm accounted it, per job, over a time window (``sacct -a``): the reconciliation input.

Why ``sacct`` and not ``sshare``: ``sshare``'s RawUsage/GrpTRESRaw is *decayed* usage
(PriorityDecayHalfLife) and is reset by PriorityUsageResetPeriod, so it answers "what do the
limits see now", not "what was delivered in November". ``sacct`` keeps every job's allocated
TRES and elapsed seconds, from which the same cost rule as the gateway's (``domain.costs``)
gives exact integer core-seconds. ``sshare`` is still what ``slurm-sync`` reads, because the
limits it sets are compared with exactly that counter (see ``slurm.sacctmgr``).

``--duplicates`` keeps every run of a requeued job (Slurm accounted each of them);
``-X`` keeps allocations only (array tasks are separate lines). Times on the command line are
the cluster's local time.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, tzinfo

from myriagate.domain import values
from myriagate.domain.jobs import JobUsage
from myriagate.ports import CommandRunner
from myriagate.slurm import commands, parse


def _local(moment: datetime, cluster_tz: tzinfo) -> str:
    if moment.tzinfo is None:
        raise ValueError("window bounds must be aware datetimes")
    return moment.astimezone(cluster_tz).strftime("%Y-%m-%dT%H:%M:%S")


def sacct_window(
    accounts: Collection[str], start: datetime, end: datetime, cluster_tz: tzinfo = UTC
) -> tuple[str, ...]:
    """Every user's jobs of these accounts that ran (or were queued) during ``[start, end)``."""
    names = [values.account(a) for a in sorted(set(accounts))]
    if not names:
        raise ValueError("at least one account is needed")
    if end <= start:
        raise ValueError("the window must end after it starts")
    return (
        "sacct", "--noheader", "--parsable2", f"--delimiter={commands.SEP}", "--allusers",
        "--allocations", "--duplicates", f"--accounts={','.join(names)}",
        f"--starttime={_local(start, cluster_tz)}", f"--endtime={_local(end, cluster_tz)}",
        f"--format={','.join(commands.SACCT_USAGE_FIELDS)}",
    )  # fmt: skip


class SacctUsage:
    """Reads finished jobs per account and window through a runner allowed to see all users."""

    def __init__(self, runner: CommandRunner, *, cluster_tz: tzinfo = UTC, timeout_s: float = 300.0) -> None:
        self._runner = runner
        self._tz = cluster_tz
        self._timeout_s = timeout_s

    def ended_jobs(self, accounts: Collection[str], start: datetime, end: datetime) -> list[JobUsage]:
        """Jobs that ENDED in ``[start, end)`` (a job is counted in the window where it ended)."""
        if not accounts:
            return []
        result = self._runner.run(sacct_window(accounts, start, end, self._tz), timeout=self._timeout_s)
        jobs = parse.parse_sacct_usage(result.stdout, self._tz)
        return [j for j in jobs if j.ended_at is not None and start <= j.ended_at < end]
