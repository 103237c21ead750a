"""The file browser's forms that make and rename things (issue #17): a new folder, one entry's
page (rename or move it, copy it, a way to delete it), and the posts behind them.

Every change is the API's use case (``services.files.FileChanges``, as the reader's own cluster
login, in a writable area only), posted by a plain form with the session's CSRF token, and
answered with a redirect to the directory and a notice saying what was done, or with the
site's error page saying why not (``file_forms``). Names are sent as typed, never through a
shell: quotes, ``$(…)`` and leading dashes are only names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from myriagate.domain.file_changes import Tally
from myriagate.domain.files import FileKind, display_name
from myriagate.errors import Conflict, InvalidRequest, MyriagateError, Number, PermissionDenied, Text
from myriagate.services.files.browser import EntryView, FileBrowser
from myriagate.web.api.file_changes import ChangesDep
from myriagate.web.api.files import FilesDep
from myriagate.web.deps import GatewayDep
from myriagate.web.pages.deps import PageContext, PageUser
from myriagate.web.pages.file_forms import done, inside, parent_of, refused, required, ticked, writable
from myriagate.web.pages.file_links import action_url, area_url
from myriagate.web.pages.file_notices import Notice
from myriagate.web.pages.file_pages import PathParam, known_cluster, whereabouts
from myriagate.web.pages.forms import form_fields
from myriagate.web.pages.rendering import render, translator_for
from myriagate.web.routing import ReleasingRoute
from myriagate.wiring import Gateway

router = APIRouter(route_class=ReleasingRoute, include_in_schema=False)


def read_only(area: str) -> PermissionDenied:
    """The use cases' own refusal (its French is in the catalogs), for the pages of changes."""
    return PermissionDenied(
        Text("the area %(area)s is read-only: nothing in it is changed through the gateway", area=area),
        transient=False,
    )


def changed_entry(
    gateway: Gateway, files: FileBrowser, page: PageContext, cluster: str, area: str, path: str | None
) -> EntryView:
    """The entry a page of changes is about: on a known cluster, in a writable area."""
    known_cluster(gateway, cluster)
    if not writable(gateway, cluster, area):
        raise read_only(area)
    return files.stat(page.user, cluster, area, path)


def entry_fields(
    request: Request, gateway: Gateway, cluster: str, area: str, view: EntryView
) -> dict[str, Any]:
    """What a page of changes says of its entry: where it is, its shown name, path and kind."""
    return {
        **whereabouts(gateway, cluster, area, view.path, translator_for(request).lang),
        "entry_name": display_name(view.entry.name),
        "path": view.path.decode("utf-8", "surrogateescape"),
        "kind": view.entry.kind.value,
    }


Again = Callable[[dict[str, str], str, MyriagateError], Response]


async def posted_change(
    request: Request,
    gateway: Gateway,
    cluster: str,
    back: Callable[[str], str],
    change: Callable[[dict[str, str], str], Response],
    again: Again | None = None,
) -> Response:
    """A change's post: ``change(fields, path)`` run off the event loop on a known cluster
    (it answers with ``done``). Refused for what was typed (422, 409), ``again`` shows the
    form once more with the error by its field; otherwise, or when that form cannot be shown
    (the entry is gone), the error page with a way back to ``back(path)``."""
    values = await form_fields(request)
    path = values.get("path", "")
    try:
        known_cluster(gateway, cluster)
        return await run_in_threadpool(change, values, path)
    except MyriagateError as exc:
        if again is not None and isinstance(exc, InvalidRequest | Conflict):
            try:
                return await run_in_threadpool(again, values, path, exc)
            except MyriagateError:
                pass
        return refused(request, exc, back(path))


# The word a copy's suggested name ends with, in the page's language (a file name, not a
# sentence: no catalog entry to mistake for the "Copy" button's).
_COPY_WORD = {"en": "copy", "fr": "copie"}


def copy_name(path: str, directory: bool, lang: str = "en") -> str:
    """A free-looking name for a copy, offered in the form: ``out.txt`` -> ``out-copy.txt``
    (``out-copie.txt`` on a French page)."""
    folder, _, name = path.rpartition("/")
    stem, dot, extension = name.rpartition(".")
    plain = directory or not dot or not stem  # a folder, or a name without an extension
    word = _COPY_WORD.get(lang, _COPY_WORD["en"])
    return inside(folder, f"{name}-{word}" if plain else f"{stem}-{word}.{extension}")


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

    def make(values: dict[str, str], here: str) -> Response:
        target = inside(here, required(values, "name"))
        changes.make_directory(page.user, cluster, area, target)
        said = Text("Folder %(name)s made.", name=display_name(target.encode()))
        return done(gateway, area_url(cluster, area, here), Notice("ok", said))

    return await posted_change(request, gateway, cluster, lambda here: area_url(cluster, area, here), make)


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
    return change_form(request, gateway, files, page, cluster, area, path)


def change_form(
    request: Request,
    gateway: Gateway,
    files: FileBrowser,
    page: PageContext,
    cluster: str,
    area: str,
    path: str | None,
    refusal: tuple[str, dict[str, str], MyriagateError] | None = None,
) -> Response:
    """The entry's page; with ``refusal`` (the form, what was posted, the error), that form
    shows what was typed and ticked, and the error under its path (the error's own status)."""
    view = changed_entry(gateway, files, page, cluster, area, path)
    text = view.path.decode("utf-8", "surrogateescape")
    directory = view.entry.kind is FileKind.DIRECTORY
    form, typed, exc = refusal if refusal is not None else ("", {}, None)
    return render(
        request,
        "files_change.html",
        status=exc.http_status if exc is not None else 200,
        **entry_fields(request, gateway, cluster, area, view),
        directory=directory,
        form=form,
        typed=typed,
        errors={f"{form}-to": [exc.detail]} if exc is not None else {},
        rename_to=typed.get("to", text) if form == "rename" else text,
        copy_to=typed.get("to", text)
        if form == "copy"
        else copy_name(text, directory, translator_for(request).lang),
        rename_action=action_url(cluster, area, "rename"),
        copy_action=action_url(cluster, area, "copy"),
        delete_href=action_url(cluster, area, "delete", text),
        back_href=area_url(cluster, area, parent_of(text)),
    )


@router.post("/files/{cluster}/{area}/rename")
async def rename(
    request: Request,
    cluster: str,
    area: str,
    page: PageUser,
    gateway: GatewayDep,
    changes: ChangesDep,
    files: FilesDep,
) -> Response:
    """Rename or move an entry in its area; an existing target is kept unless asked."""

    def move(values: dict[str, str], path: str) -> Response:
        to = required(values, "to")
        moved = changes.rename(page.user, cluster, area, path, to, overwrite=ticked(values, "overwrite"))
        said = Text("%(path)s renamed to %(to)s.", path=path, to=display_name(moved))
        return done(gateway, area_url(cluster, area, parent_of(to)), Notice("ok", said))

    def again(values: dict[str, str], path: str, exc: MyriagateError) -> Response:
        return change_form(request, gateway, files, page, cluster, area, path, ("rename", values, exc))

    return await posted_change(
        request, gateway, cluster, lambda p: action_url(cluster, area, "change", p), move, again
    )


@router.post("/files/{cluster}/{area}/copy")
async def copy(
    request: Request,
    cluster: str,
    area: str,
    page: PageUser,
    gateway: GatewayDep,
    changes: ChangesDep,
    files: FilesDep,
) -> Response:
    """Copy a file, a link, or (only when ticked) a directory and what it holds."""

    def duplicate(values: dict[str, str], path: str) -> Response:
        to = required(values, "to")
        recursive, overwrite = ticked(values, "recursive"), ticked(values, "overwrite")
        made = changes.copy(page.user, cluster, area, path, to, recursive=recursive, overwrite=overwrite)
        return done(gateway, area_url(cluster, area, parent_of(to)), *copied_notices(path, to.encode(), made))

    def again(values: dict[str, str], path: str, exc: MyriagateError) -> Response:
        return change_form(request, gateway, files, page, cluster, area, path, ("copy", values, exc))

    return await posted_change(
        request, gateway, cluster, lambda p: action_url(cluster, area, "change", p), duplicate, again
    )
