"""The write calls on cluster files as methods of ``Client`` (docs/client.md): upload, make a
directory, rename, copy, remove, disk usage and wildcards matched on the cluster.

Their models and the upload code are imported when called: every `myriagate` command builds a
Client, and `jobs list` should not pay for them (bench/cli_start.py). Refusals come back as the
gateway's problem details, raised as ``MyriagateError`` subclasses (an existing target:
AlreadyExists; a directory that is not empty removed without ``recursive``: Conflict).
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
        from myriagate.web.api.file_change_schemas import MadeDirectoriesOut

        body = {"path": path, "parents": parents}
        url = self._files_url(cluster, area, "mkdir")
        return self._model(MadeDirectoriesOut, self.request("POST", url, json=body))

    def rename_file(
        self, area: str, path: str, to: str, *, overwrite: bool = False, cluster: str | None = None
    ) -> RenamedOut:
        """Rename or move ``path`` to ``to`` within the area; an existing target is kept unless
        ``overwrite``."""
        from myriagate.web.api.file_change_schemas import RenamedOut

        body = {"path": path, "to": to, "overwrite": overwrite}
        url = self._files_url(cluster, area, "rename")
        return self._model(RenamedOut, self.request("POST", url, json=body))

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
        from myriagate.web.api.file_change_schemas import CopiedOut

        body = {"path": path, "to": to, "recursive": recursive, "overwrite": overwrite}
        url = self._files_url(cluster, area, "copy")
        return self._model(CopiedOut, self.request("POST", url, json=body))

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
        from myriagate.web.api.file_change_schemas import RemovedOut

        params = {"path": path, "recursive": recursive, "dry_run": dry_run}
        url = self._files_url(cluster, area, "entry")
        return self._model(RemovedOut, self.request("DELETE", url, params=params))

    def disk_usage(
        self,
        area: str,
        path: str = "",
        *,
        max_entries: int | None = None,
        max_seconds: float | None = None,
        cluster: str | None = None,
    ) -> UsageOut:
        """The bytes and entries under ``path``, bounded; ``partial`` says why when it is."""
        from myriagate.web.api.file_change_schemas import UsageOut

        params = {"path": path, "max_entries": max_entries, "max_seconds": max_seconds}
        url = self._files_url(cluster, area, "usage")
        return self._model(UsageOut, self.request("GET", url, params=params))

    def glob_files(self, area: str, pattern: str, *, cluster: str | None = None) -> GlobOut:
        """The entries a wildcard in the last name of ``pattern`` names, matched on the cluster."""
        from myriagate.web.api.file_change_schemas import GlobOut

        url = self._files_url(cluster, area, "glob")
        return self._model(GlobOut, self.request("GET", url, params={"pattern": pattern}))
