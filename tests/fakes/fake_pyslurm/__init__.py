"""A stand-in for the ``pyslurm`` 25.11 package, over a FakeCluster (tests only).

It mirrors the names, signatures and value types PyslurmBackend uses, taken from pyslurm's
sources (``pyslurm/core/job/{job,submission}.pxd``, ``pyslurm/db/job.pxd``,
``pyslurm/core/error.pyx``): ``JobSubmitDescription(**kwargs)`` with ``script``, ``comment``,
``load_sbatch_options(overwrite=False)`` and ``submit() -> int``; ``Job(job_id)`` with
``cancel()``; ``Job.load(job_id)``; ``Jobs.load()`` (a dict of every job the controller
holds, keyed by raw job id, with pending array tasks folded into one record whose
``array_tasks_waiting`` is ``"0-4"``, as slurmctld does); ``db.Jobs.load(db_filter)`` and
``db.JobFilter``; ``Partitions.load()``; ``RPCError(errno, msg)``; ``version()``. Times are
Unix timestamps (int), as in pyslurm.

Bind it to a cluster with ``connect(cluster, login)`` before use: pyslurm acts as the
process's user, here ``login``. Each call counts as the command it replaces in
``cluster.calls`` (``Jobs.load`` = squeue, ``db.Jobs.load`` = sacct, …).
"""

from __future__ import annotations

from typing import Any

from myriagate.domain.jobs import RenderedScript
from myriagate.errors import MyriagateError, PermissionDenied
from tests.fakes.fake_slurm import FakeCluster, FakeJob, FakeSlurmBackend

_STATE: dict[str, Any] = {"cluster": FakeCluster(), "login": "alice", "version": "25.11.0"}


def connect(cluster: FakeCluster, login: str = "alice", version: str = "25.11.0") -> None:
    _STATE.update(cluster=cluster, login=login, version=version)


def _cluster() -> FakeCluster:
    cluster: FakeCluster = _STATE["cluster"]
    return cluster


def version() -> str:
    return str(_STATE["version"])


class PyslurmError(Exception):
    pass


class RPCError(PyslurmError):
    """Slurm RPC failure: ``errno`` and ``msg`` as pyslurm sets them."""

    def __init__(self, errno: int = -1, msg: str | None = None) -> None:
        self.errno = errno
        self.msg = msg or "Unspecified error"
        super().__init__(self.msg)


def _call(command: str) -> None:
    try:
        _cluster()._call(command)
    except MyriagateError as exc:
        raise RPCError(msg="Unable to contact slurm controller (connect failure)") from exc


def _epoch(value: Any) -> int:
    return int(value.timestamp()) if value is not None else 0


def _folded_ranges(indices: list[int]) -> str:
    """[0, 1, 2, 4] -> "0-2,4" (slurmctld's array_task_str)."""
    parts: list[str] = []
    start = prev = indices[0]
    for i in [*indices[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(f"{start}-{prev}" if prev != start else str(start))
        if i is not None:
            start = prev = i
    return ",".join(parts)


class _Record:
    """Attributes common to pyslurm.Job and pyslurm.db.Job, read from a FakeJob."""

    def __init__(self, job: FakeJob, *, folded: list[FakeJob] | None = None, db: bool = False) -> None:
        final = job.state in _FINAL
        self.id = int(job.array_parent) if folded and job.array_parent is not None else job.raw_id
        self.name = job.name
        self.user_name = job.login
        self.account = job.account
        self.partition = job.partition
        self.state = job.state
        self.state_reason = job.reason
        self.exit_code = job.exit_code if final else None
        self.exit_code_signal = job.signal if final else None
        # slurmdbd stores the comment when the job ends (AccountingStoreFlags=job_comment).
        self.comment = (job.tag if final else None) if db else job.tag
        self.working_directory = job.work_dir
        self.submit_time = _epoch(job.submitted_at)
        self.start_time = _epoch(job.started_at)
        self.end_time = _epoch(job.ended_at)
        self.cpus = job.cpus
        self.memory = job.mem_mb
        self.num_nodes = job.nodes
        self.gres = {"gpu": job.gpus} if job.gpus else {}
        self.array_id = int(job.array_parent) if job.array_parent else None
        self.array_task_id = None if folded or not job.array_parent else int(job.slurm_job_id.split("_")[1])
        self.array_tasks_waiting = (
            _folded_ranges(sorted(int(j.slurm_job_id.split("_")[1]) for j in folded)) if folded else None
        )
        nodes = "vm" if job.started_at else None
        self.allocated_nodes = nodes
        self.nodelist = nodes
        started = job.started_at
        end = job.ended_at or (_cluster().clock() if started else None)
        self.elapsed_time = int((end - started).total_seconds()) if started and end else 0


_FINAL = frozenset(
    {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED",
     "BOOT_FAIL", "DEADLINE"}
)  # fmt: skip


def _records(jobs: list[FakeJob], *, db: bool) -> dict[int, _Record]:
    out: dict[int, _Record] = {}
    pending_tasks: dict[str, list[FakeJob]] = {}
    for job in jobs:
        if job.array_parent and job.state == "PENDING":
            pending_tasks.setdefault(job.array_parent, []).append(job)
            continue
        record = _Record(job, db=db)
        out[record.id] = record
    for tasks in pending_tasks.values():
        record = _Record(tasks[0], folded=tasks, db=db)
        out[record.id] = record
    return out


class Job(_Record):
    """pyslurm.Job: a job in slurmctld."""

    def __init__(self, job_id: int) -> None:  # no record loaded, like pyslurm's Job(id)
        self.id = int(job_id)

    @staticmethod
    def load(job_id: int) -> Job:
        _call("squeue")
        for record in Jobs._load().values():
            if record.id == int(job_id):
                return record
        raise RPCError(2017, "Invalid job id specified")

    def cancel(self) -> None:
        _call("scancel")
        cluster = _cluster()
        job = next((j for j in cluster.jobs.values() if j.raw_id == self.id), None)
        target = job.slurm_job_id if job else str(self.id)
        if job is None and target not in cluster.arrays:
            raise RPCError(2017, "Invalid job id specified")
        if job is not None and job.state in _FINAL:
            raise RPCError(2021, "Job/step already completing or completed")
        try:
            backend = FakeSlurmBackend(cluster, _STATE["login"])
            cluster.calls["scancel"] -= 1  # counted once above
            backend.cancel(target)
        except PermissionDenied as exc:
            raise RPCError(1, "Access/permission denied") from exc


def _as_job(record: _Record) -> Job:
    job = Job.__new__(Job)
    job.__dict__.update(record.__dict__)
    return job


class Jobs(dict[int, Job]):
    """pyslurm.Jobs: every job slurmctld holds, keyed by raw job id."""

    @staticmethod
    def _load() -> dict[int, Job]:
        queued = [j for j in _cluster().jobs.values() if j.in_queue]
        return {k: _as_job(r) for k, r in _records(queued, db=False).items()}

    @staticmethod
    def load(preload_passwd_info: bool = False) -> Jobs:
        _call("squeue")
        return Jobs(Jobs._load())


# Text attributes and the sbatch option each stands for (25.11 names).
_ATTRIBUTE_OPTIONS = {
    "name": "job-name", "account": "account", "array": "array", "begin_time": "begin",
    "working_directory": "chdir", "nodes": "nodes", "memory_per_cpu": "mem-per-cpu",
    "memory_per_node": "mem", "memory_per_gpu": "mem-per-gpu", "partitions": "partition",
    "qos": "qos", "time_limit": "time", "time_limit_min": "time-min", "cpus_per_task": "cpus-per-task",
    "gres_per_node": "gres", "ntasks": "ntasks", "ntasks_per_node": "ntasks-per-node",
    "ntasks_per_socket": "ntasks-per-socket", "threads_per_core": "threads-per-core",
    "standard_error": "error", "standard_output": "output", "standard_in": "input",
    "dependencies": "dependency", "constraints": "constraint", "reservations": "reservation",
    "deadline": "deadline", "nice": "nice", "signal": "signal", "switches": "switches",
    "hint": "hint", "distribution": "distribution", "temporary_disk_per_node": "tmp",
    "required_nodes": "nodelist", "excluded_nodes": "exclude", "licenses": "licenses",
    "gpus": "gpus", "gpus_per_node": "gpus-per-node", "gpus_per_task": "gpus-per-task",
    "cpus_per_gpu": "cpus-per-gpu", "log_files_open_mode": "open-mode", "mail_types": "mail-type",
    "mail_user": "mail-user",
}  # fmt: skip
_SUBMIT_ATTRIBUTES = (
    *_ATTRIBUTE_OPTIONS,
    "user_id",
    "group_id",
    "priority",
    "comment",
    "script",
    "script_args",
    "environment",
    "get_user_environment",
    "is_requeueable",
    "resource_sharing",
    "kill_on_invalid_dependency",
)


def _other_args(desc: JobSubmitDescription) -> list[str]:
    """sbatch options for the attributes that are not plain text (flags, the environment)."""
    args: list[str] = []
    requeue = getattr(desc, "is_requeueable", None)
    if requeue is not None:
        args.append("--requeue" if requeue else "--no-requeue")
    sharing = getattr(desc, "resource_sharing", None)
    if sharing is not None:
        args.append({"no": "--exclusive", "yes": "--oversubscribe"}.get(sharing, f"--exclusive={sharing}"))
    kill = getattr(desc, "kill_on_invalid_dependency", None)
    if kill is not None:
        args.append(f"--kill-on-invalid-dep={'yes' if kill else 'no'}")
    environment = getattr(desc, "environment", None)
    if isinstance(environment, dict):
        extra = [f"{k}={v}" for k, v in environment.items() if k not in {"HOME", "USER", "LOGNAME"}]
        if extra:
            args.append("--export=ALL," + ",".join(extra))
    elif environment is not None:
        args.append(f"--export={environment}")
    return args


class JobSubmitDescription:
    """pyslurm.JobSubmitDescription: unknown attribute names are refused, as by the cdef class."""

    # The attributes this fake reads itself (every name in _SUBMIT_ATTRIBUTES starts as None).
    script: str | None
    user_id: int | str | None
    comment: str | None
    priority: int | None

    def __init__(self, **kwargs: Any) -> None:
        for name in _SUBMIT_ATTRIBUTES:
            object.__setattr__(self, name, None)
        for key, value in kwargs.items():
            setattr(self, key, value)

    def __setattr__(self, key: str, value: Any) -> None:
        if key not in _SUBMIT_ATTRIBUTES:
            raise AttributeError(f"'JobSubmitDescription' object has no attribute '{key}'")
        object.__setattr__(self, key, value)

    def load_sbatch_options(self, overwrite: bool = False) -> None:
        if not self.script:
            raise ValueError("You need to set the 'script' attribute first.")
        by_option = {option: attr for attr, option in _ATTRIBUTE_OPTIONS.items()}
        for line in str(self.script).splitlines():
            if not line.startswith("#SBATCH --"):
                continue
            option, _, value = line[len("#SBATCH --") :].strip().partition("=")
            attr = by_option.get(option)
            if attr is not None and (overwrite or getattr(self, attr) is None):
                setattr(self, attr, value)

    def submit(self) -> int:
        args = [f"--{opt}={getattr(self, attr)}" for attr, opt in _ATTRIBUTE_OPTIONS.items()
                if getattr(self, attr) is not None]  # fmt: skip
        args += _other_args(self)
        _STATE["last_description"] = dict(self.__dict__)
        cluster = _cluster()
        login = str(self.user_id) if self.user_id is not None else _STATE["login"]
        before = set(cluster.jobs)
        try:
            job_id = FakeSlurmBackend(cluster, login).submit(
                RenderedScript(str(self.script), tuple(args)), tag=str(self.comment or "")
            )
        except MyriagateError as exc:
            if exc.transient:
                raise RPCError(5004, "Socket timed out on send/recv operation") from exc
            raise RPCError(msg=exc.detail) from exc
        finally:
            for new in set(cluster.jobs) - before:
                if self.priority == 0:
                    cluster.jobs[new].reason = "JobHeldUser"
        return int(job_id)


class Partition:
    def __init__(self, name: str, state: str = "UP") -> None:
        self.name = name
        self.state = state


class Partitions(dict[str, Partition]):
    @staticmethod
    def load() -> Partitions:
        cluster = _cluster()
        cluster.calls["ping"] += 1
        if not cluster.reachable:
            raise RPCError(msg="Unable to contact slurm controller (connect failure)")
        return Partitions({name: Partition(name) for name in cluster.partitions})


from tests.fakes.fake_pyslurm import db  # noqa: E402  (pyslurm exposes pyslurm.db the same way)

__all__ = [
    "Job", "JobSubmitDescription", "Jobs", "Partition", "Partitions", "PyslurmError", "RPCError",
    "connect", "db", "version",
]  # fmt: skip
