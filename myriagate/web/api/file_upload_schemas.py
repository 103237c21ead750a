"""The models of uploads into file areas (``/clusters/{cluster}/files/{area}/uploads``,
docs/files.md). Paths are shown as ``domain.files.display_name`` shows them."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from myriagate.web.api.api_model import ApiIn, ApiModel
from myriagate.web.api.files_schemas import FileEntryOut


class FileUploadIn(ApiIn):
    path: str = Field(
        description="Where the file goes, relative to the area's root", examples=["run1/input.h5"]
    )
    size_bytes: int = Field(ge=0, description="The whole file's size")
    sha256: str | None = Field(
        default=None,
        description="The file's sha256 (hex): checked before it is placed; a mismatch keeps nothing",
    )
    overwrite: bool = Field(
        default=False, description="Replace a file of that name (else 409 when one exists)"
    )


class FileUploadOut(ApiModel):
    id: str = Field(description="The upload's id (a signed ticket): PATCH its bytes, GET where it stands")
    cluster: str
    area: str
    path: str
    size_bytes: int
    offset: int = Field(description="Bytes the cluster holds: send the rest from here (Upload-Offset)")
    complete: bool = Field(description="The file is in place, checked")
    sha256: str | None = Field(description="Announced at the start; once complete, the file's own")
    overwrite: bool
    expires_at: datetime = Field(
        description="After this the id is refused; its partial data is removed later"
    )
    file: FileEntryOut | None = Field(default=None, description="The file as placed, once complete")
