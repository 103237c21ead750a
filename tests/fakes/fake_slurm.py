"""An in-memory Slurm honouring the SlurmBackend protocol, driven from tests.

One ``FakeCluster`` holds the queue and the accounting database; several ``FakeSlurmBackend``
objects (one per cluster login) look at the same cluster, as real logins do. Tests move jobs
through their lives with ``set_state`` / ``finish`` / ``purge_from_queue`` and inject
failures with ``fail_next_submit`` / ``lose_response_after_submit`` / ``set_unreachable``.
``calls`` counts the Slurm commands the backends would have run (``sbatch``, ``squeue``,
``sacct``, ``scancel``, ``tail``, ``ping``) so tests can assert "one squeue per tick".

Semantics copied from Slurm 22.05 on the dev cluster:
- a finished job stays in squeue until purged (MinJobAge), then only sacct knows it;
- status() answers from squeue first, then sacct for the rest; unknown ids are absent;
- an array job ``--array=0-2`` is id N with tasks ``N_0``..``N_2``; status(N) aggregates them;
- cancelling a finished or unknown-but-once-known job is not an error; cancelling another
  login's job is ``PermissionDenied`` (scancel rc 210 "Access/permission denied").
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from myriagate.domain import values
from myriagate.domain.jobs import JobStatus, JobUsage, RenderedScript
from myriagate.domain.states import JobState
from myriagate.errors import (
    MyriagateError,
    PermissionDenied,
    SchedulerRejected,
    SchedulerUnavailable,
    SubmissionUncertain,
)
from myriagate.ports import ClusterHealth
from myriagate.slurm import runs

# Slurm state name -> gateway state (the fake uses Slurm's names, like the real cluster).
_STATES: dict[str, JobState] = {
    "PENDING": JobState.PENDING,
    "CONFIGURING": JobState.RUNNING,
    "RUNNING": JobState.RUNNING,
    "COMPLETING": JobState.RUNNING,
    "SUSPENDED": JobState.SUSPENDED,
    "REQUEUED": JobState.PENDING,
    "COMPLETED": JobState.COMPLETED,
    "FAILED": JobState.FAILED,
    "CANCELLED": JobState.CANCELLED,
    "TIMEOUT": JobState.TIMEOUT,
    "OUT_OF_MEMORY": JobState.OUT_OF_MEMORY,
    "NODE_FAIL": JobState.NODE_FAIL,
    "PREEMPTED": JobState.PREEMPTED,
    "BOOT_FAIL": JobState.BOOT_FAIL,
    "DEADLINE": JobState.DEADLINE,
}
FINAL_SLURM_STATES = frozenset(
    {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED",
     "BOOT_FAIL", "DEADLINE"}
)  # fmt: skip
# Worst first: the state an array parent reports when its tasks ended differently.
_FINAL_ORDER = ("NODE_FAIL", "BOOT_FAIL", "OUT_OF_MEMORY", "TIMEOUT", "DEADLINE", "PREEMPTED",
                "FAILED", "CANCELLED", "COMPLETED")  # fmt: skip

DEFAULT_PARTITIONS: dict[str, int] = {"court": 4 * 3600, "long": 5 * 86400, "debug": 1800}
_SBATCH_LINE = re.compile(r"^#SBATCH\s+(--[a-z-]+(?:=\S.*)?)\s*$")


def _now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass
class FakeJob:
    """One job (or one array task) as the fake Slurm stores it."""

    slurm_job_id: str
    login: str
    tag: str
    name: str
    script: str
    sbatch_args: tuple[str, ...]
    partition: str
    account: str | None
    time_limit_s: int
    cpus: int
    gpus: int
    nodes: int
    mem_mb: int
    work_dir: str
    submitted_at: datetime
    state: str = "PENDING"
    reason: str | None = "None"
    exit_code: int | None = None
    signal: int | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    in_queue: bool = True
    array_parent: str | None = None  # "123" for task "123_4"
    raw_id: int = 0  # Slurm's internal id (each array task has its own, as in Slurm)
    # Earlier runs of a requeued job: (started, ended, state), as sacct --duplicates keeps them.
    runs: list[tuple[datetime, datetime, str]] = field(default_factory=list)


@dataclass
class FakeCluster:
    """The shared queue and accounting of one fake Slurm cluster."""

    name: str = "devcluster"
    slurm_version: str = "22.05.8"
    partitions: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PARTITIONS))
    clock: Callable[[], datetime] = _now_utc
    first_job_id: int = 1000
    jobs: dict[str, FakeJob] = field(default_factory=dict)
    arrays: dict[str, list[str]] = field(default_factory=dict)  # parent id -> task ids
    files: dict[str, bytes] = field(default_factory=dict)
    # Paths ``read_private`` refuses: the file or a directory above it is not the login's alone.
    not_private: set[str] = field(default_factory=set)
    calls: Counter[str] = field(default_factory=Counter)
    reachable: bool = True
    # Called with each command's name as it runs: a test's probe of what the caller holds
    # meanwhile (an open transaction, say).
    on_call: Callable[[str], None] | None = None
    _ids: itertools.count[int] = field(init=False)
    _fail_next: dict[str, MyriagateError] = field(default_factory=dict)
    _lose_next_submit_response: bool = False

    def __post_init__(self) -> None:
        self._ids = itertools.count(self.first_job_id)

    # --- driving the cluster from tests -------------------------------------------------
    def set_state(self, slurm_job_id: str, state: str, *, reason: str | None = None) -> None:
        """Move a job (all tasks of an array parent) to a Slurm state such as ``RUNNING``;
        ``REQUEUED`` requeues it (see ``requeue``)."""
        if state == "REQUEUED":
            self.requeue(slurm_job_id)
            return
        for job in self._targets(slurm_job_id):
            job.state = state
            job.reason = reason if reason is not None else ("None" if state != "PENDING" else job.reason)
            if state in ("RUNNING", "CONFIGURING", "COMPLETING") and job.started_at is None:
                job.started_at = self.clock()

    def finish(
        self,
        slurm_job_id: str,
        state: str = "COMPLETED",
        *,
        exit_code: int = 0,
        signal: int = 0,
        purge: bool = False,
    ) -> None:
        """End a job (all tasks of an array parent) in a final Slurm state."""
        if state not in FINAL_SLURM_STATES:
            raise ValueError(f"{state} is not a final Slurm state")
        for job in self._targets(slurm_job_id):
            now = self.clock()
            if job.started_at is None and state != "CANCELLED":
                job.started_at = now
            job.state, job.exit_code, job.signal, job.ended_at = state, exit_code, signal, now
            job.reason = "None"
            if purge:
                job.in_queue = False

    def requeue(self, slurm_job_id: str, run_state: str = "REQUEUED") -> None:
        """``scontrol requeue`` (``run_state="NODE_FAIL"``: the node died): the current run
        ends and is kept in accounting under ``run_state``; the job waits to run again."""
        for job in self._targets(slurm_job_id):
            if job.started_at is not None:
                job.runs = [*job.runs, (job.started_at, self.clock(), run_state)]  # tasks may share one list
            job.state, job.reason, job.started_at, job.ended_at = "PENDING", "BeginTime", None, None

    def purge_from_queue(self, slurm_job_id: str) -> None:
        """Forget the job in squeue (MinJobAge passed); sacct still knows it."""
        for job in self._targets(slurm_job_id):
            job.in_queue = False

    def forget(self, slurm_job_id: str) -> list[FakeJob]:
        """Slurm loses the job: gone from squeue and from sacct (the record never reached
        slurmdbd). Returns its records; put them back in ``jobs`` to make it reappear."""
        targets = self._targets(slurm_job_id)
        for job in targets:
            del self.jobs[job.slurm_job_id]
        return targets

    def fail_next(self, command: str, exc: MyriagateError) -> None:
        """The next call of ``command`` (squeue, sacct, scancel, tail, ping, sbatch) raises exc."""
        self._fail_next[command] = exc

    def fail_next_submit(self, exc: MyriagateError) -> None:
        self.fail_next("sbatch", exc)

    def lose_response_after_submit(self) -> None:
        """The next submit creates the job, then raises SubmissionUncertain (lost reply)."""
        self._lose_next_submit_response = True

    def set_unreachable(self, unreachable: bool = True) -> None:
        self.reachable = not unreachable

    def write_file(self, path: str, data: bytes) -> None:
        self.files[path] = data

    def job(self, slurm_job_id: str) -> FakeJob:
        return self.jobs[slurm_job_id]

    def job_by_tag(self, tag: str) -> FakeJob | None:
        return next((j for j in self.jobs.values() if j.tag == tag and j.array_parent is None), None)

    def reset_calls(self) -> None:
        self.calls.clear()

    # --- used by FakeSlurmBackend --------------------------------------------------------
    def _targets(self, slurm_job_id: str) -> list[FakeJob]:
        if slurm_job_id in self.arrays:
            return [self.jobs[t] for t in self.arrays[slurm_job_id]]
        if slurm_job_id not in self.jobs:
            raise KeyError(f"no fake job {slurm_job_id}")
        return [self.jobs[slurm_job_id]]

    def _call(self, command: str) -> None:
        self.calls[command] += 1
        if self.on_call is not None:
            self.on_call(command)
        if not self.reachable:
            raise SchedulerUnavailable(f"{self.name}: connection refused")
        exc = self._fail_next.pop(command, None)
        if exc is not None:
            raise exc

    def _next_id(self) -> str:
        return str(next(self._ids))


def _parse_options(script: RenderedScript) -> dict[str, str]:
    """``#SBATCH`` lines of the script, then the argv options (which win, as in sbatch)."""
    options: dict[str, str] = {}
    lines = [m.group(1) for m in map(_SBATCH_LINE.match, script.text.splitlines()) if m]
    for arg in (*lines, *script.sbatch_args):
        if not arg.startswith("--"):
            raise SchedulerRejected(f"sbatch: error: unrecognized option '{arg}'")
        key, _, value = arg[2:].partition("=")
        options[key] = value
    return options


def _parse_time_s(value: str) -> int:
    """Slurm's --time forms: minutes, MM:SS, HH:MM:SS, D-HH[:MM[:SS]]."""
    days = 0
    if "-" in value:
        d, value = value.split("-", 1)
        days = int(d)
        parts = [int(p) for p in value.split(":")] + [0, 0]
        return days * 86400 + parts[0] * 3600 + parts[1] * 60 + parts[2]
    parts = [int(p) for p in value.split(":")]
    if len(parts) == 1:
        return parts[0] * 60
    if len(parts) == 2:
        return parts[0] * 60 + parts[1]
    return parts[0] * 3600 + parts[1] * 60 + parts[2]


def _array_indices(spec: str) -> list[int]:
    indices: list[int] = []
    for part in spec.split("%")[0].split(","):
        bounds, _, step = part.partition(":")
        lo, _, hi = bounds.partition("-")
        indices.extend(range(int(lo), int(hi or lo) + 1, int(step or 1)))
    return indices


def _aggregate_state(states: list[str]) -> str:
    """One Slurm state for an array parent: running wins, then pending, then the worst end."""
    if any(s in ("RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED") for s in states):
        return "RUNNING"
    if any(s not in FINAL_SLURM_STATES for s in states):
        return "PENDING"
    return next(s for s in _FINAL_ORDER if s in states)


class FakeSlurmBackend:
    """The SlurmBackend of one login on a FakeCluster."""

    def __init__(self, cluster: FakeCluster | None = None, login: str = "alice") -> None:
        self.cluster = cluster if cluster is not None else FakeCluster()
        self.login = values.login(login)

    # --- SlurmBackend --------------------------------------------------------------------
    def submit(self, script: RenderedScript, *, tag: str) -> str:
        self.cluster._call("sbatch")
        options = _parse_options(script)
        name = options.get("job-name", "sbatch")
        values.job_name(name)
        partition = options.get("partition", next(iter(self.cluster.partitions)))
        if partition not in self.cluster.partitions:
            raise SchedulerRejected("sbatch: error: invalid partition specified: " + partition)
        time_limit_s = _parse_time_s(options["time"]) if "time" in options else 3600
        if time_limit_s > self.cluster.partitions[partition]:
            raise SchedulerRejected(
                "sbatch: error: Batch job submission failed: Requested time limit is invalid "
                "(missing or exceeds some limit)"
            )
        ntasks = int(options.get("ntasks", "1"))
        cpus = ntasks * int(options.get("cpus-per-task", "1"))
        gpus = sum(
            count for name_, _type, count in values.parse_gres(options["gres"]) if name_ == "gpu"
        ) if "gres" in options else 0  # fmt: skip
        mem_mb = values.parse_memory_mb(options["mem"]) if "mem" in options else 1000 * cpus
        job_id = self.cluster._next_id()
        base = FakeJob(
            slurm_job_id=job_id,
            login=self.login,
            tag=tag,
            name=name,
            script=script.text,
            sbatch_args=script.sbatch_args,
            partition=partition,
            account=options.get("account"),
            time_limit_s=time_limit_s,
            cpus=cpus,
            gpus=gpus,
            nodes=int(options.get("nodes", "1")),
            mem_mb=mem_mb,
            work_dir=options.get("chdir", f"/home/{self.login}"),
            submitted_at=self.cluster.clock(),
            reason="None",
            raw_id=int(job_id),
        )
        if "array" in options:
            values.array(options["array"])
            task_ids = [f"{job_id}_{i}" for i in _array_indices(options["array"])]
            self.cluster.arrays[job_id] = task_ids
            for task_id in task_ids:
                raw = int(self.cluster._next_id())
                self.cluster.jobs[task_id] = replace(
                    base, slurm_job_id=task_id, array_parent=job_id, raw_id=raw
                )
        else:
            self.cluster.jobs[job_id] = base
        if self.cluster._lose_next_submit_response:
            self.cluster._lose_next_submit_response = False
            raise SubmissionUncertain("sbatch: connection lost before the job id came back")
        return job_id

    def find_by_tag(self, tag: str) -> str | None:
        self.cluster._call("squeue")
        for job_id in self._own_ids(in_queue=True):
            if self._record(job_id).tag == tag:
                return job_id
        self.cluster._call("sacct")
        for job_id in self._own_ids(in_queue=False):
            if self._record(job_id).tag == tag:
                return job_id
        return None

    def find_by_tags(self, tags: Collection[str]) -> dict[str, str | None]:
        """One squeue, then one sacct for the tags squeue did not show (as the CLI backend)."""
        found: dict[str, str | None] = dict.fromkeys(tags)
        for in_queue, command in ((True, "squeue"), (False, "sacct")):
            if all(v is not None for v in found.values()):
                break
            self.cluster._call(command)
            for job_id in self._own_ids(in_queue=in_queue):
                tag = self._record(job_id).tag
                if tag in found and found[tag] is None:
                    found[tag] = job_id
        return found

    def status(self, slurm_job_ids: Collection[str]) -> dict[str, JobStatus]:
        ids = [values.slurm_job_id(i) for i in dict.fromkeys(slurm_job_ids)]
        if not ids:
            return {}
        result: dict[str, JobStatus] = {}
        self.cluster._call("squeue")
        for job_id in ids:
            status = self._status(job_id, queue_only=True)
            if status is not None:
                result[job_id] = status
        rest = [i for i in ids if i not in result]
        if rest:
            self.cluster._call("sacct")
            for job_id in rest:
                status = self._status(job_id, queue_only=False)
                if status is not None:
                    result[job_id] = status
        return result

    def cancel(self, slurm_job_id: str) -> None:
        values.slurm_job_id(slurm_job_id)
        self.cluster._call("scancel")
        try:
            targets = self.cluster._targets(slurm_job_id)
        except KeyError:
            return  # scancel: "Invalid job id specified" for a long-gone job: nothing to do
        if any(job.login != self.login for job in targets):
            raise PermissionDenied(f"scancel: error: Kill job error on job id {slurm_job_id}: "
                                   "Access/permission denied")  # fmt: skip
        for job in targets:
            if job.state not in FINAL_SLURM_STATES:
                now = self.cluster.clock()
                job.state, job.ended_at, job.reason = "CANCELLED", now, "None"
                job.exit_code, job.signal = 0, 15 if job.started_at else 0

    def accounting(self, slurm_job_ids: Collection[str]) -> dict[str, JobUsage]:
        """Like ``sacct --allocations --duplicates --jobs=…``: one line per run of each job or
        array task, combined per requested id as the CLI backend does."""
        ids = [values.slurm_job_id(i) for i in dict.fromkeys(slurm_job_ids)]
        if not ids:
            return {}
        self.cluster._call("sacct")
        lines: list[JobUsage] = []
        for job_id in ids:
            try:
                targets = self.cluster._targets(job_id)
            except KeyError:
                continue
            for job in targets:
                lines += self._run_lines(job)
        return runs.combine(ids, lines)

    def accounting_by_accounts(
        self, accounts: Collection[str], since: datetime, until: datetime, slurm_job_ids: Collection[str] = ()
    ) -> list[JobUsage]:
        """Every login's ended jobs (array tasks one by one) of these accounts, like
        ``sacct --allusers --duplicates --accounts=…`` (``--jobs=…`` when ids are given), every
        run of a requeued job included."""
        if not accounts:
            return []
        self.cluster._call("sacct")
        wanted = set(accounts)
        out: list[JobUsage] = []
        for job in self.cluster.jobs.values():
            if job.account not in wanted or job.state not in FINAL_SLURM_STATES or job.ended_at is None:
                continue
            if not since <= job.ended_at < until:
                continue
            if slurm_job_ids and job.slurm_job_id not in slurm_job_ids:
                continue
            out.append(runs.one_job(self._run_lines(job)))
        return out

    def comments(self, slurm_job_ids: Collection[str]) -> dict[str, str]:
        """Each known job's comment (its tag), like ``sacct --jobs=… --format=Comment``."""
        self.cluster._call("sacct")
        return {i: job.tag or "" for i in slurm_job_ids if (job := self.cluster.jobs.get(i)) is not None}

    def _run_lines(self, job: FakeJob) -> list[JobUsage]:
        """The accounting lines of one job or task: its earlier runs, then the current one."""
        now = self.cluster.clock()
        spans = [*job.runs, (job.started_at, job.ended_at or now, job.state)]
        out: list[JobUsage] = []
        for started, ended, state in spans:
            elapsed = int((ended - started).total_seconds()) if started is not None else 0
            final = state in FINAL_SLURM_STATES
            out.append(
                JobUsage(
                    slurm_job_id=job.slurm_job_id,
                    state=_STATES.get(state),
                    elapsed_s=elapsed,
                    alloc_cpus=job.cpus,
                    alloc_gpus=job.gpus,
                    alloc_nodes=job.nodes,
                    alloc_mem_mb=job.mem_mb,
                    partition=job.partition,
                    account=job.account,
                    user=job.login,
                    started_at=started,
                    ended_at=ended if final or state == "REQUEUED" else None,
                    exit_code=(job.exit_code if state == job.state else 0) if final else None,
                    tres_alloc={"cpu": job.cpus, "mem": job.mem_mb, "node": job.nodes}
                    | ({"gres/gpu": job.gpus} if job.gpus else {}),
                )
            )
        return out

    def tail(self, path: str, max_bytes: int = 65536) -> bytes:
        self.cluster._call("tail")
        if max_bytes <= 0:
            return b""
        return self.cluster.files.get(path, b"")[-max_bytes:]

    def read_private(self, path: str, home: str, max_bytes: int) -> bytes:
        self.cluster._call("read_private")
        if not path.startswith(home.rstrip("/") + "/"):
            raise PermissionDenied(f"{path} is not below {home}")
        if path in self.cluster.not_private:
            raise PermissionDenied(f"{path} or a directory above it is not the login's alone")
        return self.cluster.files.get(path, b"")[-max_bytes:] if max_bytes > 0 else b""

    def home_dir(self) -> str:
        self.cluster._call("home_dir")
        return f"/home/{self.login}"

    def ping(self) -> ClusterHealth:
        self.cluster.calls["ping"] += 1
        if not self.cluster.reachable:
            return ClusterHealth(reachable=False, detail=f"{self.cluster.name}: connection refused")
        exc = self.cluster._fail_next.pop("ping", None)
        if exc is not None:
            return ClusterHealth(reachable=False, detail=exc.detail)
        return ClusterHealth(
            reachable=True,
            slurm_version=self.cluster.slurm_version,
            partitions={name: "up" for name in self.cluster.partitions},
            latency_ms=0.0,
        )

    # --- internals -----------------------------------------------------------------------
    def _own_ids(self, *, in_queue: bool) -> list[str]:
        """Top-level ids (jobs and array parents) of this login, in or out of squeue."""
        ids: list[str] = []
        for job_id, job in self.cluster.jobs.items():
            if job.login != self.login or job.in_queue != in_queue:
                continue
            top = job.array_parent or job_id
            if top not in ids:
                ids.append(top)
        return ids

    def _record(self, job_id: str) -> FakeJob:
        return self.cluster._targets(job_id)[0]

    def _status(self, job_id: str, *, queue_only: bool) -> JobStatus | None:
        try:
            targets = self.cluster._targets(job_id)
        except KeyError:
            return None
        if queue_only and not any(t.in_queue for t in targets):
            return None
        # sacct knows only jobs that left the queue or were seen there (all, here).
        tasks = tuple(self._one(t) for t in targets)
        if job_id not in self.cluster.arrays:
            return tasks[0]
        state = _aggregate_state([t.state for t in targets])
        ended = [t.ended_at for t in targets if t.ended_at is not None]
        started = [t.started_at for t in targets if t.started_at is not None]
        final = state in FINAL_SLURM_STATES
        worst = next((t for t in targets if t.state == state), targets[0])
        return JobStatus(
            slurm_job_id=job_id,
            state=_STATES.get(state),
            slurm_state=state,
            reason=worst.reason,
            exit_code=max((t.exit_code or 0) for t in targets) if final else None,
            signal=worst.signal if final else None,
            work_dir=targets[0].work_dir,
            submitted_at=targets[0].submitted_at,
            started_at=min(started) if started else None,
            ended_at=max(ended) if final and ended else None,
            array_tasks=tasks,
        )

    def _one(self, job: FakeJob) -> JobStatus:
        return JobStatus(
            slurm_job_id=job.slurm_job_id,
            state=_STATES.get(job.state),
            slurm_state=job.state,
            reason=job.reason,
            exit_code=job.exit_code,
            signal=job.signal,
            work_dir=job.work_dir,
            nodes="vm" if job.started_at else None,
            submitted_at=job.submitted_at,
            started_at=job.started_at,
            ended_at=job.ended_at,
            raw_job_id=str(job.raw_id) if job.started_at or job.array_parent is None else None,
        )


class FakeSlurmBackendFactory:
    """ports.SlurmBackendFactory over one FakeCluster; backends are cached per login."""

    def __init__(self, cluster: FakeCluster | None = None, service_login: str = "myriagate") -> None:
        self.cluster = cluster if cluster is not None else FakeCluster()
        self.service_login = service_login
        self._backends: dict[str, FakeSlurmBackend] = {}

    def for_login(self, login: str) -> FakeSlurmBackend:
        if login not in self._backends:
            self._backends[login] = FakeSlurmBackend(self.cluster, login)
        return self._backends[login]

    def for_service(self) -> FakeSlurmBackend:
        return self.for_login(self.service_login)
