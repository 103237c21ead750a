"""The file browser's pages (issue #17): a researcher's areas, a directory, a file's preview,
its download. They call the same use cases as the API (``services.files.FileBrowser``, as the
researcher's own cluster login) and work without JavaScript: sorting and paging are links,
the preview is rendered on the server, a download is a plain link.

Paths travel as the ``path`` query parameter, as in the API (docs/files.md). Names are shown
with ``domain.files.display_name`` and escaped by the templates; an entry whose name cannot be
asked for by its shown spelling (not UTF-8, or holding a control character) is listed without
a link. Links are shown with their target, never followed. Refusals are our errors, shown by
the HTML error page in the reader's language.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import RedirectResponse

from myriagate.domain.files import FileKind, RangeNotSatisfiable, SortKey, display_name, is_plain_utf8
from myriagate.errors import InvalidRequest, NotFound, Text, UnsafeValue
from myriagate.services.files.browser import DEFAULT_PREVIEW_BYTES, EntryView, Preview
from myriagate.web.api.files import FilesDep
from myriagate.web.deps import GatewayDep
from myriagate.web.file_responses import streamed_file
from myriagate.web.pages import file_notices
from myriagate.web.pages.deps import PageUser
from myriagate.web.pages.errors import error_page
from myriagate.web.pages.file_forms import writable, write_controls
from myriagate.web.pages.file_links import (
    action_url,
    area_url,
    crumbs,
    download_url,
    image_type,
    page_url,
    view_url,
)
from myriagate.web.pages.rendering import render, translator_for
from myriagate.web.problems import normalise
from myriagate.web.routing import ReleasingRoute
from myriagate.wiring import Gateway

router = APIRouter(route_class=ReleasingRoute, include_in_schema=False)

PAGE_SIZE = 200  # entries per page of a listing: a page stays quick to render and to read
PathParam = Annotated[str | None, Query(max_length=4096)]


def known_cluster(gateway: Gateway, cluster: str) -> str:
    """``cluster`` when the gateway knows it, said in the reader's language otherwise."""
    if cluster not in gateway.profiles:
        raise NotFound(Text("no cluster %(cluster)s on this gateway", cluster=repr(cluster[:80])))
    return cluster


@router.get("/files")
def areas_page(request: Request, page: PageUser, gateway: GatewayDep, files: FilesDep) -> Response:
    """Each cluster's areas for this user: label in the page's language, root, writable."""
    t = translator_for(request)
    clusters = []
    for name in sorted(gateway.profiles):
        if not gateway.profiles[name].files.areas:
            continue
        areas = [
            {
                "label": a.label_fr if t.lang == "fr" else a.label,
                "root": a.root,
                "writable": a.writable,
                "href": area_url(name, a.name),
            }
            for a in files.areas(page.user, name)
        ]
        clusters.append({"name": name, "areas": areas})
    return render(request, "files.html", clusters=clusters)


def _area_label(gateway: Gateway, cluster: str, area: str, lang: str) -> str:
    found = gateway.profile(cluster).files.area(area)
    if found is None:
        return area
    return found.label_fr if lang == "fr" else found.label


def _row(cluster: str, area: str, view: EntryView, t: Any) -> dict[str, Any]:
    """One listed entry as the table shows it: names escaped for display, a link only where
    the shown name is the name itself (and never through a symbolic link)."""
    e = view.entry
    href = None
    if is_plain_utf8(view.path):
        path = view.path.decode()
        if e.kind is FileKind.DIRECTORY:
            href = area_url(cluster, area, path)
        elif e.kind is FileKind.FILE:
            href = view_url(cluster, area, path)
    return {
        "name": display_name(e.name),
        "kind": e.kind.value,
        "size": t.size(e.size_bytes) if e.kind is FileKind.FILE else "",
        "size_bytes": e.size_bytes,
        "modified": t.datetime(datetime.fromtimestamp(e.mtime_ns / 1e9, UTC)),
        "permissions": e.permissions,
        "target": None if e.link_target is None else display_name(e.link_target),
        "href": href,
        "download": download_url(cluster, area, view.path.decode())
        if href and e.kind is FileKind.FILE
        else None,
        "exact": is_plain_utf8(view.path),
        # Rename, copy, delete: only for a name the forms can give back as it is.
        "change": action_url(cluster, area, "change", view.path.decode())
        if is_plain_utf8(view.path)
        else None,
    }


@router.get("/files/{cluster}/{area}")
def directory_page(
    request: Request,
    cluster: str,
    area: str,
    page: PageUser,
    gateway: GatewayDep,
    files: FilesDep,
    path: PathParam = None,
    sort: SortKey = SortKey.NAME,
    order: Literal["asc", "desc"] = "asc",
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> Response:
    """One page of a directory, sorted by the column asked (links, so no JavaScript needed)."""
    known_cluster(gateway, cluster)
    listing = files.list(
        page.user,
        cluster,
        area,
        path,
        sort=sort,
        descending=order == "desc",
        limit=PAGE_SIZE,
        cursor=cursor or None,
    )
    t = translator_for(request)
    here = listing.path.decode("utf-8", "surrogateescape")

    def sort_link(key: SortKey) -> dict[str, Any]:
        flipped = "desc" if key is sort and order == "asc" else "asc"
        return {
            "href": page_url(cluster, area, here, sort=key.value, order=flipped),
            "active": key is sort,
            "order": order,
        }

    notices = file_notices.recall(request)
    response = render(
        request,
        "files_directory.html",
        **whereabouts(gateway, cluster, area, listing.path, t.lang),
        **write_controls(gateway, cluster, area, here),
        notices=notices,
        shown_path=display_name(listing.path),
        rows=[_row(cluster, area, e, t) for e in listing.entries],
        total=listing.total,
        sorts={key.value: sort_link(key) for key in SortKey},
        next_href=(
            page_url(cluster, area, here, sort=sort.value, order=order, cursor=listing.next_cursor)
            if listing.next_cursor
            else None
        ),
        first_href=page_url(cluster, area, here, sort=sort.value, order=order) if cursor else None,
    )
    if notices:  # said once
        file_notices.forget(response, secure=gateway.settings.secure_cookies)
    return response


def whereabouts(gateway: Gateway, cluster: str, area: str, path: bytes, lang: str) -> dict[str, Any]:
    """Where a page of the file browser is: its cluster and area, their label, the breadcrumbs."""
    return {
        "cluster": cluster,
        "area": area,
        "area_label": _area_label(gateway, cluster, area, lang),
        "crumbs": crumbs(cluster, area, path),
        "root_href": area_url(cluster, area),
    }


@router.get("/files/{cluster}/{area}/view")
def file_page(
    request: Request,
    cluster: str,
    area: str,
    page: PageUser,
    gateway: GatewayDep,
    files: FilesDep,
    path: PathParam = None,
    end: Literal["head", "tail"] = "head",
) -> Response:
    """One file: what it is, its preview (head or tail of a text file, or the image), its download."""
    known_cluster(gateway, cluster)
    view = files.stat(page.user, cluster, area, path)
    text_path = view.path.decode("utf-8", "surrogateescape")
    if view.entry.kind is FileKind.DIRECTORY:
        return RedirectResponse(area_url(cluster, area, text_path), status_code=303)
    t = translator_for(request)
    preview: Preview | None = None
    not_text: object = None
    image = view.entry.kind is FileKind.FILE and image_type(view.path) is not None
    if view.entry.kind is FileKind.FILE and not image:
        try:
            preview = files.preview(page.user, cluster, area, path, end=end, max_bytes=DEFAULT_PREVIEW_BYTES)
        except UnsafeValue:
            raise
        except InvalidRequest as exc:  # binary data: said in the pane, the download stays offered
            not_text = exc.detail
    return render(
        request,
        "files_file.html",
        **whereabouts(gateway, cluster, area, view.path, t.lang),
        preview_bytes=DEFAULT_PREVIEW_BYTES,
        row=_row(cluster, area, view, t),
        preview=preview,
        not_text=not_text,
        end=end,
        head_href=view_url(cluster, area, text_path),
        tail_href=view_url(cluster, area, text_path, end="tail"),
        image_href=download_url(cluster, area, text_path, inline=True) if image else None,
        download_href=download_url(cluster, area, text_path) if view.entry.kind is FileKind.FILE else None,
        parent_href=area_url(cluster, area, text_path.rpartition("/")[0]),
        change_href=_row(cluster, area, view, t)["change"] if writable(gateway, cluster, area) else None,
    )


@router.get("/files/{cluster}/{area}/download")
def download_page(
    request: Request,
    cluster: str,
    area: str,
    page: PageUser,
    gateway: GatewayDep,
    files: FilesDep,
    path: PathParam = None,
    inline: bool = False,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
    if_range: Annotated[str | None, Header(alias="If-Range")] = None,
) -> Response:
    """The file streamed from the cluster, as the API's download (ranges included); with
    ``inline``, an image of a known type is sent as that type for the preview's ``<img>``
    (still an attachment, sandboxed, never sniffed: web/downloads.py)."""
    known_cluster(gateway, cluster)
    try:
        download = files.download(
            page.user, cluster, area, path, range_header=range_header, if_range=if_range
        )
    except RangeNotSatisfiable as exc:  # the error page, with the size a client resumes from
        failure = normalise(request, exc)
        return error_page(
            request,
            replace(failure, headers={**failure.headers, "Content-Range": f"bytes */{exc.size_bytes}"}),
        )
    media_type = (inline and image_type(download.entry.name)) or "application/octet-stream"
    return streamed_file(download, media_type)
