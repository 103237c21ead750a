"""Job ids as people type them: a full id, the short id ``jobs list`` shows, or a Slurm job id.

The gateway decides which job a reference names (``GET /jobs/{ref}?cluster=``), so the CLI,
the API and the pages agree; an ambiguous reference comes back as ``AmbiguousJob`` with its
candidates, which ``output.fail`` lists before the error line.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated

import typer

from myriagate.cli.client import GatewayClient
from myriagate.errors import FieldError, InvalidRequest
from myriagate.web.api.schemas import JobDetail, JobOut

JOB_REF_HELP = "Job: the id `myriagate jobs list` shows (8+ characters), the full id, or the Slurm job id."
JobRefArg = Annotated[str, typer.Argument(help=JOB_REF_HELP, show_default=False)]
ClusterRefOpt = Annotated[
    str | None,
    typer.Option("--cluster", "-M", help="Cluster of a Slurm job id (when it exists on several)."),
]

# One URL path segment, and nothing a shell or an option parser would read twice.
_REF = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,63}\Z")


def job_ref(text: str) -> str:
    """``text`` stripped, if it can be a job reference at all (the gateway says which job)."""
    given = text.strip()
    if not _REF.match(given):
        raise InvalidRequest(
            f"{text!r} is not a job id: give the id `myriagate jobs list` shows, the full id, "
            "or the Slurm job id",
            fields=[FieldError(("job_id",), "not a job id")],
        )
    return given


_TASK = re.compile(r"^[0-9]{1,20}_([0-9]{1,10})\Z")


def task_of(text: str, task: int | None) -> int | None:
    """The array task to read: ``--task`` as given, or the task a Slurm task id names
    (``1234_5`` as squeue prints it: task 5); InvalidRequest when the two disagree."""
    named = _TASK.match(text.strip())
    if named is None:
        return task
    index = int(named.group(1))
    if task is not None and task != index:
        raise InvalidRequest(
            f"{text.strip()} is task {index} of its array, not --task {task}: give one or the other",
            fields=[FieldError(("task",), "contradicts the job id")],
        )
    return index


def shown_id(job: JobOut) -> str:
    """The id people type next: the short id ``jobs list`` shows when the gateway gave one
    (every job command takes it), else the full id."""
    return job.short_id or str(job.id)


def full_id(text: str) -> uuid.UUID | None:
    """The UUID ``text`` spells in full, else None (a prefix or a Slurm id)."""
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        return None


def fetch_job(client: GatewayClient, text: str, cluster: str | None = None) -> JobDetail:
    """The job ``text`` names (one API call); NotFound, or AmbiguousJob with the candidates."""
    ref = job_ref(text)
    if cluster is None:
        return client.job(ref)
    # The reference is letters, digits, '-' and '_' (job_ref): one path segment as it is.
    response = client.request("GET", f"/jobs/{ref}", params={"cluster": cluster})
    return client._model(JobDetail, response)


def resolve_job_id(client: GatewayClient, text: str, cluster: str | None = None) -> uuid.UUID:
    """The full id of the job ``text`` names: as typed when it is one, else asked of the gateway."""
    given = full_id(text)
    if given is not None and cluster is None:
        return given
    return fetch_job(client, text, cluster).id
