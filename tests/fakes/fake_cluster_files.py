"""FakeClusterFiles: the ``services.files.ports.ClusterFiles`` port over files held in memory.

Each login has its own tree of ``{path: content}`` (directories implied by their files or
listed in ``dirs``, symlinks in ``links``, fifos, sockets and devices in ``others``); ``refuse``
makes a path fail with a given error (what the cluster would say: PermissionDenied,
UnsafeValue…). Every call is recorded with its login, so a test can check which login acted
and that a refused request made no call.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from myriagate.domain.files import (
    ByteRange,
    Cursor,
    FileEntry,
    FileKind,
    ListingPage,
    RangeNotSatisfiable,
    SortKey,
)
from myriagate.errors import InvalidRequest, MyriagateError, NotFound, UnsafeValue
from tests.fakes.fake_cluster_file_changes import FakeFileChanges

MTIME_NS = 1_765_000_000_000_000_000
_FILE_MODE, _DIR_MODE, _LINK_MODE, _FIFO_MODE = 0o100644, 0o040755, 0o120777, 0o010644


@dataclass
class FakeDownload:
    entry: FileEntry
    size_bytes: int
    offset: int
    length: int
    ranged: bool
    etag: str
    data: bytes
    closed: bool = False

    def chunks(self) -> Iterator[bytes]:
        try:
            for start in range(0, len(self.data), 4096):
                yield self.data[start : start + 4096]
        finally:
            self.close()

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeTree:
    files: dict[bytes, bytes] = field(default_factory=dict)
    dirs: set[bytes] = field(default_factory=set)
    links: dict[bytes, bytes] = field(default_factory=dict)
    others: set[bytes] = field(default_factory=set)
    refuse: dict[bytes, MyriagateError] = field(default_factory=dict)


class FakeClusterFiles(FakeFileChanges):
    def __init__(self, login: str, tree: FakeTree, calls: list[tuple[str, str, str, bytes]]) -> None:
        self.login = login
        self.tree = tree
        self.calls = calls

    def _entry(self, path: bytes) -> FileEntry:
        name = path.rsplit(b"/", 1)[-1]
        if path in self.tree.files:
            return FileEntry(
                name, FileKind.FILE, len(self.tree.files[path]), MTIME_NS + len(path), _FILE_MODE, 1000, 1000
            )
        if path in self.tree.links:
            target = self.tree.links[path]
            return FileEntry(name, FileKind.SYMLINK, len(target), MTIME_NS, _LINK_MODE, 1000, 1000, target)
        if path in self.tree.others:
            return FileEntry(name, FileKind.OTHER, 0, MTIME_NS, _FIFO_MODE, 1000, 1000)
        if not path or path in self._dirs():
            return FileEntry(name, FileKind.DIRECTORY, 4096, MTIME_NS, _DIR_MODE, 1000, 1000)
        raise NotFound(f"no file or directory {path!r} in this area")

    def _dirs(self) -> set[bytes]:
        found = set(self.tree.dirs)
        for path in [*self.tree.files, *self.tree.links, *self.tree.others]:
            parts = path.split(b"/")
            found.update(b"/".join(parts[:i]) for i in range(1, len(parts)))
        return found

    def _check(self, path: bytes) -> None:
        parts = path.split(b"/") if path else []
        for i in range(1, len(parts) + 1):
            prefix = b"/".join(parts[:i])
            if prefix in self.tree.refuse:
                raise self.tree.refuse[prefix]
            if prefix in self.tree.links and i < len(parts):
                raise UnsafeValue(f"{prefix!r} is a symbolic link: not followed")

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
        self.calls.append((self.login, "list", root, path))
        self._check(path)
        entry = self._entry(path)
        if entry.kind is FileKind.SYMLINK:
            raise UnsafeValue(f"{path!r} is a symbolic link: not followed")
        if entry.kind is not FileKind.DIRECTORY:
            raise InvalidRequest(f"{path!r} is not a directory")
        prefix = path + b"/" if path else b""
        children = {
            p[len(prefix) :].split(b"/")[0]
            for p in [*self.tree.files, *self.tree.links, *self.tree.others, *self._dirs()]
            if p.startswith(prefix) and p != path
        }
        rows = []
        for name in children:
            child = self._entry(prefix + name)
            key = child.size_bytes if sort is SortKey.SIZE else child.mtime_ns if sort is SortKey.MTIME else 0
            rows.append(((key, name), child))
        rows.sort(key=lambda row: row[0], reverse=descending)
        if after is not None:
            mark = (after.key, after.name)
            rows = [r for r in rows if (r[0] < mark if descending else r[0] > mark)]
        total = len(children)
        return ListingPage(tuple(r[1] for r in rows[:limit]), total, len(rows) > limit)

    def stat(self, root: str, path: bytes) -> FileEntry:
        self.calls.append((self.login, "stat", root, path))
        self._check(path)
        return self._entry(path)

    def _file(self, path: bytes) -> tuple[FileEntry, bytes]:
        self._check(path)
        entry = self._entry(path)
        if entry.kind is FileKind.SYMLINK:
            raise UnsafeValue(f"{path!r} is a symbolic link: not followed")
        if entry.kind is FileKind.DIRECTORY:
            raise InvalidRequest(f"{path!r} is a directory")
        return entry, self.tree.files[path]

    def read(self, root: str, path: bytes, byte_range: ByteRange) -> tuple[FileEntry, int, bytes]:
        self.calls.append((self.login, "read", root, path))
        entry, data = self._file(path)
        span = byte_range.resolve(len(data))
        if span is None:
            raise RangeNotSatisfiable(len(data))
        return entry, len(data), data[span[0] : span[0] + span[1]]

    def open_read(
        self, root: str, path: bytes, byte_range: ByteRange | None, if_range: str | None = None
    ) -> FakeDownload:
        self.calls.append((self.login, "download", root, path))
        entry, data = self._file(path)
        etag = f'"fake-{len(data)}"'
        if if_range is not None and if_range != etag:
            byte_range = None
        span = (0, len(data)) if byte_range is None else byte_range.resolve(len(data))
        if span is None:
            raise RangeNotSatisfiable(len(data))
        offset, length = span
        return FakeDownload(
            entry, len(data), offset, length, byte_range is not None, etag, data[offset : offset + length]
        )


class FakeClusterFilesFactory:
    """``ClusterFilesFactory`` of one cluster: a tree per login, one call log for all."""

    def __init__(self) -> None:
        self.trees: dict[str, FakeTree] = {}
        self.calls: list[tuple[str, str, str, bytes]] = []

    def tree(self, login: str) -> FakeTree:
        return self.trees.setdefault(login, FakeTree())

    def for_login(self, login: str) -> FakeClusterFiles:
        return FakeClusterFiles(login, self.tree(login), self.calls)
