"""Deleting from the file browser, and its disk usage (issue #17).

Nothing is removed from a link: "Delete" opens a confirmation page that says what would go (the
use case's dry run: files, folders, links, bytes) before anything does, and a folder that is
not empty is removed only when its box is ticked (``recursive``). The post is the API's use
case as the reader's own login (a link is removed, never what it points to). Disk usage is the
bounded walk of the API (``usage``), with why a figure is partial when it is.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from myriagate.domain.file_changes import Tally, UsageStop
from myriagate.domain.files import FileKind, display_name
from myriagate.errors import Number, Text
from myriagate.web.api.file_changes import ChangesDep
from myriagate.web.api.files import FilesDep
from myriagate.web.deps import GatewayDep
from myriagate.web.pages.deps import PageUser
from myriagate.web.pages.file_change_pages import changed_entry, entry_fields, posted_change
from myriagate.web.pages.file_forms import done, parent_of, ticked
from myriagate.web.pages.file_links import action_url, area_url
from myriagate.web.pages.file_notices import Notice
from myriagate.web.pages.file_pages import PathParam, known_cluster, whereabouts
from myriagate.web.pages.rendering import render, translator_for
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, include_in_schema=False)

# Why a disk-usage figure is partial, in the reader's words.
STOPPED = {
    UsageStop.TIME: Text("the count stopped after its time limit: the figures are a lower bound"),
    UsageStop.ENTRIES: Text("the count stopped after its number of entries: the figures are a lower bound"),
    UsageStop.UNREADABLE: Text("some folders could not be read by your login: their content is not counted"),
}


def removed_notice(path: str, gone: Tally) -> list[Notice]:
    said = Text(
        "%(path)s removed: %(files)s file(s), %(directories)s folder(s), %(links)s link(s).",
        path=path,
        files=Number(gone.files),
        directories=Number(gone.directories),
        links=Number(gone.links),
    )
    notices = [Notice("ok", said)]
    if gone.failed:
        first = display_name(gone.failed[0][0])
        notices.append(Notice("bad", Text("%(n)s entries could not be removed, the first: %(path)s.",
                                          n=Number(len(gone.failed)), path=first)))  # fmt: skip
    return notices


@router.get("/files/{cluster}/{area}/delete")
def delete_page(
    request: Request,
    cluster: str,
    area: str,
    page: PageUser,
    gateway: GatewayDep,
    files: FilesDep,
    changes: ChangesDep,
    path: PathParam = None,
) -> Response:
    """What deleting ``path`` would remove (a dry run, counting everything in a folder), and
    the form that removes it."""
    view = changed_entry(gateway, files, page, cluster, area, path)
    would = changes.remove(page.user, cluster, area, path, recursive=True, dry_run=True)
    return render(
        request,
        "files_delete.html",
        **entry_fields(request, gateway, cluster, area, view),
        # The folder itself is one of the directories counted: more than it means content.
        holds_more=view.entry.kind is FileKind.DIRECTORY and would.entries > 1,
        would=would,
        delete_action=action_url(cluster, area, "delete"),
        cancel_href=area_url(cluster, area, parent_of(view.path.decode("utf-8", "surrogateescape"))),
    )


@router.post("/files/{cluster}/{area}/delete")
async def delete(
    request: Request, cluster: str, area: str, page: PageUser, gateway: GatewayDep, changes: ChangesDep
) -> Response:
    """Remove the entry confirmed; a folder's content only when "everything in it" is ticked."""

    def remove(values: dict[str, str], path: str) -> Response:
        gone = changes.remove(page.user, cluster, area, path, recursive=ticked(values, "recursive"))
        return done(gateway, area_url(cluster, area, parent_of(path)), *removed_notice(path, gone))

    return await posted_change(
        request, gateway, cluster, lambda p: action_url(cluster, area, "delete", p), remove
    )


@router.get("/files/{cluster}/{area}/usage")
def usage_page(
    request: Request,
    cluster: str,
    area: str,
    page: PageUser,
    gateway: GatewayDep,
    changes: ChangesDep,
    path: PathParam = None,
) -> Response:
    """The disk usage under a directory (the area's root by default), bounded as the API's."""
    known_cluster(gateway, cluster)
    found = changes.usage(page.user, cluster, area, path)
    t = translator_for(request)
    here = found.path.decode("utf-8", "surrogateescape")
    return render(
        request,
        "files_usage.html",
        **whereabouts(gateway, cluster, area, found.path, t.lang),
        shown_path=display_name(found.path),
        usage=found,
        stopped=STOPPED.get(found.stopped) if found.stopped is not None else None,
        back_href=area_url(cluster, area, here),
        root_usage_href=action_url(cluster, area, "usage") if here else None,
    )
