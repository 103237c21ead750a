"""Datasets: the list (mine and my projects', by project, in pages), one dataset (files, sizes,
sha256, where it is stored, which job produced it and which used it) and file downloads.

Everything goes through the datasets service, so the API's rules hold: a dataset the user may
not see answers the same 404 page as one that does not exist, and a file is sent only after
its copy matched the sha256 recorded at stage-out.
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from myriagate.services.staging import dataset_lookup
from myriagate.services.staging import datasets as datasets_service
from myriagate.web.deps import DbSession, GatewayDep
from myriagate.web.downloads import attachment_headers
from myriagate.web.pages.deps import PageUser
from myriagate.web.pages.forms import see_other
from myriagate.web.pages.rendering import render
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, include_in_schema=False)

PAGE_SIZE = 25


@router.get("/datasets")
def list_datasets(
    request: Request, page: PageUser, db: DbSession, project: str = "", cursor: str = ""
) -> Response:
    result = datasets_service.list_datasets(
        db, user=page.user, account=project[:64] or None, limit=PAGE_SIZE, cursor=cursor[:512] or None
    )
    return render(
        request,
        "datasets.html",
        datasets=result.items,
        next_cursor=result.next_cursor,
        paged=bool(cursor),
        projects=sorted({m.slurm_account for m in page.user.memberships}),
        values={"project": project},
    )


@router.get("/datasets/{dataset_id}")
def show_dataset(dataset_id: str, request: Request, page: PageUser, db: DbSession) -> Response:
    """The page's own address is the full id; the short id the CLI and the API show (a unique
    prefix) is sent there, found as the API finds it (among the datasets the reader may see)."""
    found = dataset_lookup.find_dataset_id(
        db, user=page.user, text=dataset_id[: dataset_lookup.MAX_REF_LENGTH]
    )
    if str(found) != dataset_id:
        return see_other(f"/datasets/{found}")
    view = datasets_service.get_dataset(db, dataset_id=found, user=page.user)
    return render(
        request,
        "dataset.html",
        view=view,
        dataset=view.dataset,
        produced_by=[u for u in view.uses if u.role.value == "output"],
        used_by=[u for u in view.uses if u.role.value == "input"],
    )


@router.get("/datasets/{dataset_id}/files/{path:path}")
def download(dataset_id: UUID, path: str, page: PageUser, db: DbSession, gateway: GatewayDep) -> FileResponse:
    """The verified file (``X-Content-SHA256``); a mismatch is an error page, never the bytes."""
    got = datasets_service.fetch_file(
        db,
        dataset_id=dataset_id,
        path=path,
        user=page.user,
        profile_for=gateway.profile,
        stager=gateway.stager(),
        spool_dir=gateway.settings.spool_dir,
    )
    return FileResponse(
        got.local,
        media_type="application/octet-stream",
        headers={**attachment_headers(got.path), "X-Content-SHA256": got.sha256},
        background=BackgroundTask(got.discard),  # the temporary copy goes once it is sent
    )
