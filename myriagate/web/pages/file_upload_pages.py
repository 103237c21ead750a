"""Uploading into the file browser's directory without JavaScript (issue #17).

With JavaScript (``static/file_uploads.js``), files dropped on the listing or picked go through
the resumable upload API (``/api/v1/clusters/{cluster}/files/{area}/uploads``) with a progress
bar each. Without it, the same form is a plain ``multipart/form-data`` post: Starlette has
spooled each file to a temporary file by the time the route runs, and each is handed to the
same upload use case (``services.files.FileUploads``: begun, sent in 1 MiB pieces, placed
atomically as the reader's own login), so the rules are the API's. A post is bounded
(``FORM_UPLOAD_MAX_BYTES``, stated on the page) and refused before its body is read when its
declared length is over it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from myriagate.errors import FieldError, InvalidRequest, MyriagateError, Number, Text
from myriagate.services.files.uploads import FileUploads
from myriagate.services.people.auth import User
from myriagate.web.api.file_uploads import UploadsDep
from myriagate.web.deps import GatewayDep
from myriagate.web.pages import file_notices
from myriagate.web.pages.deps import PageUser
from myriagate.web.pages.file_forms import FORM_UPLOAD_MAX_BYTES, done, inside, refused, ticked
from myriagate.web.pages.file_links import area_url
from myriagate.web.pages.file_notices import Notice
from myriagate.web.pages.file_pages import known_cluster
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, include_in_schema=False)
CHUNK_BYTES = 1 << 20


def within_the_form_limit(content_length: Annotated[int | None, Header()] = None) -> None:
    """Runs before the page's user (whose CSRF check reads the form): a post declaring more
    than the limit is refused before a byte of it is spooled."""
    if content_length is None or content_length > FORM_UPLOAD_MAX_BYTES:
        raise InvalidRequest(
            Text(
                "without JavaScript, one sending holds at most %(max)s MiB: send fewer files at a time",
                max=Number(FORM_UPLOAD_MAX_BYTES >> 20),
            ),
            fields=[FieldError(("body", "files"), Text("too large"))],
        )


def _name(upload: UploadFile) -> str:
    """The file's own name (an old browser may send the whole path it came from)."""
    return (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1]


async def _send(
    uploads: FileUploads,
    user: User,
    cluster: str,
    area: str,
    target: str,
    upload: UploadFile,
    overwrite: bool,
) -> None:
    """One spooled file into the area through the upload use case, in 1 MiB pieces."""
    size = upload.size if upload.size is not None else 0
    state = await run_in_threadpool(
        lambda: uploads.start(user, cluster, area, target, size_bytes=size, overwrite=overwrite)
    )
    _ticket, writer = await run_in_threadpool(
        lambda: uploads.open_append(user, cluster, area, state.id, offset=0)
    )
    try:
        while chunk := await upload.read(CHUNK_BYTES):
            await run_in_threadpool(writer.write, chunk)
        outcome = await run_in_threadpool(writer.finish)
    except BaseException:
        await run_in_threadpool(writer.abort)
        await run_in_threadpool(uploads.cancel, user, cluster, area, state.id)  # nothing half-written stays
        raise
    if not outcome.complete:  # the spooled file was shorter than it said: nothing is placed
        await run_in_threadpool(uploads.cancel, user, cluster, area, state.id)
        raise InvalidRequest(Text("%(name)s arrived incomplete: nothing was written", name=target))


@router.post("/files/{cluster}/{area}/upload", dependencies=[Depends(within_the_form_limit)])
async def upload_form(
    request: Request, cluster: str, area: str, page: PageUser, gateway: GatewayDep, uploads: UploadsDep
) -> Response:
    """The files of the form into the directory it was on; existing names are kept unless
    "replace" is ticked. Files before a refused one are in place; the page says which one."""
    form = await request.form()
    here = str(form.get("path") or "")
    back = area_url(cluster, area, here)
    chosen = [f for f in form.getlist("files") if isinstance(f, UploadFile) and _name(f)]
    overwrite = ticked({"overwrite": str(form.get("overwrite") or "")}, "overwrite")
    sent: list[str] = []
    try:
        known_cluster(gateway, cluster)
        if not chosen:
            raise InvalidRequest(
                Text("choose at least one file to upload"),
                fields=[FieldError(("body", "files"), Text("required"))],
            )
        for upload in chosen:
            target = inside(here, _name(upload))
            await _send(uploads, page.user, cluster, area, target, upload, overwrite)
            sent.append(target)
    except MyriagateError as exc:
        answer = refused(request, exc, back)
        if sent:  # the directory says, once back there, which files did arrive
            file_notices.remember(answer, [_sent(sent)], secure=gateway.settings.secure_cookies)
        return answer
    return done(gateway, back, _sent(sent))


def _sent(names: list[str]) -> Notice:
    return Notice(
        "ok", Text("%(n)s file(s) uploaded: %(names)s.", n=Number(len(names)), names=", ".join(names))
    )
