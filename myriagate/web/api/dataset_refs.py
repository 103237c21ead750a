"""``{dataset_id}`` in the dataset routes: a full id or a unique prefix of it (8+ hex digits).

Every ``/datasets/{dataset_id}…`` route takes its dataset through ``DatasetIdRef``, so the API,
the pages and the CLI read a dataset reference the same way (``services.staging.dataset_lookup``),
as the job routes read a job's: 404 when no dataset the caller may see matches (another user's
included), 409 ``ambiguous_dataset`` with the ``candidates`` when several do, 422 when the text
cannot be a dataset id at all.
"""

from __future__ import annotations

import functools
from typing import Annotated
from uuid import UUID

import anyio.to_thread
from fastapi import Depends, Path

from myriagate.services.staging import dataset_lookup
from myriagate.web.deps import CurrentUser, DbSession

DATASET_REF_DESCRIPTION = (
    "The dataset: its full id, or the first 8 or more characters of it (as lists show them in short_id)"
)


async def resolve_dataset_id(
    user: CurrentUser,
    session: DbSession,
    dataset_id: Annotated[
        str, Path(max_length=dataset_lookup.MAX_REF_LENGTH, description=DATASET_REF_DESCRIPTION)
    ],
) -> UUID:
    """The id of the dataset ``dataset_id`` names among those the caller may see; a full id
    is read on the event loop with no database call (the endpoint reads the dataset anyway),
    only a prefix takes a query, in the thread pool."""
    reference = dataset_lookup.parse_reference(dataset_id)
    if isinstance(reference, UUID):
        return reference
    return await anyio.to_thread.run_sync(
        functools.partial(dataset_lookup.find_dataset_id, session, user=user, text=dataset_id)
    )


DatasetIdRef = Annotated[UUID, Depends(resolve_dataset_id)]
