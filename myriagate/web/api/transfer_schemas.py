"""API models of "save as dataset" and "copy dataset here" (issue #17, docs/files.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from myriagate.web.api.api_model import ApiIn, ApiModel


class SaveDatasetIn(ApiIn):
    path: str = Field(
        default="", max_length=1024, description="The directory inside the area (empty: the area's root)"
    )
    name: str = Field(max_length=255, description="The new dataset's name")
    store: str = Field(max_length=255, description="A storage endpoint of the cluster, by name")
    account: str | None = Field(
        default=None, max_length=64, description="The project it belongs to (default: your only one)"
    )


class CopyDatasetIn(ApiIn):
    area: str = Field(max_length=64, description="A writable file area of the dataset's cluster")
    path: str = Field(max_length=1024, description="The directory inside the area to copy the files into")
    cluster: str | None = Field(default=None, max_length=64, description="The dataset's cluster (checked)")
    replace: bool = Field(
        default=False, description="The directory may exist already: files of the same name are replaced"
    )


class SkippedOut(ApiModel):
    path: str = Field(description="Escaped: control characters, quotes and backslashes as \\xNN")
    kind: str = Field(description="link, special (fifo, socket, device) or name (a refused name)")


class DatasetTransferOut(ApiModel):
    id: UUID
    kind: Literal["save", "copy"]
    state: Literal["queued", "running", "completed", "failed"]
    cluster: str
    area: str
    path: str
    place: str = Field(description='The directory as "area:/path"')
    dataset_id: UUID = Field(description="save: the dataset made (once completed); copy: the one copied")
    name: str | None
    store: str | None
    account: str | None
    replace: bool
    file_count: int
    size_bytes: int
    skipped: list[SkippedOut] = Field(description="Files not saved, as stage-out skips them")
    note: str | None = Field(description="What happened, or why it failed or waits for a retry")
    note_said: str | None = Field(
        default=None,  # a client reading an older gateway's answer goes on with ``note``
        description="The note in the caller's language (Accept-Language), as the transfer's page says it",
    )
    attempts: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
