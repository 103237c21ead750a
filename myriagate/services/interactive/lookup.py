"""Finding a session from what a person typed, and the short ids lists show.

As for jobs and datasets (``services.jobs.lookup``, ``services.staging.dataset_lookup``), a
session is named by its full id (with or without dashes) or by the first 8 or more hex digits
of it, unique among the caller's own sessions. Only the caller's sessions are ever considered,
so another user's session and one that does not exist get the same 404, and an ambiguous
prefix lists only the caller's.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from myriagate.db.models.interactive import InteractiveSession
from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.db.repos import interactive as sessions_repo
from myriagate.domain.short_ids import (
    MAX_CANDIDATES,
    MIN_PREFIX,
    candidate_count,
    hex_reference,
    prefix_bounds,
    shortest_unique_prefix,
)
from myriagate.domain.short_ids import MAX_REF_LENGTH as MAX_REF_LENGTH
from myriagate.errors import AmbiguousReference, FieldError, InvalidRequest, NotFound, Text


class AmbiguousSession(AmbiguousReference):
    """A short session id that names several of the caller's sessions; the ``candidates``:
    id, app, state, Slurm id, when created."""

    code = "ambiguous_session"
    title = "Ambiguous session id"


def parse_reference(text: str) -> uuid.UUID | str:
    """The full id ``text`` spells, else its hex prefix (8 to 31 digits, no dashes);
    InvalidRequest when it can be neither."""
    reference = hex_reference(text)
    if reference is not None:
        return reference
    given = text.strip()
    raise InvalidRequest(
        Text(
            "%(ref)s is not a session id: give the id shown by the session list (at least %(min)s "
            "characters) or the full id",
            ref=repr(given[:MAX_REF_LENGTH]),
            min=MIN_PREFIX,
        ),
        fields=[FieldError(("path", "session_id"), Text("not a session id"))],
    )


def find_session_id(session: Session, *, user: User, text: str) -> uuid.UUID:
    """The id of the one session of ``user`` that ``text`` names: NotFound when none,
    AmbiguousSession (with the candidates) when several. A full id is returned unread (the
    caller reads the session anyway, and answers NotFound for another user's as here)."""
    reference = parse_reference(text)
    if isinstance(reference, uuid.UUID):
        return reference
    low, high = prefix_bounds(reference)
    found = sessions_repo.between(session, user.id, low, high, MAX_CANDIDATES + 1)
    if len(found) == 1:
        return found[0][0].id
    given = text.strip()
    if not found:
        raise NotFound(Text("no interactive session %(session)s", session=given))
    count = candidate_count(found)
    raise AmbiguousSession(
        Text("%(ref)s names %(count)s sessions: give more characters of the id", ref=given, count=count),
        candidates=[_candidate(row, job) for row, job in found[:MAX_CANDIDATES]],
    )


def _candidate(row: InteractiveSession, job: Job) -> dict[str, object]:
    return {
        "id": str(row.id),
        "name": row.app,
        "state": job.state.value,
        "slurm_job_id": job.slurm_job_id,
        "created_at": row.created_at.isoformat(),
    }


def short_ids(session: Session, *, user: User, session_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """For each id, its shortest prefix (at least ``MIN_PREFIX`` hex digits) that names that
    session alone among ``user``'s, so that ``find_session_id`` finds it again."""
    mine = [found.hex for found in sessions_repo.ids_of_user(session, user.id)]
    return {s: s.hex[: _length(s.hex, mine)] for s in session_ids}


def _length(digits: str, others: Sequence[str]) -> int:
    """How many of ``digits`` its short id shows among ``others`` (the caller's sessions)."""
    return len(shortest_unique_prefix(digits, others))
