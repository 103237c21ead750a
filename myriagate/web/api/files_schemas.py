"""The cluster files API's models (``/clusters/{cluster}/files/…``, docs/files.md).

Names and paths are shown with ``domain.files.display_name``: UTF-8 as is, every control
character, backslash and byte that is not UTF-8 escaped (``\\n``, ``\\\\``, ``\\xff``).
``exact`` says whether the shown path is the name itself, usable in a further request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from myriagate.domain.files import FileKind


class FileAreaOut(BaseModel):
    name: str = Field(examples=["scratch"])
    label: str = Field(examples=["Scratch (temporary, not backed up)"])
    label_fr: str = Field(examples=["Scratch (temporaire, non sauvegardé)"])
    root: str = Field(
        description="The area's root for the caller ('~' is their home)", examples=["/scratch/alice"]
    )
    writable: bool


class FileEntryOut(BaseModel):
    name: str = Field(description="The entry's name, odd bytes escaped", examples=["results.csv"])
    path: str = Field(description="Its path in the area, odd bytes escaped", examples=["run1/results.csv"])
    exact: bool = Field(description="Whether path is exactly the name on the cluster (no escape needed)")
    type: FileKind
    size_bytes: int
    modified_at: datetime
    permissions: str = Field(description="As ls -l shows them", examples=["-rw-r--r--"])
    mode: str = Field(description="Permission bits in octal", examples=["0644"])
    uid: int
    gid: int
    link_target: str | None = Field(
        default=None, description="What a symbolic link points to, as stored; links are never followed"
    )


class DirectoryListingOut(BaseModel):
    cluster: str
    area: str
    path: str = Field(description="The directory listed, relative to the area's root ('' is the root)")
    total: int = Field(description="Entries in the whole directory")
    entries: list[FileEntryOut]
    next_cursor: str | None = Field(description="Pass as cursor= for the next page; null on the last")


class FilePreviewOut(BaseModel):
    cluster: str
    area: str
    path: str
    end: Literal["head", "tail"]
    size_bytes: int
    offset: int = Field(description="Where the text starts in the file, in bytes")
    truncated: bool = Field(description="The file holds more than the text shown")
    text: str
