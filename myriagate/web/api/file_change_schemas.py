"""The models of the cluster files API's write operations (docs/files.md): mkdir, rename,
copy, remove, disk usage and cluster-side wildcards.

Paths in requests are relative to the area's root and checked by ``domain.files.area_path``;
paths in answers are shown with ``display_name`` (control characters, backslashes and bytes
that are not UTF-8 escaped), as the browser's answers show them.
"""

from __future__ import annotations

from pydantic import Field

from myriagate.domain.file_changes import UsageStop
from myriagate.web.api.api_model import ApiIn, ApiOut
from myriagate.web.api.files_schemas import FileEntryOut

PATH_HELP = "Path inside the area, relative to its root"


class MakeDirectoryIn(ApiIn):
    path: str = Field(description=PATH_HELP, examples=["run2/inputs"])
    parents: bool = Field(default=False, description="Make missing parents too; no error when it exists")


class MadeDirectoriesOut(ApiOut):
    cluster: str
    area: str
    path: str
    created: list[str] = Field(description="The directories made, outermost first")


class RenameIn(ApiIn):
    path: str = Field(description=PATH_HELP, examples=["run1/out.txt"])
    to: str = Field(description="Its new path in the same area", examples=["run1/out-old.txt"])
    overwrite: bool = Field(
        default=False, description="Replace an existing target (never a non-empty directory)"
    )


class RenamedOut(ApiOut):
    cluster: str
    area: str
    path: str = Field(description="The old path")
    to: str = Field(description="The new path")


class CopyIn(ApiIn):
    path: str = Field(description=PATH_HELP, examples=["run1"])
    to: str = Field(description="The copy's path in the same area (must not exist for a directory)")
    recursive: bool = Field(default=False, description="Copy a directory and everything in it")
    overwrite: bool = Field(default=False, description="Replace an existing file (never a directory)")


class FailedEntryOut(ApiOut):
    path: str
    reason: str = Field(description="permission, missing, unsafe, …", examples=["permission"])
    detail: str


class TallyOut(ApiOut):
    """What a copy made or a removal removed (would remove, on a dry run)."""

    cluster: str
    area: str
    path: str
    files: int
    directories: int
    links: int = Field(description="Symbolic links, copied or removed as links (never followed)")
    others: int = Field(description="Fifos, sockets, devices")
    size_bytes: int = Field(description="Sizes of the regular files")
    skipped: list[str] = Field(description="Left alone: a copy skips fifos, sockets and devices")
    failed: list[FailedEntryOut] = Field(description="What could not be done; the rest was done")
    complete: bool = Field(description="Nothing failed")


class CopiedOut(TallyOut):
    to: str


class RemovedOut(TallyOut):
    dry_run: bool = Field(description="Nothing was removed: the figures say what would be")


class UsageOut(ApiOut):
    cluster: str
    area: str
    path: str
    size_bytes_on_disk: int = Field(description="Blocks allocated, as du counts them (hard links once)")
    apparent_size_bytes: int = Field(description="File sizes as listed")
    files: int
    directories: int
    links: int
    partial: bool = Field(description="The walk stopped before counting everything")
    stopped: UsageStop | None = Field(description="Why it is partial: time, entries or unreadable")
    unreadable: int = Field(description="Directories your login could not read (content not counted)")
    seconds: float


class GlobOut(ApiOut):
    cluster: str
    area: str
    pattern: str
    total: int = Field(description="Every match (entries holds at most 10,000)")
    entries: list[FileEntryOut]
