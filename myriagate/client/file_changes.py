"""The write calls on cluster files (docs/files.md), as functions of a ``Client``: make a
directory, rename, copy, remove (with a dry run that counts first), disk usage, and the
entries a wildcard names, matched on the cluster. Refusals come back as the gateway's
problem details, raised as ``MyriagateError`` subclasses (an existing target: AlreadyExists;
a directory that is not empty removed without ``recursive``: Conflict)."""

from __future__ import annotations

from myriagate.client.files import FileCalls
from myriagate.web.api.file_change_schemas import (
    CopiedOut,
    GlobOut,
    MadeDirectoriesOut,
    RemovedOut,
    RenamedOut,
    UsageOut,
)


def make_directory(
    client: FileCalls, area: str, path: str, *, parents: bool = False, cluster: str | None = None
) -> MadeDirectoriesOut:
    url = client._files_url(cluster, area, "mkdir")
    return client._model(
        MadeDirectoriesOut, client.request("POST", url, json={"path": path, "parents": parents})
    )


def rename(
    client: FileCalls, area: str, path: str, to: str, *, overwrite: bool = False, cluster: str | None = None
) -> RenamedOut:
    body = {"path": path, "to": to, "overwrite": overwrite}
    return client._model(
        RenamedOut, client.request("POST", client._files_url(cluster, area, "rename"), json=body)
    )


def copy(
    client: FileCalls,
    area: str,
    path: str,
    to: str,
    *,
    recursive: bool = False,
    overwrite: bool = False,
    cluster: str | None = None,
) -> CopiedOut:
    body = {"path": path, "to": to, "recursive": recursive, "overwrite": overwrite}
    return client._model(
        CopiedOut, client.request("POST", client._files_url(cluster, area, "copy"), json=body)
    )


def remove(
    client: FileCalls,
    area: str,
    path: str,
    *,
    recursive: bool = False,
    dry_run: bool = False,
    cluster: str | None = None,
) -> RemovedOut:
    """Remove ``path``; ``dry_run`` counts what would be removed and removes nothing."""
    params = {"path": path, "recursive": recursive, "dry_run": dry_run}
    return client._model(
        RemovedOut, client.request("DELETE", client._files_url(cluster, area, "entry"), params=params)
    )


def usage(
    client: FileCalls,
    area: str,
    path: str = "",
    *,
    max_entries: int | None = None,
    max_seconds: float | None = None,
    cluster: str | None = None,
) -> UsageOut:
    params = {"path": path, "max_entries": max_entries, "max_seconds": max_seconds}
    return client._model(
        UsageOut, client.request("GET", client._files_url(cluster, area, "usage"), params=params)
    )


def glob(client: FileCalls, area: str, pattern: str, *, cluster: str | None = None) -> GlobOut:
    """The entries a wildcard in the last name of ``pattern`` names, matched on the cluster."""
    url = client._files_url(cluster, area, "glob")
    return client._model(GlobOut, client.request("GET", url, params={"pattern": pattern}))
