"""Which dashboard notices a researcher dismissed, kept in a cookie of their browser.

A notice says a job ended; dismissing it is a reader's choice about their own screen, so it
lives beside the language switch rather than in the database: the ids of the dismissed jobs,
newest last, at most ``MAX_IDS`` of them (notices only cover the last two days' jobs). A forged
or damaged cookie can only hide or show its holder's own notices; anything that is not a job
id is ignored.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from fastapi import Request, Response

COOKIE = "myriagate_dismissed"
MAX_IDS = 60  # 60 x 33 bytes: under a browser's 4 kB per cookie
MAX_AGE_S = 30 * 24 * 3600


def dismissed(request: Request) -> list[uuid.UUID]:
    """The job ids whose notices this browser dismissed (unreadable parts dropped)."""
    found: list[uuid.UUID] = []
    for part in request.cookies.get(COOKIE, "").split(".")[-MAX_IDS:]:
        try:
            found.append(uuid.UUID(hex=part))
        except ValueError:
            continue
    return found


def parse_ids(values: Iterable[str]) -> list[uuid.UUID]:
    """The job ids posted by a Dismiss button; anything else is ignored."""
    ids: list[uuid.UUID] = []
    for value in values:
        try:
            ids.append(uuid.UUID(value.strip()))
        except ValueError:
            continue
    return ids


def remember(response: Response, before: list[uuid.UUID], more: list[uuid.UUID], *, secure: bool) -> None:
    """Add ``more`` to the dismissed ids; the oldest fall off past ``MAX_IDS``."""
    kept = [i for i in before if i not in more] + list(dict.fromkeys(more))
    value = ".".join(i.hex for i in kept[-MAX_IDS:])
    response.set_cookie(COOKIE, value, max_age=MAX_AGE_S, path="/", httponly=True, secure=secure,
                        samesite="lax")  # fmt: skip
