"""``HelperClusterUploads``: files written into a researcher's area as their own login.

Each call runs the far-side program (``remote_helper``: ``basics``, ``tree``, ``browse`` and
``upload``) through the login's runner, as the file browser does (``cluster_files``): program
and request on stdin, the path as hex of its bytes, nothing on a command line. ``append``
feeds the request's bytes to the command's stdin as they arrive (``runners.feeds``), never
collecting them. What the far side refuses becomes our error (``refusal``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from functools import cache
from typing import Any, Protocol

from myriagate.domain.file_uploads import AppendOutcome, InsufficientStorage, UploadOffsetMismatch
from myriagate.domain.files import display_name
from myriagate.errors import (
    AlreadyExists,
    BackendError,
    ChecksumMismatch,
    Conflict,
    InvalidRequest,
    MyriagateError,
    NotFound,
    Number,
    PermissionDenied,
    Text,
)
from myriagate.ports import CommandRunner
from myriagate.staging import cluster_files
from myriagate.staging.cluster_files import parse_entries, split_header
from myriagate.staging.ssh_command import BOOTSTRAP, checked_python


class CommandFeed(Protocol):
    def write(self, data: bytes) -> bool: ...
    def answer(self) -> bytes: ...
    @property
    def error_text(self) -> str: ...


class CommandFeeds(Protocol):
    """Opens a command whose stdin is fed as it comes (``runners.feeds``)."""

    def open(
        self, argv: Sequence[str], *, head: bytes, idle_timeout: float
    ) -> contextlib.AbstractContextManager[CommandFeed]: ...


@cache
def program() -> bytes:
    """What stdin starts with: the far side's source (length first)."""
    return cluster_files.sized_program(("basics", "tree", "browse", "upload"))


def refusal(header: dict[str, Any], asked: bytes) -> MyriagateError:
    """Our error for what the far side refused of an upload to ``asked``."""
    kind, detail = str(header.get("error")), str(header.get("detail") or "")
    shown = repr(display_name(asked))
    if kind == "exists":
        return AlreadyExists(Text("%(path)s already exists: not replaced (ask to overwrite it)", path=shown))
    if kind == "disk_full":
        free = int(detail) if detail.isdigit() else 0
        return InsufficientStorage(
            Text(
                "the area's disk or your quota there has no room for %(path)s "
                "(%(free)s bytes free): nothing was written",
                path=shown,
                free=Number(free),  # 8,388,608 (en), 8 388 608 (fr): a byte count people can read
            )
        )
    if kind == "offset":
        return UploadOffsetMismatch(int(detail) if detail.isdigit() else 0)
    if kind == "no_upload":
        return NotFound(Text("no such upload on the cluster: it finished, was cancelled or expired"))
    if kind == "busy":
        return Conflict(Text("another request is sending this upload now: wait for it to end"))
    if kind == "checksum":
        return ChecksumMismatch(
            Text(
                "%(path)s arrived with sha256 %(got)s, not the one announced: nothing kept",
                path=shown,
                got=detail,
            )
        )
    if kind == "too_long":
        return InvalidRequest(Text("more bytes were sent than the upload's size: nothing kept"))
    if kind in ("permission", "read_only"):
        return PermissionDenied(
            Text("the cluster does not let your login write %(path)s", path=shown), transient=False
        )
    return cluster_files.refusal(header, asked)


class _FeedWriter:
    """``UploadWriter`` over a fed command (``services.files.upload_ports``)."""

    def __init__(self, feed: CommandFeed, stack: contextlib.ExitStack, asked: bytes) -> None:
        self._feed = feed
        self._stack = stack
        self._asked = asked
        self._stopped = False

    def write(self, data: bytes) -> None:
        if not self._stopped and not self._feed.write(data):
            self._stopped = True  # it refused or failed: finish() reads why

    def finish(self) -> AppendOutcome:
        try:
            header, _ = _answer(self._feed.answer(), self._feed.error_text)
        finally:
            self._stack.close()
        if "error" in header:
            raise refusal(header, self._asked)
        if not header.get("complete"):
            return AppendOutcome(offset=int(header["offset"]), complete=False)
        entries = parse_entries(bytes.fromhex(str(header["record"])))
        if len(entries) != 1:
            raise BackendError("the cluster's answer about the uploaded file was malformed")
        entry = entries[0]._replace(name=self._asked.rsplit(b"/", 1)[-1])
        return AppendOutcome(int(header["offset"]), True, str(header["sha256"]), entry)

    def abort(self) -> None:
        self._stack.close()


def _answer(stdout: bytes, error_text: str) -> tuple[dict[str, Any], bytes]:
    if not stdout:
        detail = error_text.strip().splitlines()[-1:] or ["no answer"]
        raise BackendError(Text("the cluster could not run the upload: %(detail)s", detail=detail[0]))
    return split_header(stdout)


class HelperClusterUploads:
    """The ``ClusterUploads`` port for one login (``services.files.upload_ports``)."""

    def __init__(
        self,
        runner: CommandRunner,
        feeds: CommandFeeds,
        *,
        python: str = "/usr/bin/python3",
        timeout_s: float = 60.0,
    ) -> None:
        self._runner = runner
        self._feeds = feeds
        self._python = checked_python(python)
        self._timeout_s = timeout_s

    def _argv(self, op: str) -> list[str]:
        return [self._python, "-I", "-S", "-c", BOOTSTRAP, op]

    def _call(self, op: str, request: dict[str, Any], asked: bytes) -> dict[str, Any]:
        stdin = program() + json.dumps(request).encode() + b"\n"
        result = self._runner.run(self._argv(op), stdin=stdin, timeout=self._timeout_s, check=False)
        if result.returncode not in (0, 2):
            result_text = result.error_text or f"exit status {result.returncode}"
            raise BackendError(
                Text("the cluster could not run the upload: %(detail)s", detail=result_text.splitlines()[-1])
            )
        header, _ = _answer(result.stdout, result.error_text)
        if "error" in header:
            raise refusal(header, asked)
        return header

    def begin(self, root: str, path: bytes, *, upload: str, size_bytes: int, overwrite: bool) -> None:
        request = {
            "root": root,
            "path": path.hex(),
            "upload": upload,
            "size": size_bytes,
            "overwrite": overwrite,
        }
        self._call("begin", request, path)

    def offset(self, root: str, path: bytes, *, upload: str) -> int:
        return int(self._call("offset", {"root": root, "path": path.hex(), "upload": upload}, path)["offset"])

    def discard(self, root: str, path: bytes, *, upload: str) -> None:
        self._call("discard", {"root": root, "path": path.hex(), "upload": upload}, path)

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
    ) -> _FeedWriter:
        request = {
            "root": root,
            "path": path.hex(),
            "upload": upload,
            "offset": offset,
            "size": size_bytes,
            "sha256": sha256,
            "overwrite": overwrite,
        }
        head = program() + json.dumps(request).encode() + b"\n"
        stack = contextlib.ExitStack()
        try:
            feed = stack.enter_context(
                self._feeds.open(self._argv("append"), head=head, idle_timeout=self._timeout_s)
            )
        except BaseException:
            stack.close()
            raise
        return _FeedWriter(feed, stack, path)
