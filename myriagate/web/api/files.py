"""``/clusters/{cluster}/files``: a researcher's file areas on a cluster, as their own login.

The path inside an area is a query parameter (``?path=run1/out.txt``), not part of the URL's
path: a name may hold '%', '?', '#' or '..'-looking text that routers and proxies would
normalise, and one parameter has one spelling to validate (``domain.files.area_path``).
Every refusal is problem details (docs/files.md). Downloads are streamed from the cluster as
they are read, with single byte ranges (``Range``, ``If-Range``) for resumed transfers.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from myriagate.domain.files import DEFAULT_PAGE, RangeNotSatisfiable, SortKey, display_name, is_plain_utf8
from myriagate.services.files.browser import DEFAULT_PREVIEW_BYTES, EntryView, FileBrowser
from myriagate.web.api.files_schemas import DirectoryListingOut, FileAreaOut, FileEntryOut, FilePreviewOut
from myriagate.web.deps import CurrentUser
from myriagate.web.file_responses import streamed_file
from myriagate.web.problems import normalise, problem_response, problem_responses
from myriagate.web.routing import ReleasingRoute
from myriagate.wiring_files import file_browser

router = APIRouter(route_class=ReleasingRoute, tags=["files"])


async def get_file_browser(request: Request) -> FileBrowser:
    """The file use cases of the app's gateway (built per request: it opens nothing)."""
    return file_browser(request.app.state.gateway)


FilesDep = Annotated[FileBrowser, Depends(get_file_browser)]

PathQuery = Annotated[
    str | None, Query(description="Path inside the area, relative to its root; empty for the root")
]
_REFUSALS = problem_responses(403, 404, 422, 502, 503)
_DOWNLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": {}}, "description": "The whole file, streamed"},
    206: {"content": {"application/octet-stream": {}}, "description": "The byte range asked"},
    **problem_responses(403, 404, 416, 422, 502, 503),
}


def entry_out(view: EntryView) -> FileEntryOut:
    e = view.entry
    return FileEntryOut(
        name=display_name(e.name),
        path=display_name(view.path),
        exact=is_plain_utf8(view.path),
        type=e.kind,
        size_bytes=e.size_bytes,
        modified_at=datetime.fromtimestamp(e.mtime_ns / 1e9, UTC),
        permissions=e.permissions,
        mode=f"{e.mode & 0o7777:04o}",
        uid=e.uid,
        gid=e.gid,
        link_target=None if e.link_target is None else display_name(e.link_target),
    )


@router.get(
    "/clusters/{cluster}/files/areas",
    response_model=list[FileAreaOut],
    responses=problem_responses(404),
    summary="The caller's file areas on a cluster",
)
def list_areas(cluster: str, user: CurrentUser, files: FilesDep) -> list[FileAreaOut]:
    return [
        FileAreaOut(name=a.name, label=a.label, label_fr=a.label_fr, root=a.root, writable=a.writable)
        for a in files.areas(user, cluster)
    ]


@router.get(
    "/clusters/{cluster}/files/{area}/list",
    response_model=DirectoryListingOut,
    responses=_REFUSALS,
    summary="One page of a directory, sorted",
)
def list_directory(
    cluster: str,
    area: str,
    user: CurrentUser,
    files: FilesDep,
    path: PathQuery = None,
    sort: SortKey = SortKey.NAME,
    order: Literal["asc", "desc"] = "asc",
    limit: Annotated[int, Query(description="Entries per page, 1 to 10,000")] = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> DirectoryListingOut:
    view = files.list(
        user, cluster, area, path, sort=sort, descending=order == "desc", limit=limit, cursor=cursor
    )
    return DirectoryListingOut(
        cluster=cluster,
        area=view.area,
        path=display_name(view.path),
        total=view.total,
        entries=[entry_out(e) for e in view.entries],
        next_cursor=view.next_cursor,
    )


@router.get(
    "/clusters/{cluster}/files/{area}/stat",
    response_model=FileEntryOut,
    responses=_REFUSALS,
    summary="One file or directory (a link is described, never followed)",
)
def stat_path(
    cluster: str, area: str, user: CurrentUser, files: FilesDep, path: PathQuery = None
) -> FileEntryOut:
    return entry_out(files.stat(user, cluster, area, path))


@router.get(
    "/clusters/{cluster}/files/{area}/preview",
    response_model=FilePreviewOut,
    responses=_REFUSALS,
    summary="The first or last bytes of a text file (at most 1 MiB)",
)
def preview_file(
    cluster: str,
    area: str,
    user: CurrentUser,
    files: FilesDep,
    path: PathQuery = None,
    end: Literal["head", "tail"] = "head",
    max_bytes: Annotated[int, Query(description="Bytes to show, 1 to 1,048,576")] = DEFAULT_PREVIEW_BYTES,
) -> FilePreviewOut:
    shown = files.preview(user, cluster, area, path, end=end, max_bytes=max_bytes)
    return FilePreviewOut(
        cluster=cluster,
        area=area,
        path=display_name(shown.path),
        end=shown.end,
        size_bytes=shown.size_bytes,
        offset=shown.offset,
        truncated=shown.truncated,
        text=shown.text,
    )


@router.get(
    "/clusters/{cluster}/files/{area}/download",
    response_class=StreamingResponse,
    responses=_DOWNLOAD_RESPONSES,
    summary="A file, streamed from the cluster (single byte ranges for resuming)",
)
def download_file(
    request: Request,
    cluster: str,
    area: str,
    user: CurrentUser,
    files: FilesDep,
    path: PathQuery = None,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
    if_range: Annotated[str | None, Header(alias="If-Range")] = None,
) -> Any:
    try:
        download = files.download(user, cluster, area, path, range_header=range_header, if_range=if_range)
    except RangeNotSatisfiable as exc:
        failure = normalise(request, exc)
        unsatisfiable = {**failure.headers, "Content-Range": f"bytes */{exc.size_bytes}"}  # RFC 9110 15.5.17
        return problem_response(request, replace(failure, headers=unsatisfiable))
    return streamed_file(download)
