"""``/uploads``: input files streamed to the gateway's spool, waiting for the job that uses them.

``PUT /uploads/{id}/files/{path}`` takes the raw request body as the file's bytes and writes
it chunk by chunk as it arrives (``request.stream()``): memory stays bounded whatever the
size. The server computes the sha256 itself; a client that sends ``X-Content-SHA256`` gets a
``checksum_mismatch`` (502) and nothing kept when the bytes that arrived differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Protocol
from uuid import UUID

from fastapi import APIRouter, Header, Request, Response
from starlette.concurrency import run_in_threadpool

from myriagate.errors import FieldError, InvalidRequest, UnsafeValue
from myriagate.services.staging import uploads
from myriagate.web.api.staging_schemas import UploadCreated, UploadFileOut, UploadOut
from myriagate.web.deps import ClockDep, CurrentUser, DbSession, GatewayDep
from myriagate.web.problems import problem_responses
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, tags=["uploads"])

_SHA_HEADER = Annotated[
    str | None,
    Header(
        alias="X-Content-SHA256",
        max_length=64,
        description="The client's sha256 of the file (hex); a mismatch keeps nothing",
    ),
]


class _FileSource(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def size_bytes(self) -> int: ...
    @property
    def sha256(self) -> str: ...


class _UploadSource(Protocol):
    """What the API shows of an upload the service returned (its row)."""

    @property
    def id(self) -> UUID: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def job_id(self) -> UUID | None: ...
    @property
    def files(self) -> Sequence[_FileSource]: ...


def upload_out(upload: _UploadSource) -> UploadOut:
    return UploadOut(
        id=upload.id,
        created_at=upload.created_at,
        job_id=upload.job_id,
        files=[UploadFileOut(path=f.path, size_bytes=f.size_bytes, sha256=f.sha256) for f in upload.files],
    )


@router.post("/uploads", status_code=201, response_model=UploadCreated, summary="Start an upload")
def create(response: Response, user: CurrentUser, session: DbSession, clock: ClockDep) -> UploadCreated:
    """An empty upload of yours; send its files with PUT, then name it in a job's ``staging``."""
    upload = uploads.create_upload(session, user=user, at=clock.now(), source="api")
    response.headers["Location"] = f"/api/v1/uploads/{upload.id}"
    return UploadCreated(id=upload.id)


@router.put(
    "/uploads/{upload_id}/files/{path:path}",
    status_code=201,
    response_model=UploadFileOut,
    responses=problem_responses(404, 409, 422, 502),
    summary="Send one file of an upload (raw body)",
)
async def put_file(
    upload_id: UUID,
    path: str,
    request: Request,
    user: CurrentUser,
    session: DbSession,
    gateway: GatewayDep,
    sha256: _SHA_HEADER = None,
) -> UploadFileOut:
    """The body is the file's content; ``path`` is where it goes under the job's directory
    (relative, no ``..``, no empty component, no control character, not under the reserved
    ``.myriagate/``; refused with 422 naming ``path`` and nothing written). Sending a path
    again replaces that file."""
    settings = gateway.settings
    max_bytes = settings.upload_max_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise InvalidRequest(f"file is larger than the {max_bytes} bytes allowed")
    announced = sha256.lower() if sha256 is not None else None
    try:
        writer, clean = await run_in_threadpool(
            lambda: uploads.open_file(
                session,
                upload_id=upload_id,
                path=path,
                user=user,
                spool_dir=settings.spool_dir,
                max_bytes=max_bytes,
                expected_sha256=announced,
            )
        )
    except UnsafeValue as exc:  # a name that cannot be stored: said of the path parameter
        raise UnsafeValue(exc.detail, fields=[FieldError(("path", "path"), exc.detail)]) from None
    try:
        async for chunk in request.stream():
            if chunk:
                writer.write(chunk)  # page-cache writes; the fsync in finish() goes to a thread
        digest = await run_in_threadpool(writer.finish, announced)
    except BaseException:
        writer.abort()  # a refused, mismatched or interrupted file leaves nothing behind
        raise
    row = await run_in_threadpool(
        lambda: uploads.record_file(
            session, upload_id=upload_id, path=clean, size_bytes=writer.size_bytes, sha256=digest
        )
    )
    return UploadFileOut(path=row.path, size_bytes=row.size_bytes, sha256=row.sha256)


@router.get(
    "/uploads/{upload_id}",
    response_model=UploadOut,
    responses=problem_responses(404),
    summary="One of my uploads with its files",
)
def show(upload_id: UUID, user: CurrentUser, session: DbSession) -> UploadOut:
    return upload_out(uploads.get_own_upload(session, upload_id, user))


@router.delete(
    "/uploads/{upload_id}",
    status_code=204,
    responses=problem_responses(404, 409),
    summary="Delete an upload not used by a job",
)
def delete(upload_id: UUID, user: CurrentUser, session: DbSession, gateway: GatewayDep) -> Response:
    uploads.delete_upload(session, upload_id=upload_id, user=user, spool_dir=gateway.settings.spool_dir)
    return Response(status_code=204)
