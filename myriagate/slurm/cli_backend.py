"""SlurmCliBackend: the SlurmBackend protocol over Slurm's command-line tools.

It runs the argv built in ``commands`` through a CommandRunner (local or SSH, acting as one
cluster login) and reads the output with ``parse``. It never assumes a job finished because
squeue forgot it: such jobs are looked up in sacct, and a job neither knows is left out of
the result so the caller keeps its state.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, tzinfo

from myriagate.domain import values
from myriagate.domain.jobs import JobStatus, JobUsage, RenderedScript
from myriagate.errors import (
    PermissionDenied,
    SchedulerRejected,
    SchedulerUnavailable,
    SubmissionUncertain,
)
from myriagate.ports import AccountedJob, ClusterHealth, CommandResult, CommandRunner
from myriagate.slurm import arrays, commands, parse, runs

log = logging.getLogger(__name__)

# sbatch failures after which the job may exist anyway (the reply, not the request, was lost)
# or that say nothing about the request: the caller must look the tag up before retrying.
_UNCERTAIN = re.compile(
    r"Socket timed out|Unable to contact slurm controller|Connection refused|"
    r"Zero Bytes were transmitted|Communication connection failure|temporarily unable",
    re.IGNORECASE,
)
# sbatch could not even connect to slurmctld: the request never left, no job exists. The job
# waits as "cluster unavailable" (a tag lookup still guards the retry, as for every resend).
_NOT_SENT = re.compile(r"Unable to contact slurm controller \(connect failure\)", re.IGNORECASE)
_INVALID_JOB = re.compile(r"Invalid job id specified", re.IGNORECASE)
_ALREADY_DONE = re.compile(r"already complet|Job/step already|Invalid job id specified", re.IGNORECASE)
_DENIED = re.compile(r"permission denied|Access/permission denied|not authorized", re.IGNORECASE)
_NO_FILE = re.compile(r"No such file or directory", re.IGNORECASE)


def slurm_message(stderr: bytes | str, fallback: str) -> str:
    """Slurm's own words, without the ``sbatch: error:`` prefixes, on one line."""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    parts = []
    for line in parse.lines(text):
        line = re.sub(r"^\s*\w+: (error|fatal|warning): ", "", line.strip())
        parts.append(re.sub(r"^\s*\w+: ", "", line))
    return " ".join(parts)[:2000] or fallback


class SlurmCliBackend:
    """ports.SlurmBackend through sbatch/squeue/sacct/scancel/tail run by ``runner``.

    ``cluster_tz`` is the zone squeue and sacct print their times in (the cluster's local
    zone); ``tag_window`` is how far back ``find_by_tag`` searches accounting.
    """

    def __init__(
        self,
        runner: CommandRunner,
        *,
        cluster_tz: tzinfo = UTC,
        timeout_s: float = 60.0,
        tag_window: str = "now-30days",
    ) -> None:
        self.runner = runner
        self.cluster_tz = cluster_tz
        self.timeout_s = timeout_s
        self.tag_window = tag_window
        self._home: str | None = None
        commands.sacct_tags(tag_window)  # refuse a bad window now, not at the first lookup

    # --- submission ----------------------------------------------------------------------
    def submit(self, script: RenderedScript, *, tag: str) -> str:
        argv = commands.sbatch(script.sbatch_args, tag)
        try:
            result = self.runner.run(
                argv, stdin=script.text.encode("utf-8"), timeout=self.timeout_s, check=False
            )
        except SubmissionUncertain:
            raise
        except SchedulerUnavailable as exc:
            # The connection may have dropped after sbatch ran: only the tag can tell.
            raise SubmissionUncertain(f"sbatch: {exc.detail}") from exc
        message = slurm_message(result.stderr, f"sbatch exited with status {result.returncode}")
        if result.returncode != 0:
            if _NOT_SENT.search(message):
                raise SchedulerUnavailable(message)
            if _UNCERTAIN.search(message):
                raise SubmissionUncertain(message)
            raise SchedulerRejected(message)
        job_id = parse.parse_sbatch_id(result.stdout)
        if job_id is None:
            # Exit 0 without an id: whether a job exists is unknown.
            raise SubmissionUncertain(f"sbatch printed no job id ({message})")
        if result.stderr.strip():
            log.warning("sbatch accepted job %s with a message: %s", job_id, message)
        return job_id

    def find_by_tag(self, tag: str) -> str | None:
        """Searches the runner's login's own jobs (``squeue --me``, sacct's default): call it
        on the backend of the job's owner, not the service login's."""
        for argv in (commands.squeue_tags(), commands.sacct_tags(self.tag_window)):
            result = self._query(argv)
            if result.returncode != 0:
                raise SchedulerUnavailable(slurm_message(result.stderr, f"{argv[0]} failed"))
            for job_id, comment in parse.parse_tags(result.stdout):
                if comment == tag:
                    return job_id
        return None

    # --- state ---------------------------------------------------------------------------
    def status(self, slurm_job_ids: Collection[str]) -> dict[str, JobStatus]:
        ids = [values.slurm_job_id(i) for i in dict.fromkeys(slurm_job_ids)]
        if not ids:
            return {}
        queued = self._squeue(ids)
        # sacct: jobs squeue does not hold, jobs it shows as ended (it has no exit code),
        # and array parents (finished tasks may already be gone from squeue).
        parents = {arrays.parent_id(j) for j in queued if "_" in j}
        need = [i for i in ids if i in parents or i not in queued or arrays.is_final(queued[i])]
        accounted = self._sacct(need) if need else {}
        return arrays.combine_views(ids, queued, accounted)

    def cancel(self, slurm_job_id: str) -> None:
        argv = commands.scancel(slurm_job_id)
        result = self._query(argv)
        message = slurm_message(result.stderr, f"scancel exited with status {result.returncode}")
        if _DENIED.search(message):
            raise PermissionDenied(message)
        if result.returncode == 0 or _ALREADY_DONE.search(message):
            return  # cancelling a finished or purged job is not an error
        raise SchedulerRejected(message)

    def accounting(self, slurm_job_ids: Collection[str]) -> dict[str, JobUsage]:
        ids = [values.slurm_job_id(i) for i in dict.fromkeys(slurm_job_ids)]
        if not ids:
            return {}
        result = self._query(commands.sacct_usage(ids))
        if result.returncode != 0:
            raise SchedulerUnavailable(slurm_message(result.stderr, "sacct failed"))
        # Every run of a requeued job and every array task, each with its own allocation.
        return runs.combine(ids, parse.parse_sacct_usage(result.stdout, self.cluster_tz))

    def accounting_by_accounts(
        self, accounts: Collection[str], since: datetime, until: datetime
    ) -> list[AccountedJob]:
        if not accounts:
            return []
        window = [t.astimezone(self.cluster_tz).replace(tzinfo=None).isoformat(timespec="seconds")
                  for t in (since, until)]  # fmt: skip
        result = self._query(commands.sacct_by_accounts(accounts, window[0], window[1]))
        if result.returncode != 0:
            raise SchedulerUnavailable(slurm_message(result.stderr, "sacct failed"))
        return accounted_jobs(result.stdout, self.cluster_tz)

    def tail(self, path: str, max_bytes: int = 65536) -> bytes:
        if max_bytes <= 0:
            return b""
        result = self._query(commands.tail(path, max_bytes))
        if result.returncode == 0:
            return result.stdout
        message = slurm_message(result.stderr, f"tail exited with status {result.returncode}")
        if _NO_FILE.search(message):
            return b""
        if _DENIED.search(message):
            raise PermissionDenied(message)
        raise SchedulerRejected(message)

    def home_dir(self) -> str:
        # Asked once per backend (one per login): sbatch runs in the login's home, so that is
        # where a job without --chdir works and writes its output. sacct 22.05 does not
        # keep WorkDir, so the gateway must know it itself.
        if self._home is None:
            result = self._query(commands.home_dir())
            home = result.text.strip()
            if result.returncode != 0 or not home.startswith("/"):
                raise SchedulerRejected(
                    slurm_message(result.stderr, "cannot find the login's home directory")
                )
            self._home = home
        return self._home

    def ping(self) -> ClusterHealth:
        started = time.monotonic()
        try:
            ping = self._query(commands.scontrol_ping())
            latency_ms = (time.monotonic() - started) * 1000
            text = ping.text.strip()
            if ping.returncode != 0 or "is UP" not in text:
                detail = slurm_message(ping.stderr, text or "scontrol ping failed")
                return ClusterHealth(reachable=False, latency_ms=latency_ms, detail=detail)
            partitions = self._query(commands.sinfo_partitions())
            version = self._query(commands.slurm_version())
        except SchedulerUnavailable as exc:
            return ClusterHealth(reachable=False, detail=exc.detail)
        return ClusterHealth(
            reachable=True,
            slurm_version=parse.parse_version(version.stdout) if version.returncode == 0 else None,
            partitions=parse.parse_partitions(partitions.stdout) if partitions.returncode == 0 else {},
            latency_ms=round(latency_ms, 3),
            detail=text,
        )

    # --- internals -----------------------------------------------------------------------
    def _query(self, argv: Sequence[str]) -> CommandResult:
        """Run a read-only (or idempotent) command; rc is the caller's to judge."""
        try:
            return self.runner.run(argv, timeout=self.timeout_s, check=False)
        except SubmissionUncertain as exc:
            # A runner's "may have run" means nothing for a query: it is simply unavailable.
            raise SchedulerUnavailable(exc.detail) from exc

    def _squeue(self, ids: list[str]) -> dict[str, JobStatus]:
        result = self._query(commands.squeue_status(ids))
        if result.returncode != 0:
            # squeue fails when *none* of the ids is still queued: that is an answer.
            if _INVALID_JOB.search(result.error_text):
                return {}
            raise SchedulerUnavailable(slurm_message(result.stderr, "squeue failed"))
        rows = parse.parse_squeue_status(result.stdout, self.cluster_tz)
        return {row.slurm_job_id: row for row in rows}

    def _sacct(self, ids: list[str]) -> dict[str, JobStatus] | None:
        """sacct's view of these jobs, or None when sacct failed (slurmdbd down…)."""
        result = self._query(commands.sacct_status(ids))
        if result.returncode != 0:
            log.warning("sacct failed, jobs left unresolved: %s", slurm_message(result.stderr, "?"))
            return None
        rows = parse.parse_sacct_status(result.stdout, self.cluster_tz)
        return {row.slurm_job_id: row for row in rows}


def accounted_jobs(stdout: bytes | str, cluster_tz: tzinfo = UTC) -> list[AccountedJob]:
    """Lines of ``commands.sacct_by_accounts``: one entry per job (or array task) id whose
    current run has ended, its earlier runs (same id, printed by ``--duplicates``) included.

    An id whose last line is not final (requeued and waiting or running again) is left for a
    later sweep: charged now, its next run would find the charge key taken and go unbilled.
    """
    width = len(commands.SACCT_ACCOUNTS_FIELDS)
    records: list[JobUsage] = []
    comments: dict[str, str | None] = {}
    for line in parse.lines(stdout):
        f = parse.fields(line, width)
        if f is None:
            continue
        rows = parse.parse_sacct_usage(parse.SEP.join(f[:-1]), cluster_tz)
        if rows:
            records.append(rows[0])
            comments[rows[0].slurm_job_id] = parse.optional(f[-1])
    out: list[AccountedJob] = []
    for job_id, job_runs in runs.by_job(records).items():
        usage = runs.one_job(job_runs)
        if usage.state is not None and usage.state.is_final:
            out.append(AccountedJob(usage=usage, comment=comments[job_id]))
    return out
