"""``/datasets`` and ``/jobs/{id}/staging``: staged data, where it physically is, where it came from.

A dataset is visible to its owner, the members of its project and platform admins; anything
else answers 404 like a missing one. A file is downloaded through the gateway, verified
against the sha256 recorded at stage-out before the first byte is sent.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from myriagate.services.staging import dataset_lookup
from myriagate.services.staging import datasets as datasets_service
from myriagate.web.api.dataset_refs import DatasetIdRef
from myriagate.web.api.staging_schemas import (
    DatasetDetail,
    DatasetFileOut,
    DatasetOut,
    DatasetPage,
    DatasetUseOut,
    JobDatasetOut,
    JobStagingOut,
    LocationOut,
    StagedFileOut,
)
from myriagate.web.deps import CurrentUser, DbSession, GatewayDep
from myriagate.web.downloads import attachment_headers
from myriagate.web.problems import problem_responses
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, tags=["datasets"])

_FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": {}}, "description": "The file's bytes, verified"},
    **problem_responses(404, 409, 422, 502, 503),
}


# How a dataset's files were chosen, as the API names it (rows older than a rule read as job_dir).
_SELECTIONS: dict[str, Literal["job_dir", "newer_than_start", "directory"]] = {
    "newer_than_start": "newer_than_start",
    "directory": "directory",
}


def dataset_out(view: datasets_service.DatasetView, short_id: str | None = None) -> DatasetOut:
    d = view.dataset
    return DatasetOut(
        id=d.id,
        short_id=short_id,
        name=d.name,
        owner=view.owner,
        cluster=d.cluster,
        account=d.slurm_account,
        location=LocationOut(
            endpoint=d.endpoint,
            site=d.site,
            region=d.region,
            operator=d.operator,
            display=f"{d.site}, {d.region}",
        ),
        file_count=d.file_count,
        size_bytes=d.size_bytes,
        producer_job_id=d.producer_job_id,
        selection=_SELECTIONS.get(d.selection, "job_dir"),
        saved_from=d.saved_from,
        created_at=d.created_at,
    )


@router.get(
    "/datasets", response_model=DatasetPage, responses=problem_responses(422), summary="Datasets I may see"
)
def list_datasets(
    user: CurrentUser,
    session: DbSession,
    account: Annotated[str | None, Query(max_length=64, description="Project (Slurm account)")] = None,
    job: Annotated[UUID | None, Query(description="Datasets a job consumed or produced")] = None,
    limit: Annotated[int, Query(ge=1, le=datasets_service.MAX_LIMIT)] = datasets_service.DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512, description="The previous next_cursor")] = None,
) -> DatasetPage:
    """Newest first; pages follow ``next_cursor``."""
    page = datasets_service.list_datasets(
        session, user=user, account=account, job_id=job, limit=limit, cursor=cursor
    )
    short = dataset_lookup.short_ids(session, user=user, dataset_ids=[v.dataset.id for v in page.items])
    return DatasetPage(
        items=[dataset_out(v, short[v.dataset.id]) for v in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/datasets/{dataset_id}",
    response_model=DatasetDetail,
    responses=problem_responses(404, 409, 422),
    summary="One dataset: files, location, provenance",
)
def show(dataset_id: DatasetIdRef, user: CurrentUser, session: DbSession) -> DatasetDetail:
    view = datasets_service.get_dataset(session, dataset_id=dataset_id, user=user)
    uses = [DatasetUseOut(job_id=u.job_id, role=u.role.value, at=u.at) for u in view.uses]
    short = dataset_lookup.short_ids(session, user=user, dataset_ids=[dataset_id])[dataset_id]
    return DatasetDetail(
        **dataset_out(view, short).model_dump(),
        root=view.dataset.root,
        files=[
            DatasetFileOut(path=f.path, size_bytes=f.size_bytes, sha256=f.sha256) for f in view.dataset.files
        ],
        consumed_by=[u for u in uses if u.role == "input"],
        uses=uses,
    )


@router.get(
    "/datasets/{dataset_id}/files/{path:path}",
    response_class=FileResponse,
    responses=_FILE_RESPONSES,
    summary="Download one file of a dataset (checksum verified)",
)
def download(
    dataset_id: DatasetIdRef, path: str, user: CurrentUser, session: DbSession, gateway: GatewayDep
) -> FileResponse:
    """The file's bytes; its sha256 is in ``X-Content-SHA256``. A copy that does not match the
    recorded checksum is never sent (502 ``checksum_mismatch``)."""
    got = datasets_service.fetch_file(
        session,
        dataset_id=dataset_id,
        path=path,
        user=user,
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


@router.get(
    "/jobs/{job_id}/staging",
    response_model=JobStagingOut,
    responses=problem_responses(404),
    summary="A job's staging: inputs, verified manifest, outputs, datasets",
)
def job_staging(job_id: UUID, user: CurrentUser, session: DbSession) -> JobStagingOut:
    view = datasets_service.job_staging(session, job_id=job_id, user=user)
    plan = view.plan
    return JobStagingOut(
        job_id=view.job.id,
        state=view.job.state,
        upload_id=plan.upload_id,
        input_datasets=list(plan.input_dataset_ids),
        staged_inputs=[
            StagedFileOut(path=f.path, size_bytes=f.size_bytes, sha256=f.sha256) for f in plan.staged_inputs
        ],
        job_dir=plan.job_dir,
        output_patterns=list(plan.output_patterns),
        store=plan.output_endpoint,
        stage_in_at=plan.stage_in_at,
        stage_out_at=plan.stage_out_at,
        output_dataset_id=plan.output_dataset_id,
        attempts=plan.attempts,
        last_error=plan.last_error,
        datasets=[JobDatasetOut(role=role.value, dataset=dataset_out(v)) for v, role in view.datasets],
    )
