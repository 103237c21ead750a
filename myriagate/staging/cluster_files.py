"""``HelperClusterFiles``: a researcher's files on the cluster, read as their own login.

Each call runs the stager's far-side program (``remote_helper``: ``basics`` + ``tree``, with
``browse`` for these operations) through the login's command runner: the program and the
request travel on stdin, names as hex of their bytes, so no file name is ever on a command
line or parsed by a shell. Containment is the stager's rule, applied on the cluster: the area's
root is opened, then every component below it without following a link. Listings come back as
NUL-terminated fields (names as raw bytes, parsed by ``parse_entries``); a download comes back
as a stream (``CommandStreams``), never collected in memory.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

from myriagate.domain.files import (
    ByteRange,
    Cursor,
    FileEntry,
    FileKind,
    ListingPage,
    RangeNotSatisfiable,
    SortKey,
    display_name,
    kind_of_mode,
)
from myriagate.errors import (
    BackendError,
    InvalidRequest,
    MyriagateError,
    NotFound,
    PermissionDenied,
    Text,
    UnsafeValue,
)
from myriagate.ports import CommandRunner
from myriagate.staging import remote_helper
from myriagate.staging.ssh_command import BOOTSTRAP, checked_python

_FIELDS = 7  # mode, size, mtime_ns, uid, gid, name, link target
_MAX_HEADER = 1 << 16
_CHUNK = 1 << 20


class CommandStream(Protocol):
    def read(self, size: int = ...) -> bytes: ...
    def exit_status(self, timeout: float) -> int: ...
    @property
    def error_text(self) -> str: ...


class CommandStreams(Protocol):
    """Opens a command whose stdout is read as it comes (``runners.streaming``)."""

    def open(
        self, argv: Sequence[str], *, stdin: bytes, idle_timeout: float
    ) -> contextlib.AbstractContextManager[CommandStream]: ...


def sized_program(names: Sequence[str]) -> bytes:
    """The far side's parts ``names`` joined (``remote_helper.joined_source``), length first:
    what stdin starts with, ahead of the request."""
    source = remote_helper.joined_source(names).encode("utf-8")
    return b"%d\n" % len(source) + source


@cache
def program() -> bytes:
    """What stdin starts with: the far side's source (length first), as the stager sends it."""
    return sized_program(("basics", "tree", "browse"))


def parse_entries(body: bytes) -> list[FileEntry]:
    """The entries of the far side's NUL-terminated fields; BackendError when they do not add up."""
    if not body:
        return []
    fields = body.split(b"\0")
    if fields[-1] != b"" or (len(fields) - 1) % _FIELDS:
        raise BackendError("the cluster's file listing was cut short or malformed")
    entries: list[FileEntry] = []
    append, symlink = entries.append, FileKind.SYMLINK
    records = iter(fields[:-1])
    try:
        for mode, size, mtime, uid, gid, name, target in zip(*[records] * _FIELDS, strict=True):
            mode_int = int(mode)
            kind = kind_of_mode(mode_int)
            link = target if kind is symlink else None
            append(FileEntry(name, kind, int(size), int(mtime), mode_int, int(uid), int(gid), link))
    except ValueError:
        raise BackendError("the cluster's file listing was malformed") from None
    return entries


def split_header(stdout: bytes) -> tuple[dict[str, Any], bytes]:
    line, newline, body = stdout.partition(b"\n")
    if not newline:
        raise BackendError("the cluster's answer had no header")
    try:
        header = json.loads(line)
    except ValueError:
        raise BackendError("the cluster's answer had a malformed header") from None
    if not isinstance(header, dict):
        raise BackendError("the cluster's answer had a malformed header")
    return header, body


def refusal(header: dict[str, Any], asked: bytes) -> MyriagateError:
    """Our error for the far side's ``{"error": kind, "path": …, "detail": …}``."""
    kind = str(header.get("error"))
    raw_path = header.get("path")
    where = str(raw_path).encode("utf-8", "surrogateescape") if raw_path else asked
    shown = display_name(where) if where else "/"
    detail = str(header.get("detail") or kind)
    if kind == "missing" and not raw_path and not asked:
        return NotFound(Text("this area's directory does not exist on the cluster for your login"))
    if kind == "missing":
        return NotFound(Text("no file or directory %(path)s in this area", path=repr(shown)))
    if kind == "permission":
        return PermissionDenied(
            Text("the cluster does not let your login read %(path)s", path=repr(shown)), transient=False
        )
    if kind == "unsafe":
        return UnsafeValue(
            Text(
                "%(path)s is a symbolic link or goes through one: links are shown, never followed, "
                "so no path leaves its area",
                path=repr(shown),
            )
        )
    if kind == "not_dir":
        return InvalidRequest(Text("%(path)s is not a directory", path=repr(shown)))
    if kind == "is_dir":
        return InvalidRequest(Text("%(path)s is a directory: list it instead", path=repr(shown)))
    if kind == "not_file":
        return InvalidRequest(Text("%(path)s is not a regular file", path=repr(shown)))
    if kind == "range":
        return RangeNotSatisfiable(int(detail) if detail.isdigit() else 0)
    return BackendError(
        Text("the cluster could not read %(path)s: %(detail)s", path=repr(shown), detail=detail)
    )


@dataclass
class Download:
    """An open read of one file: what it is, which bytes follow, and the bytes themselves."""

    entry: FileEntry
    size_bytes: int
    offset: int
    length: int
    ranged: bool  # a range was asked and is served (206); False: the whole file (200)
    etag: str
    _stream: CommandStream
    _stack: contextlib.ExitStack
    _sent: int = field(default=0)

    def chunks(self) -> Iterator[bytes]:
        """The bytes, in chunks of at most 1 MiB; BackendError when the file came short."""
        try:
            while self._sent < self.length:
                data = self._stream.read(min(_CHUNK, self.length - self._sent))
                if not data:
                    raise BackendError(Text("the file became shorter while it was sent: download it again"))
                self._sent += len(data)
                yield data
        finally:
            self.close()

    def close(self) -> None:
        self._stack.close()


def run_far_side(
    runner: CommandRunner, argv: list[str], stdin: bytes, timeout_s: float
) -> tuple[dict[str, Any], bytes]:
    """The far side's header and body; its ``error`` header is the caller's to say in its terms."""
    result = runner.run(argv, stdin=stdin, timeout=timeout_s, check=False)
    if result.returncode not in (0, 2) or not result.stdout:
        message = result.error_text.strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
        raise BackendError(Text("the cluster could not run the file browser: %(detail)s", detail=message[0]))
    return split_header(result.stdout)


class HelperClusterFiles:
    """The ``ClusterFiles`` port for one login (``services.files.ports``)."""

    def __init__(
        self,
        runner: CommandRunner,
        streams: CommandStreams,
        *,
        python: str = "/usr/bin/python3",
        timeout_s: float = 60.0,
    ) -> None:
        self._runner = runner
        self._streams = streams
        self._python = checked_python(python)
        self._timeout_s = timeout_s

    def _argv(self, op: str) -> list[str]:
        return [self._python, "-I", "-S", "-c", BOOTSTRAP, op]

    def _call(self, op: str, request: dict[str, Any], asked: bytes) -> tuple[dict[str, Any], bytes]:
        stdin = program() + json.dumps(request).encode()
        header, body = run_far_side(self._runner, self._argv(op), stdin, self._timeout_s)
        if "error" in header:
            raise refusal(header, asked)
        return header, body

    def list_dir(
        self,
        root: str,
        path: bytes,
        *,
        sort: SortKey = SortKey.NAME,
        descending: bool = False,
        limit: int = 500,
        after: Cursor | None = None,
    ) -> ListingPage:
        request: dict[str, Any] = {
            "root": root,
            "path": path.hex(),
            "sort": sort.value,
            "desc": descending,
            "limit": limit,
            "after": None if after is None else [after.key, after.name.hex()],
        }
        header, body = self._call("ls", request, path)
        entries = parse_entries(body)
        return ListingPage(entries=tuple(entries), total=int(header["total"]), more=bool(header["more"]))

    def stat(self, root: str, path: bytes) -> FileEntry:
        _header, body = self._call("stat", {"root": root, "path": path.hex()}, path)
        entries = parse_entries(body)
        if len(entries) != 1:
            raise BackendError("the cluster's answer about one file was malformed")
        return entries[0]

    def read(self, root: str, path: bytes, byte_range: ByteRange) -> tuple[FileEntry, int, bytes]:
        """(the file, its size, the bytes of ``byte_range``): a bounded read, for previews."""
        request = {"root": root, "path": path.hex(), "range": [byte_range.start, byte_range.end]}
        header, body = self._call("read", request, path)
        entry = _entry_of(header, path)
        if len(body) != int(header["length"]):
            raise BackendError(Text("the file became shorter while it was sent: download it again"))
        return entry, int(header["size"]), body

    def open_read(
        self, root: str, path: bytes, byte_range: ByteRange | None, if_range: str | None = None
    ) -> Download:
        """The file streamed (one command for the whole transfer); close the Download after."""
        request = {
            "root": root,
            "path": path.hex(),
            "range": None if byte_range is None else [byte_range.start, byte_range.end],
            "if_range": if_range,
        }
        stack = contextlib.ExitStack()
        try:
            stream = stack.enter_context(
                self._streams.open(
                    self._argv("read"),
                    stdin=program() + json.dumps(request).encode(),
                    idle_timeout=self._timeout_s,
                )
            )
            header, rest = _read_header(stream)
            if "error" in header:
                raise refusal(header, path)
            download = Download(
                entry=_entry_of(header, path),
                size_bytes=int(header["size"]),
                offset=int(header["offset"]),
                length=int(header["length"]),
                ranged=bool(header["ranged"]),
                etag=str(header["etag"]),
                _stream=_Prefixed(rest, stream),
                _stack=stack,
            )
        except BaseException:
            stack.close()
            raise
        return download


def _entry_of(header: dict[str, Any], path: bytes) -> FileEntry:
    entries = parse_entries(bytes.fromhex(str(header["record"])))
    if len(entries) != 1:
        raise BackendError("the cluster's answer about one file was malformed")
    entry = entries[0]
    name = path.rsplit(b"/", 1)[-1]
    return FileEntry(name, entry.kind, entry.size_bytes, entry.mtime_ns, entry.mode, entry.uid, entry.gid)


def _read_header(stream: CommandStream) -> tuple[dict[str, Any], bytes]:
    data = b""
    while b"\n" not in data:
        more = stream.read(_MAX_HEADER)
        if not more:
            detail = stream.error_text.splitlines()[-1:] or ["no answer"]
            raise BackendError(
                Text("the cluster could not run the file browser: %(detail)s", detail=detail[0])
            )
        data += more
        if len(data) > _MAX_HEADER and b"\n" not in data:
            raise BackendError("the cluster's answer had a malformed header")
    return split_header(data)


class _Prefixed:
    """A stream whose first bytes were already read with the header."""

    def __init__(self, first: bytes, stream: CommandStream) -> None:
        self._first = first
        self._stream = stream

    def read(self, size: int = _CHUNK) -> bytes:
        if self._first:
            out, self._first = self._first[:size], self._first[size:]
            return out
        return self._stream.read(size)

    def exit_status(self, timeout: float) -> int:
        return self._stream.exit_status(timeout)

    @property
    def error_text(self) -> str:
        return self._stream.error_text
