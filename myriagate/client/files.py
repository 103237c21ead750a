"""Cluster files through the gateway (``/clusters/{cluster}/files``, docs/files.md): the
caller's areas, directory listings across every page, one entry, a preview, a download.

Everything runs on the cluster as the caller's own login; the gateway checks each path
(``domain.files.area_path``) and the cluster's permissions decide the rest, so refusals come
back as the gateway's problem details, raised as ``MyriagateError`` subclasses. Names and
paths are the API's: shown literally, odd bytes escaped, ``exact`` saying whether a path can
be asked for as it is spelt.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import quote

from myriagate.client.transport import Transport
from myriagate.domain.files import DEFAULT_PAGE, SortKey
from myriagate.errors import BackendError, FieldError, InvalidRequest, NotFound
from myriagate.web.api.schemas import ClusterOut

# The file models and the download code are imported by the calls that use them: every
# `myriagate` command builds a Client, and `jobs list` should not pay for them (bench/cli_start.py).
if TYPE_CHECKING:
    from myriagate.client.transfers import TransferProgress
    from myriagate.web.api.files_schemas import DirectoryListingOut, FileAreaOut, FileEntryOut, FilePreviewOut

DEFAULT_PREVIEW_BYTES = 65536


def sort_key(sort: SortKey | str) -> SortKey:
    """A listing's order by name; a misspelt one is refused with the names that exist."""
    try:
        return SortKey(sort)
    except ValueError:
        names = ", ".join(k.value for k in SortKey)
        raise InvalidRequest(
            f"cannot sort files by {sort!r}: choose one of {names}", fields=[FieldError(("sort",), names)]
        ) from None


class FileCalls(Transport):
    """The file calls of ``Client`` (mixed into it). ``cluster=None`` is the gateway's default
    cluster, asked once per client."""

    _default_cluster: str | None = None

    def default_cluster(self) -> str:
        if self._default_cluster is None:
            clusters = self._list(ClusterOut, self.request("GET", "/clusters"))
            default = next((c.name for c in clusters if c.is_default), None)
            if default is None:
                raise NotFound("the gateway names no default cluster: say which one (cluster=, -M)")
            self._default_cluster = default
        return self._default_cluster

    def _files_url(self, cluster: str | None, area: str | None, action: str) -> str:
        base = f"/clusters/{quote(cluster or self.default_cluster(), safe='')}/files"
        return f"{base}/{action}" if area is None else f"{base}/{quote(area, safe='')}/{action}"

    def file_areas(self, cluster: str | None = None) -> list[FileAreaOut]:
        """Your file areas on the cluster (home, scratch, …) with their roots for your login."""
        from myriagate.web.api.files_schemas import FileAreaOut

        return self._list(FileAreaOut, self.request("GET", self._files_url(cluster, None, "areas")))

    def files_page(
        self,
        area: str,
        path: str = "",
        *,
        cluster: str | None = None,
        sort: SortKey | str = SortKey.NAME,
        descending: bool = False,
        limit: int = DEFAULT_PAGE,
        cursor: str | None = None,
    ) -> DirectoryListingOut:
        """One page of a directory (``next_cursor`` leads to the next)."""
        params = {
            "path": path,
            "sort": sort_key(sort).value,
            "order": "desc" if descending else "asc",
            "limit": limit,
            "cursor": cursor,
        }
        response = self.request("GET", self._files_url(cluster, area, "list"), params=params)
        from myriagate.web.api.files_schemas import DirectoryListingOut

        return self._model(DirectoryListingOut, response)

    def iter_files(
        self,
        area: str,
        path: str = "",
        *,
        cluster: str | None = None,
        sort: SortKey | str = SortKey.NAME,
        descending: bool = False,
        page_size: int = DEFAULT_PAGE,
    ) -> Iterator[FileEntryOut]:
        """Every entry of a directory, page after page, in the order asked."""
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = self.files_page(
                area, path, cluster=cluster, sort=sort, descending=descending, limit=page_size, cursor=cursor
            )
            yield from page.entries
            if page.next_cursor is None or not page.entries:
                return
            if page.next_cursor in seen:  # a server going round in circles must not loop us forever
                raise BackendError(f"the listing of {area}:{path} handed out the same cursor twice")
            seen.add(page.next_cursor)
            cursor = page.next_cursor

    def list_files(
        self,
        area: str,
        path: str = "",
        *,
        cluster: str | None = None,
        sort: SortKey | str = SortKey.NAME,
        descending: bool = False,
        page_size: int = DEFAULT_PAGE,
    ) -> list[FileEntryOut]:
        """The whole directory (every page), sorted by ``name``, ``size`` or ``mtime``."""
        entries = self.iter_files(
            area, path, cluster=cluster, sort=sort, descending=descending, page_size=page_size
        )
        return list(entries)

    def stat_file(self, area: str, path: str = "", *, cluster: str | None = None) -> FileEntryOut:
        """One file or directory; a symbolic link is described, never followed."""
        from myriagate.web.api.files_schemas import FileEntryOut

        response = self.request("GET", self._files_url(cluster, area, "stat"), params={"path": path})
        return self._model(FileEntryOut, response)

    def preview_file(
        self,
        area: str,
        path: str,
        *,
        cluster: str | None = None,
        tail: bool = False,
        max_bytes: int = DEFAULT_PREVIEW_BYTES,
    ) -> FilePreviewOut:
        """The first (``tail=True``: last) ``max_bytes`` of a text file, at most 1 MiB, as text."""
        from myriagate.web.api.files_schemas import FilePreviewOut

        params = {"path": path, "end": "tail" if tail else "head", "max_bytes": max_bytes}
        return self._model(
            FilePreviewOut, self.request("GET", self._files_url(cluster, area, "preview"), params=params)
        )

    def download_file(
        self,
        area: str,
        path: str,
        dest: Path | str = ".",
        *,
        cluster: str | None = None,
        progress: TransferProgress | None = None,
        overwrite: bool = False,
    ) -> Path:
        """Stream the file to ``dest`` (a directory, or a path ending with '/': under the file's
        own name) and return the path written.

        The bytes go to ``.<name>.part`` beside the target, never all in memory; an interrupted
        download is resumed from there by the next call when the gateway can (a byte range
        valid only while the file is unchanged), and the size received is checked before the
        file is renamed into place. An existing target is kept unless ``overwrite``.
        """
        from myriagate.client import file_download

        target = Path(dest)
        if target.is_dir() or str(dest).endswith(("/", os.sep)):  # "out/": a directory, made if need be
            target = target / file_download.local_name(path.rstrip("/").rsplit("/", 1)[-1])
        return file_download.fetch(
            self,
            self._files_url(cluster, area, "download"),
            {"path": path},
            target,
            label=f"{area}:{path}",
            progress=progress,
            overwrite=overwrite,
        )

    def copy_file(self, area: str, path: str, out: BinaryIO, *, cluster: str | None = None) -> int:
        """Stream the file's bytes to ``out`` (an open binary stream such as stdout) and return
        its size, checked against the gateway's; nothing is written to disk."""
        from myriagate.client import file_download

        url = self._files_url(cluster, area, "download")
        return file_download.copy_to(self, url, {"path": path}, out, label=f"{area}:{path}")
