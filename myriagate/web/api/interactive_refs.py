"""``{session_id}`` in the interactive-session routes: a full id or a unique prefix of it.

As ``job_refs`` and ``dataset_refs``: 404 when none of the caller's sessions matches (another
user's included), 409 ``ambiguous_session`` with the ``candidates`` when several do, 422 when
the text cannot be a session id at all.
"""

from __future__ import annotations

import functools
from typing import Annotated
from uuid import UUID

import anyio.to_thread
from fastapi import Depends, Path

from myriagate.services.interactive import lookup
from myriagate.web.deps import CurrentUser, DbSession

SESSION_REF_DESCRIPTION = (
    "The session: its full id, or the first 8 or more characters of it (as lists show them in short_id)"
)


async def resolve_session_id(
    user: CurrentUser,
    session: DbSession,
    session_id: Annotated[str, Path(max_length=lookup.MAX_REF_LENGTH, description=SESSION_REF_DESCRIPTION)],
) -> UUID:
    """The id of the caller's session ``session_id`` names; a full id is read on the event loop
    with no database call (the endpoint reads the session anyway), a prefix in the thread pool."""
    reference = lookup.parse_reference(session_id)
    if isinstance(reference, UUID):
        return reference
    return await anyio.to_thread.run_sync(
        functools.partial(lookup.find_session_id, session, user=user, text=session_id)
    )


SessionIdRef = Annotated[UUID, Depends(resolve_session_id)]
