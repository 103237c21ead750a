"""A cluster file streamed to the client, whole or one byte range: the API's download and the
file browser's pages send it the same way (docs/files.md)."""

from __future__ import annotations

from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from myriagate.services.files.ports import FileDownload
from myriagate.web.downloads import attachment_headers


def streamed_file(download: FileDownload, media_type: str = "application/octet-stream") -> StreamingResponse:
    """``download`` as it is read from the cluster (never buffered), with its ETag for resumed
    transfers and, for a range, its Content-Range; closed when done or when the client leaves."""
    headers = {
        **attachment_headers(download.entry.name.decode("utf-8", "replace")),
        "Accept-Ranges": "bytes",
        "ETag": download.etag,
        "Content-Length": str(download.length),
    }
    if download.ranged:
        last = download.offset + download.length - 1
        headers["Content-Range"] = f"bytes {download.offset}-{last}/{download.size_bytes}"
    return StreamingResponse(
        download.chunks(),
        status_code=206 if download.ranged else 200,
        media_type=media_type,
        headers=headers,
        background=BackgroundTask(download.close),  # also when the client went away early
    )
