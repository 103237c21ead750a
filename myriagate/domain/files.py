"""Cluster files as the gateway shows them: entries, sort orders, paging cursors, byte ranges,
and the rules a path inside an area must follow before it goes anywhere.

Names are kept as the bytes the cluster's filesystem holds (a name may be any bytes but '/'
and NUL, not necessarily UTF-8); ``display_name`` is the one way they become text for people:
UTF-8 where they are UTF-8, every other byte and every control character escaped, so a name
holding a newline, quotes or ``$(...)`` is shown literally and can never be taken for two
names or for markup. Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import stat
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from myriagate.errors import FieldError, InvalidRequest, Text, UnsafeValue

# Linux's NAME_MAX and a bound well under PATH_MAX: a longer path is refused before any command.
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 1024
# A page of a listing: large enough for a whole 10,000-entry directory in one call.
MAX_PAGE = 10_000
DEFAULT_PAGE = 500
_CONTROL_OR_BACKSLASH = re.compile(r"[\x00-\x1f\x7f\\]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class RangeNotSatisfiable(InvalidRequest):
    """A byte range that starts past the end of the file (HTTP 416, with the file's size)."""

    code = "range_not_satisfiable"
    title = "Range not satisfiable"
    http_status = 416

    def __init__(self, size_bytes: int) -> None:
        super().__init__(
            Text("the range asked starts past the end of the file (%(size)s bytes)", size=size_bytes)
        )
        self.size_bytes = size_bytes
        self.extensions["size_bytes"] = size_bytes


class FileKind(StrEnum):
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    OTHER = "other"  # fifo, socket, device


class SortKey(StrEnum):
    NAME = "name"
    SIZE = "size"
    MTIME = "mtime"


_KINDS = {stat.S_IFREG: FileKind.FILE, stat.S_IFDIR: FileKind.DIRECTORY, stat.S_IFLNK: FileKind.SYMLINK}


def kind_of_mode(mode: int) -> FileKind:
    return _KINDS.get(stat.S_IFMT(mode), FileKind.OTHER)


class FileEntry(NamedTuple):
    """One directory entry, as ``lstat`` saw it on the cluster (a symlink is never followed).

    A named tuple, not a dataclass: a listing makes 10,000 of them, and a frozen dataclass
    takes several times longer to build (bench/files.py)."""

    name: bytes
    kind: FileKind
    size_bytes: int
    mtime_ns: int
    mode: int  # st_mode, type bits included
    uid: int
    gid: int
    link_target: bytes | None = None  # what a symlink points to, as stored (never resolved)

    @property
    def permissions(self) -> str:
        """``-rw-r--r--`` as ``ls -l`` prints it."""
        return stat.filemode(self.mode)


@dataclass(frozen=True)
class ListingPage:
    """One page of a directory, in the order asked; ``total`` counts the whole directory."""

    entries: tuple[FileEntry, ...]
    total: int
    more: bool  # entries follow this page


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: strictly after (``key``, ``name``) in the listing's order.

    Keyset, not an offset: a file created or removed between two pages moves no entry from
    one page to another, and none is shown twice or skipped for that reason.
    """

    sort: SortKey
    descending: bool
    key: int  # size or mtime_ns; 0 when sorting by name (the name is the key)
    name: bytes

    def token(self) -> str:
        body = json.dumps([self.sort.value, self.descending, self.key, self.name.hex()])
        return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def cursor_after(entry: FileEntry, sort: SortKey, descending: bool) -> Cursor:
    key = entry.size_bytes if sort is SortKey.SIZE else entry.mtime_ns if sort is SortKey.MTIME else 0
    return Cursor(sort, descending, key, entry.name)


def parse_cursor(token: str, sort: SortKey, descending: bool) -> Cursor:
    """The cursor a previous page handed out; refused when altered or made for another order."""
    refused = InvalidRequest(
        Text("this cursor is not one a listing gave, or was made for another sort order"),
        fields=[FieldError(("query", "cursor"), Text("invalid cursor"))],
    )
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        sort_name, desc, key, name_hex = json.loads(raw)
        cursor = Cursor(SortKey(sort_name), bool(desc), int(key), bytes.fromhex(name_hex))
    except (ValueError, TypeError, binascii.Error):
        raise refused from None
    if cursor.sort is not sort or cursor.descending != descending or not cursor.name:
        raise refused
    return cursor


def area_path(value: str | None, field: str = "path") -> bytes:
    """A path inside an area as the bytes sent to the cluster; ``""``/``"."``/``"/"`` is the
    area's root and ``a//b/`` is ``a/b``. Refused (``UnsafeValue``, nothing sent): absolute
    paths, ``..`` or ``.`` components, control characters (newline, NUL…), a name over 255
    bytes, a path over 1,024. Names starting with '-' or '~', quotes and ``$(...)`` are kept:
    they travel as data to the far side, never on a command line."""
    if value is None or value.strip("/") in ("", "."):
        return b""
    shown = repr(value if len(value) <= 80 else value[:80] + "…")
    if value.startswith("/"):
        raise UnsafeValue(
            Text("%(field)s %(value)s must be relative, not an absolute path", field=field, value=shown)
        )
    if _CONTROL.search(value):
        raise UnsafeValue(Text("%(field)s contains a control character (newline, tab, NUL…)", field=field))
    raw = value.encode("utf-8", "surrogateescape")
    if len(raw) > MAX_PATH_BYTES:
        raise UnsafeValue(Text("%(field)s is longer than %(max)s bytes", field=field, max=MAX_PATH_BYTES))
    parts = [part for part in raw.split(b"/") if part]
    for part in parts:
        if part in (b".", b".."):
            raise UnsafeValue(
                Text(
                    "%(field)s %(value)s must not contain a '%(part)s' component",
                    field=field,
                    value=shown,
                    part=part.decode(),
                )
            )
        if len(part) > MAX_NAME_BYTES:
            raise UnsafeValue(
                Text("%(field)s has a name longer than %(max)s bytes", field=field, max=MAX_NAME_BYTES)
            )
    return b"/".join(parts)


def display_name(raw: bytes) -> str:
    """``raw`` for people: UTF-8 as is; ``\\n``, ``\\t``, ``\\\\`` and ``\\xNN`` for control
    characters, backslashes and bytes that are not UTF-8. Two different names never look alike."""
    text = raw.decode("utf-8", "surrogateescape")
    out: list[str] = []
    for char in text:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif _CONTROL_OR_BACKSLASH.match(char):
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\"}.get(char, f"\\x{code:02x}"))
        else:
            out.append(char)
    return "".join(out)


def is_plain_utf8(raw: bytes) -> bool:
    """Whether ``raw`` reads the same as its ``display_name`` (no escape was needed)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not _CONTROL_OR_BACKSLASH.search(text)


def join(parent: bytes, name: bytes) -> bytes:
    return name if not parent else parent + b"/" + name


@dataclass(frozen=True)
class ByteRange:
    """A single HTTP byte range as asked: ``bytes=a-b``, ``bytes=a-``, or ``bytes=-n`` (the last n)."""

    start: int | None
    end: int | None  # inclusive

    def resolve(self, size: int) -> tuple[int, int] | None:
        """(offset, length) within a file of ``size`` bytes, or None when it cannot be satisfied."""
        if self.start is None:
            suffix = self.end or 0
            if suffix <= 0 or size == 0:
                return None
            length = min(suffix, size)
            return size - length, length
        if self.start >= size:
            return None
        last = size - 1 if self.end is None else min(self.end, size - 1)
        return self.start, last - self.start + 1


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)\Z")


def parse_range(header: str | None) -> ByteRange | None:
    """The one range of a ``Range`` header; None for no header or one this gateway does not
    serve as a range (several ranges, other units, nonsense): the whole file is then sent,
    which RFC 9110 allows."""
    if not header:
        return None
    match = _RANGE.match(header.strip().replace(" ", ""))
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        return ByteRange(None, int(last))
    start, end = int(first), int(last) if last else None
    if end is not None and end < start:
        return None
    return ByteRange(start, end)


def etag_of(inode: int, mtime_ns: int, size_bytes: int) -> str:
    """A strong validator for a file's content as served: inode, mtime and size."""
    return f'"{inode:x}-{mtime_ns:x}-{size_bytes:x}"'
