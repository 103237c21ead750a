"""The write calls on cluster files as methods of ``Client`` (docs/client.md): upload, make a
directory, rename, copy, remove, disk usage and wildcards matched on the cluster.

Each delegates to its module (``client.file_upload``, ``client.file_changes``), imported when
called: every `myriagate` command builds a Client, and `jobs list` should not pay for them
(bench/cli_start.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from myriagate.client.files import FileCalls

if TYPE_CHECKING:
    from myriagate.client.transfers import TransferProgress
    from myriagate.web.api.file_change_schemas import (
        CopiedOut,
        GlobOut,
        MadeDirectoriesOut,
        RemovedOut,
        RenamedOut,
        UsageOut,
    )
    from myriagate.web.api.file_upload_schemas import FileUploadOut


class FileChangeCalls(FileCalls):
    """Mixed into ``Client``: what changes files on the cluster, as the caller's own login."""

    def upload_file(
        self,
        local: Path | str,
        area: str,
        path: str,
        *,
        cluster: str | None = None,
        overwrite: bool = False,
        progress: TransferProgress | None = None,
    ) -> FileUploadOut:
        """Write the local file ``local`` to ``area:path``: streamed, resumed by a later call
        after a cut, placed only once whole and its sha256 checked; an existing file is kept
        (``AlreadyExists``) unless ``overwrite``."""
        from myriagate.client.file_upload import upload_file

        return upload_file(self, area, path, local, cluster=cluster, overwrite=overwrite, progress=progress)

    def make_directory(
        self, area: str, path: str, *, parents: bool = False, cluster: str | None = None
    ) -> MadeDirectoriesOut:
        """``mkdir`` (``parents=True``: ``mkdir -p``, never through a link)."""
        from myriagate.client import file_changes

        return file_changes.make_directory(self, area, path, parents=parents, cluster=cluster)

    def rename_file(
        self, area: str, path: str, to: str, *, overwrite: bool = False, cluster: str | None = None
    ) -> RenamedOut:
        """Rename or move ``path`` to ``to`` within the area; an existing target is kept unless
        ``overwrite``."""
        from myriagate.client import file_changes

        return file_changes.rename(self, area, path, to, overwrite=overwrite, cluster=cluster)

    def copy_on_cluster(
        self,
        area: str,
        path: str,
        to: str,
        *,
        recursive: bool = False,
        overwrite: bool = False,
        cluster: str | None = None,
    ) -> CopiedOut:
        """Copy ``path`` to ``to`` on the cluster (a directory needs ``recursive``); links are
        copied as links, never followed."""
        from myriagate.client import file_changes

        return file_changes.copy(
            self, area, path, to, recursive=recursive, overwrite=overwrite, cluster=cluster
        )

    def remove_file(
        self,
        area: str,
        path: str,
        *,
        recursive: bool = False,
        dry_run: bool = False,
        cluster: str | None = None,
    ) -> RemovedOut:
        """Remove ``path`` (a directory with content needs ``recursive``); ``dry_run`` only
        counts what would go."""
        from myriagate.client import file_changes

        return file_changes.remove(self, area, path, recursive=recursive, dry_run=dry_run, cluster=cluster)

    def disk_usage(self, area: str, path: str = "", *, cluster: str | None = None) -> UsageOut:
        """The bytes and entries under ``path``, bounded; ``partial`` says why when it is."""
        from myriagate.client import file_changes

        return file_changes.usage(self, area, path, cluster=cluster)

    def glob_files(self, area: str, pattern: str, *, cluster: str | None = None) -> GlobOut:
        """The entries a wildcard in the last name of ``pattern`` names, matched on the cluster."""
        from myriagate.client import file_changes

        return file_changes.glob(self, area, pattern, cluster=cluster)
