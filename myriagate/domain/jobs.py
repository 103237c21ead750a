"""Job requests, statuses and usage as plain data."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from myriagate.domain.states import JobState

TAG_PREFIX = "mg:"


def submission_tag(job_id: object) -> str:
    """The --comment value that ties a Slurm job to its gateway job (``mg:<uuid>``)."""
    return f"{TAG_PREFIX}{job_id}"


class GresRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: str | None = None
    count: int = Field(ge=1)

    def render(self) -> str:
        return ":".join(p for p in (self.name, self.type, str(self.count)) if p)


class JobSpec(BaseModel):
    """What a job asks for, in sbatch's terms, after parsing and merging overrides.

    Each field has passed the value validators in ``domain.values``; profile limits are
    checked separately (``profiles.validation``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # One field per accepted option of the option table (``domain.sbatch_options``); a test
    # keeps the two in step. Values are as the table's readers return them.
    job_name: str | None = None
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    reservation: str | None = None
    time_limit_s: int | None = Field(default=None, ge=1)
    time_min_s: int | None = Field(default=None, ge=1)
    begin: str | None = None
    deadline: str | None = None
    dependency: str | None = None
    kill_on_invalid_dep: Literal["yes", "no"] | None = None
    nice: int | None = Field(default=None, ge=0)
    requeue: bool | None = None
    no_requeue: bool | None = None
    signal: str | None = None
    nodes: int | None = Field(default=None, ge=1)
    ntasks: int | None = Field(default=None, ge=1)
    ntasks_per_node: int | None = Field(default=None, ge=1)
    ntasks_per_socket: int | None = Field(default=None, ge=1)
    cpus_per_task: int | None = Field(default=None, ge=1)
    threads_per_core: int | None = Field(default=None, ge=1)
    hint: str | None = None
    distribution: str | None = None
    exclusive: Literal["node", "user", "mcs"] | None = None
    oversubscribe: bool | None = None
    mem_mb: int | None = Field(default=None, ge=1)
    mem_per_cpu_mb: int | None = Field(default=None, ge=1)
    mem_per_gpu_mb: int | None = Field(default=None, ge=1)
    tmp_mb: int | None = Field(default=None, ge=1)
    constraint: str | None = None
    nodelist: str | None = None
    exclude: str | None = None
    switches: str | None = None
    licenses: str | None = None
    gres: tuple[GresRequest, ...] = ()
    gpus: str | None = None
    gpus_per_node: str | None = None
    gpus_per_task: str | None = None
    cpus_per_gpu: int | None = Field(default=None, ge=1)
    array: str | None = None
    output: str | None = None
    error: str | None = None
    input: str | None = None
    open_mode: Literal["append", "truncate"] | None = None
    chdir: str | None = None
    export: str | None = None
    mail_type: str | None = None
    mail_user: str | None = None

    @property
    def gres_gpus_per_node(self) -> int:
        """GPUs per node asked through ``--gres=gpu:…`` (``--gpus*`` are separate fields)."""
        return sum(g.count for g in self.gres if g.name == "gpu")


@dataclass(frozen=True)
class RenderedScript:
    """A job script ready for sbatch: the text goes on stdin, the options on the argv.

    ``sbatch_args`` are complete long options (``--partition=court``), one argv element
    each, never joined into a string by anyone but SshRunner.
    """

    text: str
    sbatch_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobStatus:
    """One job's state as Slurm reports it, translated to gateway terms."""

    slurm_job_id: str
    state: JobState | None  # None: a Slurm state we do not know; keep the previous one
    slurm_state: str
    reason: str | None = None
    # How an ended job ended, from accounting (domain.job_explanations): its peak memory (the
    # largest MaxRSS of its steps), the memory and time it asked for, and the login that
    # cancelled it (sacct's "CANCELLED by <uid>", named on the cluster; never a bare uid).
    max_rss_bytes: int | None = None
    mem_requested_bytes: int | None = None
    time_limit_s: int | None = None
    cancelled_by: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    work_dir: str | None = None
    nodes: str | None = None
    submitted_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    array_tasks: tuple[JobStatus, ...] = ()
    # Slurm's own numeric id of this job or array task (``%j`` in output file names): an array
    # task gets one of its own when it starts; None while it waits.
    raw_job_id: str | None = None

    @property
    def fingerprint(self) -> str:
        """A short digest of everything tracking copies from this status onto a job.

        Stored with the job, it lets a tick skip the (many) jobs whose answer did not change
        without loading them.
        """
        # One f-string, times as epoch seconds: a tick computes this for every unfinished job,
        # and str(datetime) or a generic join cost more than the rest of the tick's parsing.
        sub, start, end = (
            t.timestamp() if t else None for t in (self.submitted_at, self.started_at, self.ended_at)
        )
        text = (
            f"{self.state}\x1f{self.slurm_state}\x1f{self.reason}\x1f{self.exit_code}\x1f{self.signal}"
            f"\x1f{self.work_dir}\x1f{self.nodes}\x1f{sub}\x1f{start}\x1f{end}"
        )
        ended = (self.max_rss_bytes, self.mem_requested_bytes, self.time_limit_s, self.cancelled_by)
        if any(v is not None for v in ended):
            # Only when known, so the fingerprints stored before these existed stay the same.
            text += "\x1d" + "\x1f".join(str(v) for v in ended)
        if self.array_tasks:
            text += "".join(
                f"\x1e{t.slurm_job_id}\x1f{t.slurm_state}\x1f{t.exit_code}" for t in self.array_tasks
            )
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class JobUsage:
    """What a finished job really used, from Slurm's accounting (integers only)."""

    slurm_job_id: str
    state: JobState | None
    elapsed_s: int
    alloc_cpus: int
    alloc_gpus: int = 0
    alloc_nodes: int = 1
    alloc_mem_mb: int = 0
    partition: str | None = None
    account: str | None = None
    user: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    exit_code: int | None = None
    tres_alloc: dict[str, int] = field(default_factory=dict)
    # The separate runs this usage adds up (each run of a requeued job, each array task, with
    # its own allocation and elapsed time); empty for a job that ran once. Charged run by run.
    runs: tuple[JobUsage, ...] = ()


def array_task_count(array: str) -> int:
    """How many tasks an ``--array`` index list makes (``0-15`` -> 16, ``1,3,5-9:2%4`` -> 5)."""
    count = 0
    for part in array.split("%", 1)[0].split(","):
        bounds, _, step = part.partition(":")
        low, _, high = bounds.partition("-")
        count += len(range(int(low), int(high or low) + 1, int(step or 1)))
    return count
