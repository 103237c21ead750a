"""``{job_id}`` in the job routes: a full id, a unique prefix of it, or a Slurm job id.

Every ``/jobs/{job_id}…`` route takes its job through ``JobIdRef``, so the API, the pages
built on it and the CLI read a job reference the same way (``services.jobs.lookup``):
404 when no job the caller may see matches (another user's job included), 409
``ambiguous_job`` with the ``candidates`` when several do, 422 when the text cannot be a job
id at all.
"""

from __future__ import annotations

import functools
from typing import Annotated
from uuid import UUID

import anyio.to_thread
from fastapi import Depends, Path, Query

from myriagate.services.jobs import lookup
from myriagate.web.deps import CurrentUser, DbSession

JOB_REF_DESCRIPTION = (
    "The job: its full id, the first 8 or more characters of it (as lists show them in "
    "short_id), or its Slurm job id"
)
CLUSTER_DESCRIPTION = "The cluster of a Slurm job id, when the same id exists on several clusters"


async def resolve_job_id(
    user: CurrentUser,
    session: DbSession,
    job_id: Annotated[str, Path(max_length=lookup.MAX_REF_LENGTH, description=JOB_REF_DESCRIPTION)],
    cluster: Annotated[str | None, Query(max_length=64, description=CLUSTER_DESCRIPTION)] = None,
) -> UUID:
    """The gateway id of the job ``job_id`` names among those the caller may see.

    A full id (what lists and links give) is read on the event loop, with no database call:
    the endpoint reads the job anyway. Only a prefix or a Slurm id takes a query, in the
    thread pool; a plain ``def`` would cost every request an extra wait for a worker thread.
    """
    reference = lookup.parse_reference(job_id)
    if reference.full_id is not None and cluster is None:
        return reference.full_id
    return await anyio.to_thread.run_sync(
        functools.partial(lookup.find_job_id, session, user=user, text=job_id, cluster=cluster)
    )


JobIdRef = Annotated[UUID, Depends(resolve_job_id)]
