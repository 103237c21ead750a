"""The file browser's forms that make and rename things (issue #17): a new folder, one entry's
page (rename or move it, copy it, a way to delete it), and the posts behind them.

Every change is the API's use case (``services.files.FileChanges``, as the reader's own cluster
login, in a writable area only), posted by a plain form with the session's CSRF token, and
answered with a redirect to the directory and a notice saying what was done, or with the
site's error page saying why not (``file_forms``). Names are sent as typed, never through a
shell: quotes, ``$(…)`` and leading dashes are only names.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from myriagate.domain.file_changes import Tally
from myriagate.domain.files import FileKind, display_name
from myriagate.errors import MyriagateError, Number, PermissionDenied, Text
from myriagate.web.api.file_changes import ChangesDep
from myriagate.web.api.files import FilesDep
from myriagate.web.deps import GatewayDep
from myriagate.web.pages.deps import PageUser
from myriagate.web.pages.file_forms import done, inside, parent_of, refused, required, ticked, writable
from myriagate.web.pages.file_links import action_url, area_url
from myriagate.web.pages.file_notices import Notice
from myriagate.web.pages.file_pages import PathParam, known_cluster, whereabouts
from myriagate.web.pages.forms import form_fields
from myriagate.web.pages.rendering import render, translator_for
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, include_in_schema=False)


def read_only(area: str) -> PermissionDenied:
    """The use cases' own refusal (its French is in the catalogs), for the pages of changes."""
    return PermissionDenied(
        Text("the area %(area)s is read-only: nothing in it is changed through the gateway", area=area),
        transient=False,
    )


def copy_name(path: str, directory: bool) -> str:
    """A free-looking name for a copy, offered in the form: ``out.txt`` -> ``out-copy.txt``."""
    folder, _, name = path.rpartition("/")
    stem, dot, extension = name.rpartition(".")
    plain = directory or not dot or not stem  # a folder, or a name without an extension
    return inside(folder, f"{name}-copy" if plain else f"{stem}-copy.{extension}")


def copied_notices(path: str, to: bytes, made: Tally) -> list[Notice]:
    """What a copy made, and what it left (fifos, devices) or could not copy."""
    notices = [
        Notice(
            "ok",
            Text(
                "%(path)s copied to %(to)s: %(files)s file(s), %(directories)s folder(s), %(links)s link(s).",
                path=path,
                to=display_name(to),
                files=Number(made.files),
                directories=Number(made.directories),
                links=Number(made.links),
            ),
        )
    ]
    if made.skipped:
        notices.append(Notice("warn", Text("%(n)s entries left out (pipes, sockets, devices).",
                                           n=Number(len(made.skipped)))))  # fmt: skip
    if made.failed:
        first = display_name(made.failed[0][0])
        notices.append(Notice("bad", Text("%(n)s entries could not be copied, the first: %(path)s.",
                                          n=Number(len(made.failed)), path=first)))  # fmt: skip
    return notices


@router.post("/files/{cluster}/{area}/mkdir")
async def make_directory(
    request: Request, cluster: str, area: str, page: PageUser, gateway: GatewayDep, changes: ChangesDep
) -> Response:
    """A new folder in the directory the form was on."""
    values = await form_fields(request)
    here = values.get("path", "")
    back = area_url(cluster, area, here)
    try:
        known_cluster(gateway, cluster)
        target = inside(here, required(values, "name"))
        await run_in_threadpool(changes.make_directory, page.user, cluster, area, target)
    except MyriagateError as exc:
        return refused(request, exc, back)
    return done(
        gateway, back, Notice("ok", Text("Folder %(name)s made.", name=display_name(target.encode())))
    )


@router.get("/files/{cluster}/{area}/change")
def change_page(
    request: Request,
    cluster: str,
    area: str,
    page: PageUser,
    gateway: GatewayDep,
    files: FilesDep,
    path: PathParam = None,
) -> Response:
    """One entry's changes: rename or move it, copy it, and the way to delete it."""
    known_cluster(gateway, cluster)
    if not writable(gateway, cluster, area):
        raise read_only(area)
    view = files.stat(page.user, cluster, area, path)
    text = view.path.decode("utf-8", "surrogateescape")
    directory = view.entry.kind is FileKind.DIRECTORY
    t = translator_for(request)
    return render(
        request,
        "files_change.html",
        **whereabouts(gateway, cluster, area, view.path, t.lang),
        entry_name=display_name(view.entry.name),
        path=text,
        kind=view.entry.kind.value,
        directory=directory,
        copy_to=copy_name(text, directory),
        rename_action=action_url(cluster, area, "rename"),
        copy_action=action_url(cluster, area, "copy"),
        delete_href=action_url(cluster, area, "delete", text),
        back_href=area_url(cluster, area, parent_of(text)),
    )


@router.post("/files/{cluster}/{area}/rename")
async def rename(
    request: Request, cluster: str, area: str, page: PageUser, gateway: GatewayDep, changes: ChangesDep
) -> Response:
    """Rename or move an entry in its area; an existing target is kept unless asked."""
    values = await form_fields(request)
    path = values.get("path", "")
    back = action_url(cluster, area, "change", path)
    try:
        known_cluster(gateway, cluster)
        to = required(values, "to")
        moved = await run_in_threadpool(
            lambda: changes.rename(page.user, cluster, area, path, to, overwrite=ticked(values, "overwrite"))
        )
    except MyriagateError as exc:
        return refused(request, exc, back)
    said = Text("%(path)s renamed to %(to)s.", path=path, to=display_name(moved))
    return done(gateway, area_url(cluster, area, parent_of(to)), Notice("ok", said))


@router.post("/files/{cluster}/{area}/copy")
async def copy(
    request: Request, cluster: str, area: str, page: PageUser, gateway: GatewayDep, changes: ChangesDep
) -> Response:
    """Copy a file, a link, or (only when ticked) a directory and what it holds."""
    values = await form_fields(request)
    path = values.get("path", "")
    back = action_url(cluster, area, "change", path)
    try:
        known_cluster(gateway, cluster)
        to = required(values, "to")
        made = await run_in_threadpool(
            lambda: changes.copy(
                page.user,
                cluster,
                area,
                path,
                to,
                recursive=ticked(values, "recursive"),
                overwrite=ticked(values, "overwrite"),
            )
        )
    except MyriagateError as exc:
        return refused(request, exc, back)
    return done(gateway, area_url(cluster, area, parent_of(to)), *copied_notices(path, to.encode(), made))
