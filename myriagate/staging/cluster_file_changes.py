"""The write operations on a login's cluster files (``ClusterFilesWithChanges``: the reads of
``HelperClusterFiles`` and these): mkdir, rename, copy,
remove, disk usage and cluster-side wildcards, each run as the researcher's own login.

The far side is the browser's program with ``remote_helper.change`` and ``change_walks``
after it (``program``);
the request travels on stdin as JSON, names as hex of their bytes, so no name is ever on a
command line nor seen by a shell. What the far side refuses comes back as our errors
(``change_refusal``), said in terms of changing, not reading.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from myriagate.domain.file_changes import Tally, Usage, UsageStop
from myriagate.domain.files import ListingPage, display_name
from myriagate.errors import (
    AlreadyExists,
    BackendError,
    Conflict,
    InvalidRequest,
    MyriagateError,
    PermissionDenied,
    Text,
)
from myriagate.ports import CommandRunner
from myriagate.staging.cluster_files import (
    HelperClusterFiles,
    parse_entries,
    refusal,
    run_far_side,
    sized_program,
)
from myriagate.staging.ssh_command import BOOTSTRAP

_PARTS = ("basics", "tree", "browse", "change", "change_walks")
# A copy or a removal of a large tree, or a bounded usage walk, may outlast a listing's timeout.
LONG_TIMEOUT_S = 3600.0


@cache
def program() -> bytes:
    """What stdin starts with: basics, tree, browse, change and change_walks joined, length first."""
    return sized_program(_PARTS)


def change_refusal(header: dict[str, Any], asked: bytes) -> MyriagateError:
    """Our error for the far side's ``{"error": kind, ...}`` when something was to change."""
    kind = str(header.get("error"))
    raw_path = header.get("path")
    where = str(raw_path).encode("utf-8", "surrogateescape") if raw_path else asked
    shown = repr(display_name(where)) if where else "/"
    detail = str(header.get("detail") or kind)
    if kind == "exists":
        return AlreadyExists(Text("%(path)s already exists: it is kept as it is", path=shown))
    if kind == "not_empty":
        return Conflict(
            Text(
                "%(path)s is a directory that is not empty (%(count)s entries): remove it recursively "
                "to remove everything in it",
                path=shown,
                count=int(detail) if detail.isdigit() else "?",
            )
        )
    if kind == "permission":
        return PermissionDenied(
            Text("the cluster does not let your login change %(path)s", path=shown), transient=False
        )
    if kind == "root":
        return InvalidRequest(Text("the area's root itself is never moved, copied, replaced or removed"))
    if kind == "into_itself":
        return InvalidRequest(
            Text(
                "%(path)s lies inside the directory being moved or copied: a directory cannot go into itself",
                path=shown,
            )
        )
    if kind == "needs_recursive":
        return InvalidRequest(
            Text("%(path)s is a directory: copy it recursively (recursive, cp -r)", path=shown)
        )
    if kind == "is_dir":
        return InvalidRequest(Text("%(path)s is a directory: a file does not replace it", path=shown))
    if kind == "invalid":
        return InvalidRequest(
            Text("the cluster refused to change %(path)s: %(detail)s", path=shown, detail=detail)
        )
    if kind == "cross_device":
        return InvalidRequest(Text("%(path)s is on another file system: copy it instead", path=shown))
    if kind == "disk_full":
        return BackendError(Text("no space left (or over quota) writing %(path)s", path=shown))
    if kind == "read_only":
        return PermissionDenied(Text("%(path)s is on a read-only file system", path=shown), transient=False)
    if kind in ("missing", "unsafe", "not_dir", "not_file"):
        return refusal(header, asked)
    return BackendError(Text("the cluster could not change %(path)s: %(detail)s", path=shown, detail=detail))


def tally_of(header: dict[str, Any]) -> Tally:
    """What a copy or removal answered; its failures become ``failed`` (path, kind, detail)."""
    return Tally(
        files=int(header["files"]),
        directories=int(header["directories"]),
        links=int(header["links"]),
        others=int(header["others"]),
        size_bytes=int(header["bytes"]),
        skipped=tuple(bytes.fromhex(p) for p in header.get("skipped", [])),
        failed=tuple(
            (bytes.fromhex(p), str(kind), str(detail)) for p, kind, detail in header.get("failed", [])
        ),
    )


class FileChangeCalls:
    """The write operations over a login's runner (attributes set by ``HelperClusterFiles``)."""

    _runner: CommandRunner
    _python: str
    _timeout_s: float

    def _change(
        self, op: str, request: dict[str, Any], asked: bytes, *, long: bool = False
    ) -> tuple[dict[str, Any], bytes]:
        argv = [self._python, "-I", "-S", "-c", BOOTSTRAP, op]
        stdin = program() + json.dumps(request).encode()
        timeout = max(self._timeout_s, LONG_TIMEOUT_S) if long else self._timeout_s
        header, body = run_far_side(self._runner, argv, stdin, timeout)
        if "error" in header:
            raise change_refusal(header, asked)
        return header, body

    def make_directory(self, root: str, path: bytes, *, parents: bool = False) -> tuple[bytes, ...]:
        header, _ = self._change("mkdir", {"root": root, "path": path.hex(), "parents": parents}, path)
        return tuple(bytes.fromhex(p) for p in header["created"])

    def rename(self, root: str, path: bytes, to: bytes, *, overwrite: bool = False) -> None:
        request = {"root": root, "path": path.hex(), "to": to.hex(), "overwrite": overwrite}
        self._change("mv", request, path)

    def copy(
        self, root: str, path: bytes, to: bytes, *, recursive: bool = False, overwrite: bool = False
    ) -> Tally:
        request = {
            "root": root,
            "path": path.hex(),
            "to": to.hex(),
            "recursive": recursive,
            "overwrite": overwrite,
        }
        header, _ = self._change("cp", request, path, long=True)
        return tally_of(header)

    def remove(self, root: str, path: bytes, *, recursive: bool = False, dry_run: bool = False) -> Tally:
        request = {"root": root, "path": path.hex(), "recursive": recursive, "dry_run": dry_run}
        header, _ = self._change("rm", request, path, long=recursive)
        return tally_of(header)

    def usage(self, root: str, path: bytes, *, max_entries: int, max_seconds: float) -> Usage:
        request = {"root": root, "path": path.hex(), "max_entries": max_entries, "max_seconds": max_seconds}
        header, _ = self._change("du", request, path, long=True)
        stopped = header.get("stopped")
        return Usage(
            path=path,
            bytes_on_disk=int(header["bytes_on_disk"]),
            apparent_bytes=int(header["apparent_bytes"]),
            files=int(header["files"]),
            directories=int(header["directories"]),
            links=int(header["links"]),
            partial=stopped is not None,
            stopped=None if stopped is None else UsageStop(str(stopped)),
            unreadable=int(header["unreadable"]),
            seconds=float(header["seconds"]),
        )

    def glob(self, root: str, path: bytes, pattern: bytes, *, limit: int) -> ListingPage:
        request = {"root": root, "path": path.hex(), "pattern": pattern.hex(), "limit": limit}
        header, body = self._change("glob", request, path)
        entries = parse_entries(body)
        return ListingPage(entries=tuple(entries), total=int(header["total"]), more=bool(header["more"]))


class ClusterFilesWithChanges(HelperClusterFiles, FileChangeCalls):
    """The whole ``ClusterFiles`` port for one login: reads (``HelperClusterFiles``) and writes."""
