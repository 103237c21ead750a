"""The notices of a form submission, carried across its redirect.

A submission answers with a redirect (post/redirect/get: reloading never submits twice), so
its notices (``JobSubmitted.notices``: a BOM removed, ``--err`` read as ``--error``…) travel
to the next page in a short-lived cookie scoped to that page, tied to the job, read once.
They are shown escaped, like everything on the pages; a forged cookie can only show its
own holder some text next to their own job.
"""

from __future__ import annotations

import base64
import binascii
import json
from uuid import UUID

from fastapi import Request, Response

COOKIE = "myriagate_submit_notices"
PATH = "/submit/submitted"
MAX_AGE_S = 600
MAX_NOTICES = 20
MAX_BYTES = 3000  # well under a browser's 4 kB per cookie


def page_of(job_id: UUID) -> str:
    return f"{PATH}/{job_id}"


def remember(response: Response, job_id: UUID, notices: list[str], *, secure: bool) -> None:
    kept = notices[:MAX_NOTICES]
    while kept and len(_encode(job_id, kept)) > MAX_BYTES:
        kept = kept[:-1]
    response.set_cookie(COOKIE, _encode(job_id, kept), max_age=MAX_AGE_S, path=PATH, httponly=True,
                        secure=secure, samesite="lax")  # fmt: skip


def recall(request: Request, job_id: UUID) -> list[str] | None:
    """The notices remembered for ``job_id``, or None (none, another job's, unreadable)."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        return None
    if not isinstance(data, dict) or data.get("job") != str(job_id):
        return None
    if not isinstance(data.get("notices"), list):
        return None
    return [str(n) for n in data["notices"][:MAX_NOTICES]]


def forget(response: Response, *, secure: bool) -> None:
    response.delete_cookie(COOKIE, path=PATH, httponly=True, secure=secure, samesite="lax")


def _encode(job_id: UUID, notices: list[str]) -> str:
    payload = json.dumps({"job": str(job_id), "notices": notices}, ensure_ascii=False)
    return base64.urlsafe_b64encode(payload.encode("utf-8")).decode("ascii")
