"""The file browser's flash notices: what a change did, said on the page the form sends the
reader back to.

A change posted from a form answers with a redirect (post/redirect/get: reloading never makes
a folder twice nor removes anything again), so what it did ("3 files removed") travels to the
next directory page in a short-lived cookie scoped to the file pages, read once. Messages keep
their msgid and values (``errors.Text``), so the page says them in its language; values are
names as ``display_name`` shows them, escaped by the templates like everything else. A forged
cookie can only show its own holder a message of the catalogs with some text in it.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Literal

from fastapi import Request, Response

from myriagate.errors import Number, Text

COOKIE = "myriagate_file_notice"
PATH = "/files"
MAX_AGE_S = 300
MAX_NOTICES = 5
MAX_VALUE = 300  # characters of one value (a path): a cookie holds about 4 kB
MAX_BYTES = 3000

Kind = Literal["ok", "warn", "bad"]


@dataclass(frozen=True)
class Notice:
    kind: Kind
    text: str  # a Text: said in the page's language


def remember(response: Response, notices: list[Notice], *, secure: bool) -> None:
    kept = notices[:MAX_NOTICES]
    while kept and len(_encode(kept)) > MAX_BYTES:
        kept = kept[:-1]
    response.set_cookie(COOKIE, _encode(kept), max_age=MAX_AGE_S, path=PATH, httponly=True,
                        secure=secure, samesite="lax")  # fmt: skip


def recall(request: Request) -> list[Notice]:
    """The notices waiting for this browser (none when absent or unreadable)."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return []
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        return []
    if not isinstance(data, list):
        return []
    return [n for n in (_notice(item) for item in data[:MAX_NOTICES]) if n is not None]


def forget(response: Response, *, secure: bool) -> None:
    response.delete_cookie(COOKIE, path=PATH, httponly=True, secure=secure, samesite="lax")


def _notice(stored: object) -> Notice | None:
    if not isinstance(stored, dict) or not isinstance(stored.get("msgid"), str):
        return None
    kind = stored.get("kind")
    values = stored.get("values")
    values = {str(k): _read(v) for k, v in values.items()} if isinstance(values, dict) else {}
    try:
        text = Text(stored["msgid"], **values)
    except (KeyError, TypeError, ValueError):  # a forged one whose values do not fill it
        return None
    return Notice(kind if kind in ("ok", "warn", "bad") else "ok", text)


def _read(value: object) -> object:
    """A stored value: a count ({"number": n}, said in the page's number format) or text."""
    if isinstance(value, dict) and isinstance(value.get("number"), int):
        return Number(value["number"])
    return str(value)


def _value(value: object) -> object:
    if isinstance(value, Number) and isinstance(value.value, int):
        return {"number": value.value}
    said = str(value)
    return said if len(said) <= MAX_VALUE else said[: MAX_VALUE - 1] + "…"


def _encode(notices: list[Notice]) -> str:
    kept = [
        {
            "kind": n.kind,
            "msgid": n.text.msgid if isinstance(n.text, Text) else n.text.replace("%", "%%"),
            "values": {k: _value(v) for k, v in n.text.values.items()} if isinstance(n.text, Text) else {},
        }
        for n in notices
    ]
    payload = json.dumps(kept, ensure_ascii=False)
    return base64.urlsafe_b64encode(payload.encode("utf-8")).decode("ascii")
