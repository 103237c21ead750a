"""SlurmCliBackend: the SlurmBackend protocol over Slurm's command-line tools.

It runs the argv built in ``commands`` through a CommandRunner (local or SSH, acting as one
cluster login) and reads the output with ``parse``. It never assumes a job finished because
squeue forgot it: such jobs are looked up in sacct, and a job neither knows is left out of
the result so the caller keeps its state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime, tzinfo
from typing import TypeVar

from myriagate.domain import values
from myriagate.domain.jobs import JobStatus, JobUsage, RenderedScript
from myriagate.errors import (
    ConfigError,
    PermissionDenied,
    SchedulerRejected,
    SchedulerUnavailable,
    SubmissionUncertain,
    Text,
)
from myriagate.ports import ClusterHealth, CommandResult, CommandRunner
from myriagate.slurm import arrays, commands, endings, messages, parse, runs

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# Commands spent asking again about fewer jobs when a framed answer was ambiguous (a comment
# or reason broke a line, see slurm.records): halving finds the culprit in about
# 2·log2(jobs) commands; past this many, the jobs not told apart are left for the next call.
AMBIGUOUS_QUERIES_MAX = 24
# Lines of an ambiguous tag answer that claim the tag, checked one by one; more is no answer.
_TAG_CANDIDATES_MAX = 4


# Said when the way to a file the gateway trusts (a connection file) is not the login's alone.
_NOT_PRIVATE = "%(path)s or a directory above it is not the login's alone (owner, permissions or a link)"


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
        self._comments_stored = False
        self._login: str | None = None
        self._user_names: dict[str, str] = {}  # uid -> login, for "CANCELLED by <uid>"
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
        message = messages.slurm_message(result.stderr, f"sbatch exited with status {result.returncode}")
        if result.returncode != 0:
            if messages.NOT_SENT.search(message):
                raise SchedulerUnavailable(message)
            if messages.UNCERTAIN.search(message):
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
        on the backend of the job's owner, not the service login's.

        None only when both answers were clean and neither holds the tag. An answer with a
        Slurm error on stderr (even with exit 0 and an empty stdout), or one a comment made
        ambiguous while the tag shows in it, raises SchedulerUnavailable: unknown, not absent.
        """
        commands.tag(tag)
        self.require_stored_comments()
        unknown: list[str] = []
        lookups = (("squeue", commands.squeue_tags()), ("sacct", commands.sacct_tags(self.tag_window)))
        for source, argv in lookups:
            result = self._query(argv)
            if result.returncode != 0:
                raise SchedulerUnavailable(messages.slurm_message(result.stderr, f"{source} failed"))
            try:
                found = self._tag_in(result.stdout, tag)
            except parse.AmbiguousOutput:
                found = self._tag_in_ambiguous(result.text, tag, source)
            if found is not None:
                return found
            if messages.SLURM_ERROR.search(result.error_text):
                unknown.append(f"{source}: {messages.slurm_message(result.stderr, 'error')}")
        if unknown:
            raise SchedulerUnavailable("tag lookup inconclusive: " + "; ".join(unknown))
        return None

    def find_by_tags(self, tags: Collection[str]) -> dict[str, str | None]:
        """``find_by_tag`` for many tags of this login in one ``squeue`` and, for the tags it did
        not show, one ``sacct``: both list all the login's jobs, so one of each serves every
        tag (reconciling 30 lost submissions is not 60 Slurm calls; only an answer made
        ambiguous by a comment costs the narrow per-candidate checks of ``find_by_tag``).

        {tag: job id, or None when both answers were clean without it}. A tag whose absence an
        answer cannot prove (a Slurm error on stderr, an ambiguity left unresolved) is left
        out: unknown, where ``find_by_tag`` would raise. A command that fails raises
        SchedulerUnavailable.
        """
        wanted = [commands.tag(t) for t in dict.fromkeys(tags)]
        if not wanted:
            return {}
        self.require_stored_comments()
        found: dict[str, str] = {}
        unknown: set[str] = set()
        lookups = (("squeue", commands.squeue_tags()), ("sacct", commands.sacct_tags(self.tag_window)))
        for source, argv in lookups:
            missing = [t for t in wanted if t not in found]
            if not missing:
                break
            result = self._query(argv)
            if result.returncode != 0:
                raise SchedulerUnavailable(messages.slurm_message(result.stderr, f"{source} failed"))
            try:
                first: dict[str, str] = {}
                for job_id, comment in parse.parse_tags(result.stdout):
                    first.setdefault(comment, job_id)
                hits = {t: first.get(t) for t in missing}
            except parse.AmbiguousOutput:
                hits = {}
                for t in missing:
                    try:
                        hits[t] = self._tag_in_ambiguous(result.text, t, source)
                    except SchedulerUnavailable:
                        unknown.add(t)
            found.update((t, job_id) for t, job_id in hits.items() if job_id is not None)
            if messages.SLURM_ERROR.search(result.error_text):
                unknown.update(missing)
        return {t: found.get(t) for t in wanted if t in found or t not in unknown}

    @staticmethod
    def _tag_in(stdout: bytes | str, tag: str) -> str | None:
        """The (parent) id of the job whose comment is ``tag`` in a framed tags answer."""
        return next((job_id for job_id, comment in parse.parse_tags(stdout) if comment == tag), None)

    def _tag_in_ambiguous(self, text: str, tag: str, source: str) -> str | None:
        """A comment of one of the login's jobs holds a line break, so no line of the answer
        is trusted. A job whose comment *is* the tag still prints the whole line
        ``<id><SEP><tag><SEP><id>``: each such line is checked by asking about that id alone
        (the login's own job only); without one, the tag is in no job."""
        candidates = parse.tag_candidates(text, tag)
        if not candidates:
            return None
        if len(candidates) > _TAG_CANDIDATES_MAX:
            raise SchedulerUnavailable(f"tag lookup inconclusive: {source}: {len(candidates)} lines claim it")
        for head in candidates:
            if source == "squeue":
                argv = commands.squeue_tags(job=head)
            else:
                argv = commands.sacct_tags(self.tag_window, job=head, user=self.login_name())
            result = self._query(argv)
            if result.returncode != 0 and not (
                source == "squeue" and messages.INVALID_JOB.search(result.error_text)
            ):
                raise SchedulerUnavailable(messages.slurm_message(result.stderr, f"{source} failed"))
            if messages.SLURM_ERROR.search(result.error_text) and not messages.INVALID_JOB.search(
                result.error_text
            ):
                raise SchedulerUnavailable(
                    f"tag lookup inconclusive: {messages.slurm_message(result.stderr, source)}"
                )
            try:
                if self._tag_in(result.stdout, tag) == head:
                    return head
            except parse.AmbiguousOutput:
                continue  # that job's own comment breaks lines: it is not the tag
        return None

    def login_name(self) -> str:
        """The login this backend acts as (asked once: ``id -un``)."""
        if self._login is None:
            result = self._query(commands.login_name())
            name = result.text.strip()
            if result.returncode != 0 or not name:
                raise SchedulerUnavailable(
                    messages.slurm_message(result.stderr, "cannot tell the login's name")
                )
            self._login = values.login(name)
        return self._login

    def require_stored_comments(self) -> None:
        """ConfigError unless slurmdbd stores job comments (AccountingStoreFlags=job_comment).

        Without it accounting knows no tag: a job whose sbatch reply was lost and that has left
        squeue would look absent, and be sent again. Asked once per backend; a controller that
        does not answer is asked again next time (SchedulerUnavailable).
        """
        if self._comments_stored:
            return
        result = self._query(commands.scontrol_show_config())
        if result.returncode != 0:
            raise SchedulerUnavailable(messages.slurm_message(result.stderr, "scontrol show config failed"))
        flags = parse.parse_config(result.stdout).get("AccountingStoreFlags")
        if flags is None:
            raise SchedulerUnavailable("scontrol show config printed no AccountingStoreFlags")
        if "job_comment" not in {flag.strip().lower() for flag in flags.split(",")}:
            raise ConfigError(
                f"the cluster's slurmdbd does not store job comments (AccountingStoreFlags = {flags}): "
                "add AccountingStoreFlags=job_comment to slurm.conf, or a submission whose reply was "
                "lost cannot be found by its tag once it leaves squeue"
            )
        self._comments_stored = True

    # --- state ---------------------------------------------------------------------------
    def status(self, slurm_job_ids: Collection[str]) -> dict[str, JobStatus]:
        ids = [values.slurm_job_id(i) for i in dict.fromkeys(slurm_job_ids)]
        if not ids:
            return {}
        queued = self._squeue(ids)
        # sacct: jobs squeue does not hold, jobs it shows as ended (it has no exit code),
        # and array parents (finished tasks may already be gone from squeue).
        need = arrays.needing_accounting(ids, queued)
        accounted = self._sacct(need) if need else {}
        views = arrays.combine_views(ids, queued, accounted)
        return endings.add_endings(self._query, views, self._user_names)

    def cancel(self, slurm_job_id: str) -> None:
        argv = commands.scancel(slurm_job_id)
        result = self._query(argv)
        message = messages.slurm_message(result.stderr, f"scancel exited with status {result.returncode}")
        if messages.DENIED.search(message):
            raise PermissionDenied(message)
        if result.returncode == 0 or messages.ALREADY_DONE.search(message):
            return  # cancelling a finished or purged job is not an error
        raise SchedulerRejected(message)

    def accounting(self, slurm_job_ids: Collection[str]) -> dict[str, JobUsage]:
        ids = [values.slurm_job_id(i) for i in dict.fromkeys(slurm_job_ids)]
        if not ids:
            return {}
        result = self._query(commands.sacct_usage(ids))
        # A Slurm error on stderr (sacct may exit 0 with "Socket timed out" and print nothing)
        # is no answer: a job missing from it must not count as gone (services/jobs/vanished.py).
        if result.returncode != 0 or messages.SLURM_ERROR.search(result.error_text):
            raise SchedulerUnavailable(messages.slurm_message(result.stderr, "sacct failed"))
        # Every run of a requeued job and every array task, each with its own allocation.
        return runs.combine(ids, parse.parse_sacct_usage(result.stdout, self.cluster_tz))

    def accounting_by_accounts(
        self, accounts: Collection[str], since: datetime, until: datetime, slurm_job_ids: Collection[str] = ()
    ) -> list[JobUsage]:
        if not accounts:
            return []
        window = [t.astimezone(self.cluster_tz).replace(tzinfo=None).isoformat(timespec="seconds")
                  for t in (since, until)]  # fmt: skip
        result = self._query(commands.sacct_by_accounts(accounts, window[0], window[1], slurm_job_ids))
        if result.returncode != 0:
            raise SchedulerUnavailable(messages.slurm_message(result.stderr, "sacct failed"))
        return accounted_jobs(result.stdout, self.cluster_tz)

    def comments(self, slurm_job_ids: Collection[str]) -> dict[str, str]:
        """{job id: comment} for these jobs, each exactly as given to ``--comment``.

        One framed sacct call; when a comment made it ambiguous, the same for each half, down
        to one job, whose one-record answer is read whole. A job accounting does not know, or
        not told apart within ``AMBIGUOUS_QUERIES_MAX`` calls, is left out: unknown.
        """
        ids = [values.slurm_job_id(i) for i in dict.fromkeys(slurm_job_ids)]

        def ask(part: list[str]) -> dict[str, str]:
            result = self._query(commands.sacct_comments(part))
            if result.returncode != 0:
                raise SchedulerUnavailable(messages.slurm_message(result.stderr, "sacct failed"))
            if len(part) == 1:
                comment = parse.parse_one_comment(result.stdout, part[0])
                return {} if comment is None else {part[0]: comment}
            found = parse.parse_comments(result.stdout)
            return {i: found[i] for i in part if i in found}

        return self._asking_fewer(ids, ask, "sacct_comments") if ids else {}

    def tail(self, path: str, max_bytes: int = 65536) -> bytes:
        if max_bytes <= 0:
            return b""
        result = self._query(commands.tail(path, max_bytes))
        if result.returncode == 0 and result.stdout == commands.NOT_A_REGULAR_FILE:
            raise PermissionDenied(Text("%(path)s is not a regular file", path=path))  # as pyslurm's says
        return self._tail_result(result)

    def _tail_result(self, result: CommandResult) -> bytes:
        if result.returncode == 0:
            return result.stdout
        message = messages.slurm_message(result.stderr, f"tail exited with status {result.returncode}")
        if messages.NO_FILE.search(message):
            return b""
        if messages.DENIED.search(message):
            raise PermissionDenied(message)
        raise SchedulerRejected(message)

    def read_private(self, path: str, home: str, max_bytes: int) -> bytes:
        if max_bytes <= 0:
            return b""
        result = self._query(commands.read_private(path, home, self.login_name(), max_bytes))
        if result.stdout.endswith(commands.NOT_PRIVATE):
            raise PermissionDenied(Text(_NOT_PRIVATE, path=path))
        return self._tail_result(result)

    def home_dir(self) -> str:
        # Asked once per backend (one per login): sbatch runs in the login's home, so that is
        # where a job without --chdir works and writes its output. sacct 22.05 does not
        # keep WorkDir, so the gateway must know it itself.
        if self._home is None:
            result = self._query(commands.home_dir())
            home = result.text.strip()
            if result.returncode != 0 or not home.startswith("/"):
                raise SchedulerRejected(
                    messages.slurm_message(result.stderr, "cannot find the login's home directory")
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
                detail = messages.slurm_message(ping.stderr, text or "scontrol ping failed")
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

    def _asking_fewer(
        self, ids: list[str], ask: Callable[[list[str]], dict[str, _T]], what: str
    ) -> dict[str, _T]:
        """``ask(ids)``; when its framed answer is ambiguous, ask for each half instead, down to
        single jobs (a job whose own answer stays ambiguous is left out: unknown)."""
        budget = [AMBIGUOUS_QUERIES_MAX]

        def go(part: list[str]) -> dict[str, _T]:
            try:
                return ask(part)
            except parse.AmbiguousOutput as exc:
                log.warning("%s answer about %d jobs is ambiguous, asking fewer: %s", what, len(part), exc)
                if len(part) == 1 or budget[0] < 2:
                    return {}
                budget[0] -= 2
                middle = len(part) // 2
                return go(part[:middle]) | go(part[middle:])

        return go(ids)

    def _squeue(self, ids: list[str]) -> dict[str, JobStatus]:
        def ask(part: list[str]) -> dict[str, JobStatus]:
            result = self._query(commands.squeue_status(part))
            if result.returncode != 0:
                # squeue fails when *none* of the ids is still queued: that is an answer.
                if messages.INVALID_JOB.search(result.error_text):
                    return {}
                raise SchedulerUnavailable(messages.slurm_message(result.stderr, "squeue failed"))
            rows = parse.parse_squeue_status(result.stdout, self.cluster_tz)
            return {row.slurm_job_id: row for row in rows}

        return self._asking_fewer(ids, ask, "squeue_status")

    def _sacct(self, ids: list[str]) -> dict[str, JobStatus] | None:
        """sacct's view of these jobs, or None when sacct failed (slurmdbd down…)."""

        def ask(part: list[str]) -> dict[str, JobStatus]:
            result = self._query(commands.sacct_status(part))
            if result.returncode != 0:
                raise _SacctFailed(messages.slurm_message(result.stderr, "?"))
            rows = parse.parse_sacct_status(result.stdout, self.cluster_tz)
            return {row.slurm_job_id: row for row in rows}

        try:
            return self._asking_fewer(ids, ask, "sacct_status")
        except _SacctFailed as exc:
            log.warning("sacct failed, jobs left unresolved: %s", exc)
            return None


class _SacctFailed(Exception):
    """sacct exited non-zero during a status call: the jobs it was asked about stay unresolved."""


def accounted_jobs(stdout: bytes | str, cluster_tz: tzinfo = UTC) -> list[JobUsage]:
    """Lines of ``commands.sacct_by_accounts``: one usage per job (or array task) id whose
    current run has ended, its earlier runs (same id, printed by ``--duplicates``) included.

    An id whose last line is not final (requeued and waiting or running again) is left for a
    later sweep: charged now, its next run would find the charge key taken and go unbilled.
    Every line is checked field by field (``parse.usage_fields_valid``); none is free text.
    """
    records = parse.parse_sacct_usage(stdout, cluster_tz)
    out: list[JobUsage] = []
    for job_runs in runs.by_job(records).values():
        usage = runs.one_job(job_runs)
        if usage.state is not None and usage.state.is_final:
            out.append(usage)
    return out
