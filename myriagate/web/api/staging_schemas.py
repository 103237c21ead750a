"""API models of data staging: uploads, the staging part of a submission, datasets, storage.

Shared with the CLI, which reads responses with these same models (docs/staging.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import ConfigDict, Field

from myriagate.domain.states import JobState
from myriagate.web.api.api_model import ApiModel


class _In(ApiModel):
    model_config = ConfigDict(extra="forbid")


class StagingIn(_In):
    """What a job stages: inputs copied in before it runs, outputs copied out after it ends."""

    upload_id: UUID | None = Field(default=None, description="An upload of yours not used by a job yet")
    input_datasets: list[UUID] = Field(default_factory=list, max_length=16)
    output_patterns: list[str] = Field(
        default_factory=list, max_length=32, description="Globs relative to the job's directory"
    )
    store: str | None = Field(default=None, description="Storage endpoint for the outputs, e.g. caen")


# --- uploads ---------------------------------------------------------------------------
class UploadFileOut(ApiModel):
    path: str
    size_bytes: int
    sha256: str


class UploadOut(ApiModel):
    id: UUID
    created_at: datetime
    job_id: UUID | None = Field(description="The job that took the upload (null until submitted)")
    files: list[UploadFileOut]


class UploadCreated(ApiModel):
    id: UUID


# --- datasets --------------------------------------------------------------------------
class LocationOut(ApiModel):
    """Where the data physically is, as the endpoint's profile declares it."""

    endpoint: str
    site: str
    region: str
    operator: str
    display: str = Field(description='e.g. "Caen, FR-NOR"')


class DatasetFileOut(ApiModel):
    path: str
    size_bytes: int
    sha256: str


class DatasetUseOut(ApiModel):
    job_id: UUID
    role: str = Field(description="input or output")
    at: datetime


class DatasetOut(ApiModel):
    id: UUID
    short_id: str | None = Field(
        default=None,
        description="The shortest start of id (8 hex digits or more) that names this dataset alone among "
        "the datasets you may see; accepted wherever a dataset id is. In lists and one dataset's view",
    )
    name: str
    owner: str = Field(description="Username")
    cluster: str
    account: str | None
    location: LocationOut
    file_count: int
    size_bytes: int
    producer_job_id: UUID | None
    selection: Literal["job_dir", "newer_than_start", "directory"] = Field(
        description="How a job's results were chosen: every match in the job's own directory "
        "(job_dir), or, in a directory the researcher named with --chdir, only files changed "
        "after the job started (newer_than_start); a dataset saved from a file area holds every "
        "file of its directory (directory)"
    )
    saved_from: str | None = Field(
        default=None,
        description='Provenance of a dataset saved from a file area: the directory, "scratch:/run1" '
        "(saved by its owner); null for a job's results",
    )
    created_at: datetime


class DatasetDetail(DatasetOut):
    root: str = Field(description="Directory on the storage endpoint")
    files: list[DatasetFileOut]
    consumed_by: list[DatasetUseOut] = Field(description="Jobs that used the dataset as input")
    uses: list[DatasetUseOut]


class DatasetPage(ApiModel):
    items: list[DatasetOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at the end")


# --- a job's staging -------------------------------------------------------------------
class StagedFileOut(ApiModel):
    path: str
    size_bytes: int
    sha256: str


class JobDatasetOut(ApiModel):
    role: str
    dataset: DatasetOut


class JobStagingOut(ApiModel):
    job_id: UUID
    state: JobState
    upload_id: UUID | None
    input_datasets: list[UUID]
    staged_inputs: list[StagedFileOut] = Field(description="Verified manifest of what reached the cluster")
    job_dir: str | None
    output_patterns: list[str]
    store: str | None
    stage_in_at: datetime | None
    stage_out_at: datetime | None
    output_dataset_id: UUID | None
    attempts: int
    last_error: str | None
    datasets: list[JobDatasetOut]


# --- storage endpoints -----------------------------------------------------------------
class StorageEndpointOut(ApiModel):
    name: str
    site: str
    region: str
    operator: str
    allowed: bool = Field(description="Whether the region is in the gateway's allowed regions")
