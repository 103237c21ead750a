"""``/clusters/{cluster}/files/{area}/uploads``: files written into an area, as the caller's login.

Resumable in the manner of tus (tus.io): ``POST`` begins an upload (target checked, space
checked, nothing visible yet) and answers its ``id``; ``PATCH`` with ``Upload-Offset: <n>``
sends bytes from offset n as the raw body; ``GET`` says the offset the cluster holds (also in
``Upload-Offset``) after an interruption; ``DELETE`` gives up. The part that completes the file
has it checked (sha256) and placed atomically; its answer says ``complete`` with the file.
A browser does the same with ``fetch`` or ``XMLHttpRequest`` (``upload.onprogress``).

The body is streamed to the cluster as it arrives (``request.stream()``, handed on in 1 MiB
pieces through the SSH channel's window): the gateway's memory stays flat whatever the size.
A client that goes away mid-part leaves what arrived in the partial file, to resume from.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from myriagate.domain.file_uploads import AppendOutcome, UploadTicket
from myriagate.domain.files import display_name
from myriagate.errors import FieldError, InvalidRequest, Text
from myriagate.services.files.browser import EntryView
from myriagate.services.files.uploads import FileUploads, UploadState
from myriagate.web.api.file_upload_schemas import FileUploadIn, FileUploadOut
from myriagate.web.api.files import entry_out
from myriagate.web.deps import CurrentUser
from myriagate.web.problems import problem_responses
from myriagate.web.routing import ReleasingRoute
from myriagate.wiring_uploads import file_uploads

router = APIRouter(route_class=ReleasingRoute, tags=["files"])
_PIECE = 1 << 20  # handed to the cluster in pieces this large: one thread hop per MiB
_BASE = "/clusters/{cluster}/files/{area}/uploads"


async def get_file_uploads(request: Request) -> FileUploads:
    """The upload use cases of the app's gateway (built per request: it opens nothing)."""
    return file_uploads(request.app.state.gateway)


UploadsDep = Annotated[FileUploads, Depends(get_file_uploads)]
OffsetHeader = Annotated[
    int, Header(alias="Upload-Offset", ge=0, description="Where this part starts in the file (bytes)")
]


def upload_out(state: UploadState, outcome: AppendOutcome | None = None) -> FileUploadOut:
    ticket: UploadTicket = state.ticket
    offset = outcome.offset if outcome is not None else state.offset
    complete = outcome is not None and outcome.complete
    entry = outcome.entry if outcome is not None else None
    return FileUploadOut(
        id=state.id,
        cluster=ticket.cluster,
        area=ticket.area,
        path=display_name(ticket.path),
        size_bytes=ticket.size_bytes,
        offset=offset,
        complete=complete,
        sha256=outcome.sha256 if outcome is not None and outcome.sha256 else ticket.sha256,
        overwrite=ticket.overwrite,
        expires_at=datetime.fromtimestamp(ticket.expires_at, UTC),
        file=None if entry is None else entry_out(EntryView(entry, ticket.path)),
    )


@router.post(
    _BASE,
    status_code=201,
    response_model=FileUploadOut,
    responses=problem_responses(403, 404, 409, 422, 502, 503, 507),
    summary="Begin an upload into the area (then PATCH its bytes)",
)
def begin_upload(
    cluster: str, area: str, body: FileUploadIn, user: CurrentUser, uploads: UploadsDep, response: Response
) -> FileUploadOut:
    state = uploads.start(
        user,
        cluster,
        area,
        body.path,
        size_bytes=body.size_bytes,
        sha256=body.sha256,
        overwrite=body.overwrite,
    )
    response.headers["Location"] = f"/api/v1/clusters/{cluster}/files/{area}/uploads/{state.id}"
    response.headers["Upload-Offset"] = "0"
    return upload_out(state)


@router.get(
    _BASE + "/{upload_id}",
    response_model=FileUploadOut,
    responses=problem_responses(403, 404, 502, 503),
    summary="Where an upload stands: the offset to resume from",
)
def upload_status(
    cluster: str, area: str, upload_id: str, user: CurrentUser, uploads: UploadsDep, response: Response
) -> FileUploadOut:
    state = uploads.status(user, cluster, area, upload_id)
    response.headers["Upload-Offset"] = str(state.offset)
    response.headers["Cache-Control"] = "no-store"
    return upload_out(state)


@router.patch(
    _BASE + "/{upload_id}",
    response_model=FileUploadOut,
    responses=problem_responses(403, 404, 409, 422, 502, 503, 507),
    summary="Send bytes of an upload from Upload-Offset (raw body); the last part places the file",
)
async def send_part(
    cluster: str,
    area: str,
    upload_id: str,
    request: Request,
    user: CurrentUser,
    uploads: UploadsDep,
    response: Response,
    offset: OffsetHeader,
) -> FileUploadOut:
    ticket, writer = await run_in_threadpool(
        lambda: uploads.open_append(user, cluster, area, upload_id, offset=offset)
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and offset + int(declared) > ticket.size_bytes:
        await run_in_threadpool(writer.abort)
        raise InvalidRequest(
            Text(
                "this part ends past the upload's size, %(size)s bytes: nothing written",
                size=ticket.size_bytes,
            ),
            fields=[FieldError(("header", "Content-Length"), Text("too long"))],
        )
    try:
        await _pump(request, writer.write)
    except ClientDisconnect:
        pass  # what came stays in the partial file: finish() below keeps it, for a resume
    except BaseException:
        await run_in_threadpool(writer.abort)
        raise
    outcome = await run_in_threadpool(writer.finish)
    response.headers["Upload-Offset"] = str(outcome.offset)
    return upload_out(UploadState(upload_id, ticket, outcome.offset), outcome)


async def _pump(request: Request, write: Callable[[bytes], None]) -> None:
    """The request's body to ``write`` in pieces of about 1 MiB, as it arrives."""
    piece = bytearray()
    async for chunk in request.stream():
        piece += chunk
        if len(piece) >= _PIECE:
            data = bytes(piece)
            piece.clear()
            await run_in_threadpool(write, data)
    if piece:
        await run_in_threadpool(write, bytes(piece))


@router.delete(
    _BASE + "/{upload_id}",
    status_code=204,
    responses=problem_responses(403, 404, 502, 503),
    summary="Give up an upload: its partial data is removed, the target left as it was",
)
def cancel_upload(
    cluster: str, area: str, upload_id: str, user: CurrentUser, uploads: UploadsDep
) -> Response:
    uploads.cancel(user, cluster, area, upload_id)
    return Response(status_code=204)
