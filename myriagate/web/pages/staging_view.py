"""The staged data of a job page: what is being copied now and why it waits, the inputs that
reached the cluster (sizes, sha256), the results stored as a dataset and where it is."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from myriagate.domain.states import JobState
from myriagate.errors import NotFound
from myriagate.profiles.models import ClusterProfile
from myriagate.services.jobs.queries import JobRecord
from myriagate.services.people.auth import User
from myriagate.services.staging import datasets as datasets_service
from myriagate.services.staging import uploads
from myriagate.web.pages.staging_forms import PlannedFile, StoreChoice, store_choice


@dataclass(frozen=True)
class JobStagingPage:
    """``plan`` is the job's staging plan (attempts, last error, directory, times)."""

    plan: datasets_service.StagingPlanRecord
    moving: str | None  # "in" or "out" while the job is in that staging state
    inputs: list[PlannedFile]
    inputs_verified: bool  # the manifest checked on the cluster, not just what was sent
    input_datasets: list[datasets_service.DatasetView]
    outputs: list[datasets_service.DatasetView]  # with their files
    store: StoreChoice | None
    patterns: list[str]


def _waiting_inputs(db: Session, upload_id: uuid.UUID | None, user: User) -> list[PlannedFile]:
    """The upload's files before stage-in (shown to its owner only: uploads are private)."""
    if upload_id is None:
        return []
    try:
        upload = uploads.get_own_upload(db, upload_id, user)
    except NotFound:
        return []
    return [PlannedFile(f.path, f.size_bytes, f.sha256) for f in upload.files]


def job_staging_page(
    db: Session, *, job: JobRecord, user: User, profile: ClusterProfile, allowed_regions: Sequence[str]
) -> JobStagingPage | None:
    """The job's staging as the page shows it; None when the job stages nothing."""
    try:
        view = datasets_service.job_staging(db, job_id=job.id, user=user)
    except NotFound:
        return None
    plan = view.plan
    staged = [PlannedFile(f.path, f.size_bytes, f.sha256) for f in plan.staged_inputs]
    inputs = staged or _waiting_inputs(db, plan.upload_id, user)
    outputs = [
        datasets_service.get_dataset(db, dataset_id=dv.dataset.id, user=user)
        for dv, role in view.datasets
        if role.value == "output"
    ]
    endpoint = profile.storage_endpoint(plan.output_endpoint) if plan.output_endpoint else None
    moving = {JobState.STAGING_IN: "in", JobState.STAGING_OUT: "out"}.get(job.state)
    return JobStagingPage(
        plan=plan,
        moving=moving,
        inputs=sorted(inputs, key=lambda f: f.path),
        inputs_verified=bool(staged),
        input_datasets=[dv for dv, role in view.datasets if role.value == "input"],
        outputs=outputs,
        store=store_choice(endpoint, allowed_regions) if endpoint is not None else None,
        patterns=list(plan.output_patterns),
    )
