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

from myriagate.errors import Text

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
    return [_notice(n) for n in data["notices"][:MAX_NOTICES]]


def _notice(stored: object) -> str:
    """A notice as remembered: a message with its msgid (said in the page's language), or text.
    A forged one whose values do not fill its msgid is shown as its msgid alone."""
    if isinstance(stored, dict) and isinstance(stored.get("msgid"), str):
        values = stored.get("values")
        values = {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else {}
        try:
            return Text(stored["msgid"], **values)
        except (KeyError, TypeError, ValueError):
            return str(stored["msgid"])
    return str(stored)


def forget(response: Response, *, secure: bool) -> None:
    response.delete_cookie(COOKIE, path=PATH, httponly=True, secure=secure, samesite="lax")


def _encode(job_id: UUID, notices: list[str]) -> str:
    kept = [
        {"msgid": n.msgid, "values": {k: str(v) for k, v in n.values.items()}} if isinstance(n, Text) else n
        for n in notices
    ]
    payload = json.dumps({"job": str(job_id), "notices": kept}, ensure_ascii=False)
    return base64.urlsafe_b64encode(payload.encode("utf-8")).decode("ascii")
