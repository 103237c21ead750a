"""What the file use cases need from the cluster side, one login at a time.

``staging.cluster_file_changes.ClusterFilesWithChanges`` implements ``ClusterFiles`` (the
reads of ``staging.cluster_files.HelperClusterFiles`` and the writes of ``ClusterFileChanges``;
wired in ``myriagate.wiring_files``); tests pass fakes. Every path is relative to an area's
root and was checked by ``domain.files.area_path``; the implementation resolves it on the
cluster without following links and refuses, with our errors, what the cluster refuses
(``NotFound``, ``PermissionDenied``, ``UnsafeValue``, ``InvalidRequest``,
``RangeNotSatisfiable``; for changes also ``AlreadyExists`` and ``Conflict``). Uploads have
their own port (``upload_ports``), each operation as the login, with the same containment.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from myriagate.domain.file_changes import Tally, Usage
from myriagate.domain.files import ByteRange, Cursor, FileEntry, ListingPage, SortKey


class FileDownload(Protocol):
    """An open read of one file; ``chunks()`` yields its bytes and closes it at the end."""

    @property
    def entry(self) -> FileEntry: ...
    @property
    def size_bytes(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def length(self) -> int: ...
    @property
    def ranged(self) -> bool: ...
    @property
    def etag(self) -> str: ...
    def chunks(self) -> Iterator[bytes]: ...
    def close(self) -> None: ...


class ClusterFileChanges(Protocol):
    """The write operations (``staging.cluster_file_changes``, docs/files.md): each names what
    it changes by a directory descriptor and one name on the cluster, never following a link."""

    def make_directory(self, root: str, path: bytes, *, parents: bool = ...) -> tuple[bytes, ...]:
        """The directories made (with ``parents``, every missing one above too)."""
        ...

    def rename(self, root: str, path: bytes, to: bytes, *, overwrite: bool = ...) -> None: ...

    def copy(
        self, root: str, path: bytes, to: bytes, *, recursive: bool = ..., overwrite: bool = ...
    ) -> Tally: ...

    def remove(self, root: str, path: bytes, *, recursive: bool = ..., dry_run: bool = ...) -> Tally: ...

    def usage(self, root: str, path: bytes, *, max_entries: int, max_seconds: float) -> Usage: ...

    def glob(self, root: str, path: bytes, pattern: bytes, *, limit: int) -> ListingPage:
        """The entries of the directory ``path`` whose names match ``pattern``, matched on the cluster."""
        ...


class ClusterFiles(ClusterFileChanges, Protocol):
    """One login's files on one cluster; ``root`` is an area's root for that login."""

    def list_dir(
        self,
        root: str,
        path: bytes,
        *,
        sort: SortKey = ...,
        descending: bool = ...,
        limit: int = ...,
        after: Cursor | None = ...,
    ) -> ListingPage: ...

    def stat(self, root: str, path: bytes) -> FileEntry: ...

    def read(self, root: str, path: bytes, byte_range: ByteRange) -> tuple[FileEntry, int, bytes]:
        """(the file, its whole size, the bytes of the range): bounded, for previews."""
        ...

    def open_read(
        self, root: str, path: bytes, byte_range: ByteRange | None, if_range: str | None = None
    ) -> FileDownload:
        """The file (or its range) as a stream; memory stays flat whatever its size."""
        ...


class ClusterFilesFactory(Protocol):
    """Hands out ``ClusterFiles`` acting as a given cluster login (connections are pooled)."""

    def for_login(self, login: str) -> ClusterFiles: ...
