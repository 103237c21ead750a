"""Headers of every file the gateway serves (a dataset's file, a job's output, a report), API
and pages alike.

The bytes come from researchers' jobs: a file named ``report.html`` may hold a script. So a
browser must never render it as a page of the gateway's origin: it is an attachment
(``Content-Disposition``), its type is not guessed from its content (``nosniff``), and should
it be shown anyway, it is shown sandboxed with nothing allowed (``Content-Security-Policy``).
Its name, chosen by whoever wrote the file, is encoded as RFC 6266 says: an ASCII fallback
with every character a header or a quoted string could trip on replaced, and the exact name
percent-encoded in UTF-8 (``filename*``).
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

SANDBOX_CSP = "sandbox; default-src 'none'"
# RFC 5987 attr-char, minus the letters and digits quote() keeps anyway.
_ATTR_CHARS = "!#$&+-.^_`|~"
# Not in an ASCII fallback: quoted-string specials, parameter and path separators, and '%'
# (some browsers percent-decode a plain filename).
_FALLBACK_REPLACED = frozenset('"\\;%/,')


def attachment_headers(filename: str) -> dict[str, str]:
    """The headers a served file carries, for ``filename`` (a path's last component is used)."""
    return {
        "Content-Disposition": content_disposition(filename),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": SANDBOX_CSP,
        "Cache-Control": "no-store",  # researchers' data: never kept by a shared cache
    }


def content_disposition(filename: str) -> str:
    """``attachment; filename="<ascii fallback>"; filename*=UTF-8''<percent-encoded name>``."""
    name = filename.rsplit("/", 1)[-1] or "download"
    encoded = quote(name, safe=_ATTR_CHARS, encoding="utf-8", errors="replace")
    return f"attachment; filename=\"{ascii_fallback(name)}\"; filename*=UTF-8''{encoded}"


def ascii_fallback(name: str) -> str:
    """Printable ASCII only: accents dropped (``é`` -> ``e``), anything else outside printable
    ASCII and the characters above replaced with ``_``; never empty."""
    decomposed = unicodedata.normalize("NFKD", name)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    fallback = "".join(
        c if 0x20 <= ord(c) < 0x7F and c not in _FALLBACK_REPLACED else "_" for c in kept
    ).strip()
    return fallback or "download"
