"""SlurmRestBackend: the SlurmBackend protocol over slurmrestd (OpenAPI v0.0.38, Slurm 22.05).

For sites that forbid SSH from the web host and run ``slurmrestd`` instead. Every request
carries a short-lived JWT minted for the researcher's own login (``rest_tokens``), so Slurm
sees the researcher, never a shared account. The controller's endpoints play squeue and
scancel, accounting's (``/slurmdb/``) play sacct; the JSON is read by ``rest_parse``, the job
description built by ``rest_jobdesc``, failures mapped by ``rest_http``.

slurmrestd has no file API: reading a job's output (``tail``) and finding the login's home
(``home_dir``) go through ``files``, another backend over the profile's runner (SSH with a
certificate, or local), when the profile gives one. Without it the home comes from a pattern
the profile names and ``tail`` says plainly that output cannot be read on this cluster.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from myriagate.domain import values
from myriagate.domain.jobs import JobStatus, JobUsage, RenderedScript
from myriagate.errors import MyriagateError, SchedulerRejected, SubmissionUncertain, Text
from myriagate.ports import ClusterHealth, SlurmBackend
from myriagate.slurm import arrays, commands, rest_jobdesc, rest_parse
from myriagate.slurm.rest_http import SlurmRestClient
from myriagate.slurm.rest_jobdesc import DEFAULT_PATH

CTL = "/slurm/v0.0.38"
DB = "/slurmdb/v0.0.38"
_INVALID_JOB_ID, _ALREADY_DONE = 2017, 2021  # ESLURM_INVALID_JOB_ID, ESLURM_ALREADY_DONE
_NOTHING_FOUND = 9003  # ESLURM_REST_EMPTY_RESULT: accounting knows none of the jobs asked
# Accounting windows are given to slurmrestd relative to its own clock ("now-3600"), widened by
# this much for clock skew; the exact window is then applied here to the times it returns.
_SLACK_S = 3600


def _relative(at: datetime, now: datetime) -> str:
    seconds = int((at - now).total_seconds())
    return f"now{seconds:+d}" if seconds else "now"


class SlurmRestBackend:
    """ports.SlurmBackend over one slurmrestd, acting as ``login``.

    ``files`` (optional) reads output files and the home directory; without it ``home`` is
    the login's home pattern (``/home/{login}``). ``tag_window`` bounds the accounting search
    of ``find_by_tag`` (submissions that old or younger).
    """

    def __init__(
        self,
        client: SlurmRestClient,
        login: str,
        *,
        files: SlurmBackend | None = None,
        home: str = "/home/{login}",
        command_path: str = DEFAULT_PATH,
        tag_window: timedelta = timedelta(days=30),
    ) -> None:
        self.client = client
        self.login = values.login(login)
        self.files = files
        self._home = home
        self.command_path = command_path
        self.tag_window = tag_window

    # --- submission ----------------------------------------------------------------------
    def submit(self, script: RenderedScript, *, tag: str) -> str:
        job = rest_jobdesc.job_fields(
            script.sbatch_args, home=self.home_dir(), login=self.login, path=self.command_path, tag=tag
        )
        answer = self.client.call(
            "POST", f"{CTL}/job/submit", self.login, body={"script": script.text, "job": job}, submit=True
        )
        job_id = answer.get("job_id")
        if not isinstance(job_id, int) or isinstance(job_id, bool):
            raise SubmissionUncertain("slurmrestd answered a submission without a job id")
        return str(job_id)

    def find_by_tag(self, tag: str) -> str | None:
        return self.find_by_tags([tag]).get(tag)

    def find_by_tags(self, tags: Collection[str]) -> dict[str, str | None]:
        """One look at the controller's jobs and, for the tags it does not hold, one accounting
        query over the submissions of the last ``tag_window``."""
        found: dict[str, str | None] = dict.fromkeys(commands.tag(t) for t in tags)
        if not found:
            return {}
        for record in self._live():
            comment = rest_parse.comment_of(record)
            if comment in found and found[comment] is None:
                found[comment] = rest_parse.controller_parent(record)
        if any(v is None for v in found.values()):
            since = datetime.now(UTC) - self.tag_window
            params = {"submit_time": _relative(since, datetime.now(UTC)), "skip_steps": "true"}
            for record in self._accounted(params):
                comment = rest_parse.comment_of(record)
                if comment in found and found[comment] is None:
                    found[comment] = self._parent_of_accounted(record)
        return found

    # --- state ---------------------------------------------------------------------------
    def status(self, slurm_job_ids: Collection[str]) -> dict[str, JobStatus]:
        ids = [values.slurm_job_id(i) for i in dict.fromkeys(slurm_job_ids)]
        if not ids:
            return {}
        wanted = {arrays.parent_id(i) for i in ids}
        queued = {
            s.slurm_job_id: s
            for r in self._live()
            if rest_parse.controller_parent(r) in wanted
            for s in rest_parse.controller_statuses(r)
        }
        need = arrays.needing_accounting(ids, queued)
        accounted: dict[str, JobStatus] = {}
        if need:
            for record in self._accounted(self._by_ids(need)):
                accounted.update((s.slurm_job_id, s) for s in rest_parse.accounted_statuses(record))
        views = arrays.combine_views(ids, queued, _with_exit_codes(accounted, queued))
        return {job_id: _unknown_stays_unknown(view) for job_id, view in views.items()}

    def cancel(self, slurm_job_id: str) -> None:
        values.slurm_job_id(slurm_job_id)
        # An ended or unknown job answers "invalid job id" / "already done": nothing to do.
        self.client.call(
            "DELETE", f"{CTL}/job/{slurm_job_id}", self.login, tolerate=(_INVALID_JOB_ID, _ALREADY_DONE)
        )

    def accounting(self, slurm_job_ids: Collection[str]) -> dict[str, JobUsage]:
        ids = [values.slurm_job_id(i) for i in dict.fromkeys(slurm_job_ids)]
        if not ids:
            return {}
        rows = {
            u.slurm_job_id: u for r in self._accounted(self._by_ids(ids)) if (u := rest_parse.usage_of(r))
        }
        usage: dict[str, JobUsage] = {}
        by_parent = arrays.tasks_by_parent(rows)
        for job_id in ids:
            tasks = by_parent.get(job_id, []) if "_" not in job_id else []
            if job_id in rows:
                usage[job_id] = rows[job_id]
            elif tasks:
                whole = arrays.aggregate_usage(job_id, [rows[t] for t in tasks])
                lost = any(rows[t].exit_code is None and rows[t].state is not None for t in tasks)
                usage[job_id] = replace(whole, exit_code=None) if lost else whole
        return usage

    def accounting_by_accounts(
        self, accounts: Collection[str], since: datetime, until: datetime, slurm_job_ids: Collection[str] = ()
    ) -> list[JobUsage]:
        """Jobs of these accounts (every user's) that ended in [since, until)."""
        if not accounts:
            return []
        now = datetime.now(UTC)
        params = {
            "account": ",".join(sorted({values.account(a) for a in accounts})),
            "start_time": _relative(since - timedelta(seconds=_SLACK_S), now),
            "end_time": _relative(until + timedelta(seconds=_SLACK_S), now),
            "skip_steps": "true",
        }
        wanted = {values.slurm_job_id(i) for i in slurm_job_ids}
        if wanted:
            params |= self._by_ids(wanted)
        found: list[JobUsage] = []
        for record in self._accounted(params):
            usage = rest_parse.usage_of(record)
            if usage is None or usage.state is None or not usage.state.is_final or usage.ended_at is None:
                continue
            if since <= usage.ended_at < until and (not wanted or usage.slurm_job_id in wanted):
                found.append(usage)
        return found

    def comments(self, slurm_job_ids: Collection[str]) -> dict[str, str]:
        wanted = {values.slurm_job_id(i) for i in slurm_job_ids}
        if not wanted:
            return {}
        found: dict[str, str] = {}
        for record in self._accounted(self._by_ids(wanted)):
            comment = rest_parse.comment_of(record)
            for job_id in rest_parse.accounted_ids(record):
                if job_id in wanted:
                    found[job_id] = comment or ""
        return found

    # --- files and the cluster -----------------------------------------------------------------
    def home_dir(self) -> str:
        if self.files is not None:
            return self.files.home_dir()
        return self._home.replace("{login}", self.login)

    def tail(self, path: str, max_bytes: int = 65536) -> bytes:
        if self.files is None:
            raise SchedulerRejected(
                Text("this cluster is reached through its REST API only: job output cannot be read from here")
            )
        return self.files.tail(path, max_bytes)

    def read_private(self, path: str, home: str, max_bytes: int) -> bytes:
        if self.files is None:
            raise SchedulerRejected(
                Text("this cluster is reached through its REST API only: job output cannot be read from here")
            )
        return self.files.read_private(path, home, max_bytes)

    def ping(self) -> ClusterHealth:
        started = time.monotonic()
        try:
            answer = self.client.get(f"{CTL}/ping", self.login)
            pings = [p for p in answer.get("pings") or [] if isinstance(p, dict)]
            if not any(p.get("ping") == "UP" for p in pings):
                return ClusterHealth(reachable=False, detail="slurmctld does not answer slurmrestd's ping")
            latency_ms = round((time.monotonic() - started) * 1000, 3)
            partitions = rest_parse.partitions(self.client.get(f"{CTL}/partitions", self.login))
        except MyriagateError as exc:  # unavailable, or this login's token refused
            return ClusterHealth(reachable=False, detail=exc.detail)
        return ClusterHealth(
            reachable=True,
            slurm_version=rest_parse.slurm_release(answer),
            partitions=partitions,
            latency_ms=latency_ms,
        )

    # --- internals -----------------------------------------------------------------------
    def _live(self) -> list[dict[str, Any]]:
        """Every job the controller holds, in one request (like one squeue call)."""
        answer = self.client.get(f"{CTL}/jobs", self.login)
        return [j for j in answer.get("jobs") or [] if isinstance(j, dict)]

    def _accounted(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """Accounting's records, oldest run first (a requeued job's last run wins later)."""
        answer = self.client.call("GET", f"{DB}/jobs", self.login, params=params, tolerate=(_NOTHING_FOUND,))
        return [j for j in answer.get("jobs") or [] if isinstance(j, dict)]

    @staticmethod
    def _by_ids(ids: Collection[str]) -> dict[str, str]:
        parents = sorted({arrays.parent_id(i) for i in ids}, key=int)
        return {"step": ",".join(parents), "skip_steps": "true"}

    @staticmethod
    def _parent_of_accounted(record: dict[str, Any]) -> str:
        array = record.get("array") or {}
        parent = array.get("job_id") if isinstance(array, dict) else None
        return str(parent or record.get("job_id"))


def _with_exit_codes(accounted: dict[str, JobStatus], queued: dict[str, JobStatus]) -> dict[str, JobStatus]:
    """Accounting's rows, with the exit code it lost (rest_parse's note) taken from the
    controller's row of the same ended job when it still has one."""
    fixed = dict(accounted)
    for job_id, row in accounted.items():
        seen = queued.get(job_id)
        if row.exit_code is None and seen is not None and seen.exit_code is not None and arrays.is_final(row):
            fixed[job_id] = replace(row, exit_code=seen.exit_code)
    return fixed


def _unknown_stays_unknown(view: JobStatus) -> JobStatus:
    """An array whose ended task has no known exit code has none either: the largest of the
    codes known would pass a failed task's lost code off as the array's (say 0)."""
    if view.exit_code is not None and any(
        t.exit_code is None and arrays.is_final(t) for t in view.array_tasks
    ):
        return replace(view, exit_code=None)
    return view
