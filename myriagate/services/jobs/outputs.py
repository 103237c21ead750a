"""Reading the end of a job's output or error file, as the job's own login."""

from __future__ import annotations

import uuid
from typing import Literal, Protocol

import structlog
from sqlalchemy.orm import Session

from myriagate.db.models.users import User
from myriagate.db.repos import jobs as jobs_repo
from myriagate.db.session import release_connection
from myriagate.domain import array_tasks
from myriagate.domain.outputs import resolve_output_path
from myriagate.errors import FieldError, InvalidRequest, NotFound, Text
from myriagate.ports import SlurmBackendFactory
from myriagate.services.common import authz
from myriagate.services.jobs import array_tasks as array_tasks_repo
from myriagate.services.jobs.dispatch import known_work_dir

log = structlog.get_logger(__name__)

Stream = Literal["output", "error"]
DEFAULT_MAX_BYTES = 65536


class OutputSource(Protocol):
    """What the output file names are made of: a job row or its read model (``JobRecord``)."""

    @property
    def slurm_job_id(self) -> str | None: ...
    @property
    def work_dir(self) -> str | None: ...
    @property
    def output_pattern(self) -> str | None: ...
    @property
    def error_pattern(self) -> str | None: ...
    @property
    def job_name(self) -> str | None: ...
    @property
    def cluster_login(self) -> str: ...


def output_path(
    job: OutputSource,
    stream: Stream = "output",
    array_task_id: int | None = None,
    task_job_id: str | None = None,
) -> str | None:
    """The file Slurm writes ``stream`` to, or None while it cannot be known (no Slurm id yet).

    For an array job, ``array_task_id`` picks one task's file (``%A``/``%a`` in the pattern)
    and ``task_job_id``, the task's own Slurm id once it started, is its ``%j``.
    """
    if job.slurm_job_id is None or job.work_dir is None:
        return None
    # Slurm writes stderr with stdout unless --error was given; None means Slurm's default.
    pattern = job.output_pattern if stream == "output" else (job.error_pattern or job.output_pattern)
    # For an array task Slurm's %j is the task's own numeric id, known once it started; until
    # then the parent id stands in (Slurm's default pattern for arrays uses %A_%a anyway).
    own = task_job_id if array_task_id is not None and task_job_id and task_job_id.isdigit() else None
    return resolve_output_path(
        pattern,
        work_dir=job.work_dir,
        slurm_job_id=own or job.slurm_job_id.partition("_")[0],
        array_job_id=job.slurm_job_id if array_task_id is not None else None,
        array_task_id=array_task_id,
        job_name=job.job_name or "sbatch",  # sbatch's name for an unnamed script read on stdin
        login=job.cluster_login,
    )


def read_output(
    session: Session,
    *,
    job_id: uuid.UUID,
    user: User,
    backends: SlurmBackendFactory,
    stream: Stream = "output",
    max_bytes: int = DEFAULT_MAX_BYTES,
    array_task_id: int | None = None,
) -> bytes:
    """The last ``max_bytes`` of the job's ``stream`` (b"" before the file exists)."""
    job = jobs_repo.get_visible(session, job_id, user)
    if job is None:
        raise NotFound(Text("no job %(job)s", job=job_id))
    authz.require_act_on_job(user, job)
    backend = backends.for_login(job.cluster_login)
    if job.slurm_job_id is not None and (job.work_dir is None or not job.work_dir.startswith("/")):
        # Submitted while the cluster could not tell the login's home: learn it now, once.
        release_connection(session)  # not held through the SSH call
        job.work_dir = known_work_dir(backend, job.work_dir)
        session.commit()
    task_job_id = None
    if array_task_id is not None:
        task_job_id = _array_task(session, job.id, job.spec.get("array"), array_task_id)
    path = output_path(job, stream, array_task_id, task_job_id)
    if path is None:
        return b""
    log.debug("job.read_output", job_id=str(job.id), slurm_job_id=job.slurm_job_id, stream=stream)
    release_connection(session)  # not held through the SSH call
    return backend.tail(path, max_bytes)


def _array_task(session: Session, job_id: uuid.UUID, spec: object, index: int) -> str | None:
    """The task's own Slurm id (None before it started); InvalidRequest for an index the
    array does not hold, so no file name is made up for a task that never existed."""
    if not isinstance(spec, str) or not array_tasks.has_index(spec, index):
        # The task number as typed (str): a number format would group its digits.
        raise InvalidRequest(
            Text("this job has no array task %(task)s (its tasks: %(tasks)s)", task=str(index), tasks=spec)
            if isinstance(spec, str)
            else Text("this job has no array task %(task)s", task=str(index)),
            fields=[FieldError(("query", "task"), "no such task")],
        )
    return array_tasks_repo.task_raw_id(session, job_id, index)
