"""What the upload use cases need from the cluster side, one login at a time (docs/files.md).

``staging.cluster_uploads.HelperClusterUploads`` implements ``ClusterUploads`` (wired in
``myriagate.wiring_uploads``); tests pass ``tests/fakes/fake_cluster_uploads.py``. As for the
browser's port, every path is relative to an area's root, checked by ``domain.files.area_path``,
and resolved on the cluster without following a link. ``upload`` is the id of the hidden
partial file the bytes go to (``domain.file_uploads.UploadTicket.upload``), in the target's
own directory. Refusals are our errors: ``NotFound`` (no directory, no such upload),
``AlreadyExists``, ``UnsafeValue`` (a link), ``PermissionDenied``, ``InsufficientStorage``,
``UploadOffsetMismatch``, ``ChecksumMismatch``.
"""

from __future__ import annotations

from typing import Protocol

from myriagate.domain.file_uploads import AppendOutcome


class UploadWriter(Protocol):
    """One request's bytes on their way to the partial file, in order."""

    def write(self, data: bytes) -> None:
        """Send ``data``; blocks while the cluster is slower than the client (memory stays flat)."""
        ...

    def finish(self) -> AppendOutcome:
        """No more bytes: what the cluster holds now (placed and checked when complete)."""
        ...

    def abort(self) -> None:
        """Stop at once; what was written stays in the partial file for a later resume."""
        ...


class ClusterUploads(Protocol):
    """One login's uploads on one cluster; ``root`` is an area's root for that login."""

    def begin(self, root: str, path: bytes, *, upload: str, size_bytes: int, overwrite: bool) -> None:
        """Check the target and the space left, then create the empty partial file."""
        ...

    def offset(self, root: str, path: bytes, *, upload: str) -> int:
        """How many bytes the partial file holds."""
        ...

    def open_append(
        self,
        root: str,
        path: bytes,
        *,
        upload: str,
        offset: int,
        size_bytes: int,
        sha256: str | None,
        overwrite: bool,
    ) -> UploadWriter:
        """A writer appending from ``offset`` (which must be the partial file's size)."""
        ...

    def discard(self, root: str, path: bytes, *, upload: str) -> None:
        """Remove the partial file."""
        ...


class ClusterUploadsFactory(Protocol):
    """Hands out ``ClusterUploads`` acting as a given cluster login (connections are pooled)."""

    def for_login(self, login: str) -> ClusterUploads: ...
