"""The app's HTML pages, with its secret taken out before they reach the browser.

JupyterLab writes its token into every page it serves (``page_config.token``), and its
front end then puts it in WebSocket URLs (``?token=…``), where proxies, logs and Referer
headers would keep it. Through the gateway the browser needs no token (the proxy adds it to
every request), so an HTML answer is read whole (pages are small; beyond ``MAX_PAGE_BYTES``,
refused), un-gzipped when it came compressed, and every occurrence of the secret removed.
Other answers (files, JSON) are streamed untouched.
"""

from __future__ import annotations

import zlib

import httpcore

from myriagate.errors import BackendError, Text

MAX_PAGE_BYTES = 16 * 1024 * 1024
# What the proxy lets the app compress with: gzip only, which this module can open.
ACCEPTED_ENCODINGS = b"gzip, identity"


def is_page(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the answer is an HTML page (the only kind the app puts its secret in)."""
    return any(
        name.lower() == b"content-type" and value.lower().lstrip().startswith(b"text/html")
        for name, value in headers
    )


def read_scrubbed(response: httpcore.Response, secret: str) -> bytes:
    """The page's body, decompressed, without ``secret``; the response is closed."""
    encoding = b""
    for name, value in response.headers:
        if name.lower() == b"content-encoding":
            encoding = value.strip().lower()
    chunks, size = [], 0
    try:
        for chunk in response.iter_stream():
            size += len(chunk)
            if size > MAX_PAGE_BYTES:
                raise BackendError(Text("the interactive app's page is too large"))
            chunks.append(chunk)
    finally:
        response.close()
    body = b"".join(chunks)
    if encoding == b"gzip":
        body = zlib.decompress(body, wbits=zlib.MAX_WBITS | 16)
    elif encoding not in (b"", b"identity"):
        raise BackendError(Text("the interactive app answered with an encoding the gateway cannot read"))
    return body.replace(secret.encode(), b"")
