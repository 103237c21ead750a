"""``/jobs/{ref}`` for every id people hold: the page's own address is the job's full id, and
the other ids the CLI and the API take (the short id ``jobs list`` shows, a unique prefix, the
Slurm job id; ``1234_5`` for one task of an array) are sent there.

The job is found as the API finds it (``services.jobs.lookup``): among the jobs the reader may
see only, so another user's job is not found whichever id names it.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode
from uuid import UUID

from fastapi import Response
from sqlalchemy.orm import Session

from myriagate.services.jobs import lookup
from myriagate.services.people.auth import User
from myriagate.web.pages.forms import see_other

_TASK = re.compile(r"^[0-9]{1,20}_([0-9]{1,10})\Z")


def page_job_id(db: Session, user: User, ref: str, task: int | None) -> UUID | Response:
    """The job's id when ``ref`` is its page's own address (the full id as the page writes it),
    else a redirect there (keeping ``task``, or the task a ``1234_5`` names); NotFound,
    AmbiguousJob or InvalidRequest as the API answers them."""
    try:
        given = UUID(ref)
    except ValueError:
        given = None
    if given is not None and str(given) == ref:
        return given
    job_id = lookup.find_job_id(db, user=user, text=ref)
    named = _TASK.match(ref.strip())
    if task is None and named is not None:
        task = int(named.group(1))
    query = f"?{urlencode({'task': task})}" if task is not None else ""
    return see_other(f"/jobs/{job_id}{query}")
