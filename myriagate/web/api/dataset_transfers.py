"""Datasets into and out of file areas (issue #17): save a directory as a dataset, copy a dataset
into a directory, follow either.

Both are asynchronous, as job staging is: the request is checked (residency, containment, the
area, the target) and recorded, answered 202 with ``Location``; the worker moves the bytes
and the record says how it went (``GET /dataset-transfers/{id}``). Every refusal is problem
details; residency, unknown endpoints and paths through links are audited.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response

from myriagate.domain.dataset_transfers import place
from myriagate.services.dataset_transfers.records import TransferRecord
from myriagate.services.dataset_transfers.requests import (
    MAX_LIST,
    CopyRequest,
    DatasetTransfers,
    SaveRequest,
)
from myriagate.web import i18n
from myriagate.web.api.dataset_refs import DatasetIdRef
from myriagate.web.api.files import FilesDep
from myriagate.web.api.transfer_schemas import CopyDatasetIn, DatasetTransferOut, SaveDatasetIn, SkippedOut
from myriagate.web.deps import ClockDep, CurrentUser, DbSession, GatewayDep
from myriagate.web.problems import problem_responses
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, tags=["datasets"])


async def get_dataset_transfers(files: FilesDep, gateway: GatewayDep, clock: ClockDep) -> DatasetTransfers:
    """The use cases on the app's gateway, clock and file browser (tests swap the browser)."""
    return DatasetTransfers(files=files, residency=gateway.residency(), clock=clock)


TransfersDep = Annotated[DatasetTransfers, Depends(get_dataset_transfers)]


def callers_language(request: Request) -> i18n.Translator:
    """The caller's language, chosen as for problem details: the worker's note is stored in
    English, and the CLI printed it so to a French researcher (issue #17 trial)."""
    cookie = request.cookies.get(i18n.LANGUAGE_COOKIE)
    return i18n.Translator(i18n.choose_language(cookie, request.headers.get("accept-language")))


LanguageDep = Annotated[i18n.Translator, Depends(callers_language)]


def transfer_out(record: TransferRecord, t: i18n.Translator) -> DatasetTransferOut:
    return DatasetTransferOut(
        id=record.id,
        kind=record.kind.value,
        state=record.state.value,
        cluster=record.cluster,
        area=record.area,
        path=record.path,
        place=place(record.area, record.path),
        dataset_id=record.dataset_id,
        name=record.name,
        store=record.endpoint,
        account=record.account,
        replace=record.replace,
        file_count=record.file_count,
        size_bytes=record.size_bytes,
        skipped=[SkippedOut(path=path, kind=kind) for path, kind in record.skipped],
        note=record.note,
        note_said=t.stored(record.note) if record.note is not None else None,
        attempts=record.attempts,
        created_at=record.created_at,
        updated_at=record.updated_at,
        finished_at=record.finished_at,
    )


def _accepted(record: TransferRecord, response: Response, t: i18n.Translator) -> DatasetTransferOut:
    response.headers["Location"] = f"/api/v1/dataset-transfers/{record.id}"
    return transfer_out(record, t)


@router.post(
    "/clusters/{cluster}/files/{area}/datasets",
    status_code=202,
    response_model=DatasetTransferOut,
    responses=problem_responses(403, 404, 422, 502, 503),
    summary="Save a directory of a file area as a dataset on a storage endpoint",
)
def save_dataset(
    cluster: str,
    area: str,
    body: SaveDatasetIn,
    user: CurrentUser,
    session: DbSession,
    transfers: TransfersDep,
    response: Response,
    t: LanguageDep,
) -> DatasetTransferOut:
    """Checked now (endpoint, residency, the directory as your login), moved by the worker."""
    request = SaveRequest(cluster, area, body.path, body.name, body.store, body.account)
    return _accepted(transfers.save(session, user, request), response, t)


@router.post(
    "/datasets/{dataset_id}/copies",
    status_code=202,
    response_model=DatasetTransferOut,
    responses=problem_responses(403, 404, 409, 422, 502, 503),
    summary="Copy a dataset into a directory of a writable file area",
)
def copy_dataset(
    dataset_id: DatasetIdRef,  # a full id or a unique prefix, as every dataset route
    body: CopyDatasetIn,
    user: CurrentUser,
    session: DbSession,
    transfers: TransfersDep,
    response: Response,
    t: LanguageDep,
) -> DatasetTransferOut:
    """An existing directory is refused (409) unless ``replace`` is true."""
    request = CopyRequest(dataset_id, body.area, body.path, body.cluster, body.replace)
    return _accepted(transfers.copy(session, user, request), response, t)


@router.get(
    "/dataset-transfers",
    response_model=list[DatasetTransferOut],
    responses=problem_responses(422),
    summary="My saves and copies, newest first",
)
def list_transfers(
    user: CurrentUser,
    session: DbSession,
    transfers: TransfersDep,
    t: LanguageDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 50,
) -> list[DatasetTransferOut]:
    return [transfer_out(r, t) for r in transfers.mine(session, user, limit)]


@router.get(
    "/dataset-transfers/{transfer_id}",
    response_model=DatasetTransferOut,
    responses=problem_responses(404),
    summary="One save or copy: its state, what it moved, what it skipped",
)
def show_transfer(
    transfer_id: UUID, user: CurrentUser, session: DbSession, transfers: TransfersDep, t: LanguageDep
) -> DatasetTransferOut:
    return transfer_out(transfers.get(session, user, transfer_id), t)
