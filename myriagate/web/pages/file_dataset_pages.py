"""Datasets in and out of the file browser (issue #17): "save as dataset" from a directory,
"copy here" from a dataset's page, and a page following either transfer.

The forms call the API's use cases (``services.dataset_transfers.requests.DatasetTransfers``):
everything a refusal depends on (the endpoint, residency, the directory as the reader's login,
a writable target area, an existing target) is checked before anything is recorded, and a
refusal is the site's error page in the reader's language with a way back to the form. The
worker moves the bytes; the transfer's page re-reads itself while it is not final (the
``data-refresh`` region of app.js; a reload without JavaScript) and links to the dataset.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from myriagate.domain.dataset_transfers import TransferKind, place
from myriagate.errors import MyriagateError
from myriagate.services.dataset_transfers.requests import CopyRequest, SaveRequest
from myriagate.services.staging import datasets as datasets_service
from myriagate.web.api.dataset_transfers import TransfersDep
from myriagate.web.deps import DbSession, GatewayDep
from myriagate.web.pages.deps import PageUser
from myriagate.web.pages.file_forms import refused, ticked
from myriagate.web.pages.file_links import action_url, area_url
from myriagate.web.pages.file_pages import PathParam, known_cluster, whereabouts
from myriagate.web.pages.forms import form_fields, see_other
from myriagate.web.pages.rendering import render, translator_for
from myriagate.web.pages.staging_forms import store_choices
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, include_in_schema=False)
REFRESH_S = 3


def transfer_url(transfer_id: uuid.UUID) -> str:
    return f"/dataset-transfers/{transfer_id}"


@router.get("/files/{cluster}/{area}/save-dataset")
def save_page(
    request: Request, cluster: str, area: str, page: PageUser, gateway: GatewayDep, path: PathParam = None
) -> Response:
    """The form: a name, a storage endpoint of the cluster (those outside the allowed regions
    listed but disabled, with why), the project it belongs to."""
    known_cluster(gateway, cluster)
    here = (path or "").strip("/")
    profile = gateway.profile(cluster)
    accounts = sorted({m.slurm_account for m in page.user.memberships if m.cluster == profile.name})
    t = translator_for(request)
    return render(
        request,
        "files_save_dataset.html",
        **whereabouts(gateway, cluster, area, here.encode("utf-8", "surrogateescape"), t.lang),
        path=here,
        place=place(area, here),
        dataset_name=here.rpartition("/")[2] or area,
        stores=store_choices(profile, gateway.settings.allowed_regions),
        accounts=accounts,
        save_action=action_url(cluster, area, "save-dataset"),
        back_href=area_url(cluster, area, here),
    )


@router.post("/files/{cluster}/{area}/save-dataset")
async def save(
    request: Request,
    cluster: str,
    area: str,
    page: PageUser,
    gateway: GatewayDep,
    db: DbSession,
    transfers: TransfersDep,
) -> Response:
    """Record the save (checked first); then its page, which follows the worker."""
    values = await form_fields(request)
    path = values.get("path", "")
    asked = SaveRequest(
        cluster, area, path, values.get("name", ""), values.get("store", ""), values.get("account") or None
    )
    try:
        known_cluster(gateway, cluster)
        record = await run_in_threadpool(transfers.save, db, page.user, asked)
    except MyriagateError as exc:
        return refused(request, exc, action_url(cluster, area, "save-dataset", path))
    return see_other(transfer_url(record.id))


@router.get("/datasets/{dataset_id}/copy")
def copy_page(
    request: Request, dataset_id: uuid.UUID, page: PageUser, gateway: GatewayDep, db: DbSession
) -> Response:
    """The form: which writable area of the dataset's cluster, which directory in it."""
    dataset = datasets_service.get_dataset(db, dataset_id=dataset_id, user=page.user).dataset
    t = translator_for(request)
    areas = []
    if dataset.cluster in gateway.profiles:
        for a in gateway.profile(dataset.cluster).files.areas:
            if a.writable:
                areas.append((a.name, a.label_fr if t.lang == "fr" else a.label))
    return render(
        request,
        "dataset_copy.html",
        dataset=dataset,
        areas=areas,
        copy_action=f"/datasets/{dataset.id}/copy",
        back_href=f"/datasets/{dataset.id}",
    )


@router.post("/datasets/{dataset_id}/copy")
async def copy(
    request: Request, dataset_id: uuid.UUID, page: PageUser, db: DbSession, transfers: TransfersDep
) -> Response:
    """Record the copy (a writable area, an existing directory only when "replace" is ticked)."""
    values = await form_fields(request)
    asked = CopyRequest(
        dataset_id, values.get("area", ""), values.get("path", ""), None, ticked(values, "replace")
    )
    try:
        record = await run_in_threadpool(transfers.copy, db, page.user, asked)
    except MyriagateError as exc:
        return refused(request, exc, f"/datasets/{dataset_id}/copy")
    return see_other(transfer_url(record.id))


@router.get("/dataset-transfers/{transfer_id}")
def transfer_page(
    request: Request, transfer_id: uuid.UUID, page: PageUser, db: DbSession, transfers: TransfersDep
) -> Response:
    """One save or copy of the reader's: its state, what it moved or skipped, its dataset."""
    record = transfers.get(db, page.user, transfer_id)
    directory = record.path.strip("/")
    return render(
        request,
        "dataset_transfer.html",
        transfer=record,
        saving=record.kind is TransferKind.SAVE,
        place=place(record.area, record.path),
        refresh=REFRESH_S if not record.state.final else None,
        directory_href=area_url(record.cluster, record.area, directory),
        dataset_href=f"/datasets/{record.dataset_id}",
    )
