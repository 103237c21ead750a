"""The write half of FakeClusterFiles (mixed into it): mkdir, rename, copy, remove, usage and
wildcards over the in-memory ``FakeTree``, with the errors the cluster's far side gives
(AlreadyExists, Conflict for a directory that is not empty, NotFound, UnsafeValue through a
link). Each call is recorded with its login, as the reads are."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from myriagate.domain.file_changes import Tally, Usage
from myriagate.domain.files import FileEntry, FileKind, ListingPage, SortKey
from myriagate.errors import AlreadyExists, Conflict, InvalidRequest, NotFound

if TYPE_CHECKING:
    from tests.fakes.fake_cluster_files import FakeTree


def _under(path: bytes, prefix: bytes) -> bool:
    return path == prefix or path.startswith(prefix + b"/")


class FakeFileChanges:
    login: str
    tree: FakeTree
    calls: list[tuple[str, str, str, bytes]]

    if TYPE_CHECKING:

        def _entry(self, path: bytes) -> FileEntry: ...
        def _dirs(self) -> set[bytes]: ...
        def _check(self, path: bytes) -> None: ...
        def list_dir(
            self, root: str, path: bytes, *, sort: SortKey = ..., limit: int = ...
        ) -> ListingPage: ...

    def _exists(self, path: bytes) -> bool:
        try:
            self._entry(path)
        except NotFound:
            return False
        return True

    def _parent_dir(self, path: bytes) -> None:
        parent = path.rpartition(b"/")[0]
        self._check(parent)
        if parent and self._entry(parent).kind is not FileKind.DIRECTORY:
            raise InvalidRequest(f"{parent!r} is not a directory")

    def make_directory(self, root: str, path: bytes, *, parents: bool = False) -> tuple[bytes, ...]:
        self.calls.append((self.login, "mkdir", root, path))
        self._check(path)
        parts, made = path.split(b"/"), []
        for i in range(1, len(parts) + 1):
            prefix, last = b"/".join(parts[:i]), i == len(parts)
            if self._exists(prefix):
                if last and not parents:
                    raise AlreadyExists(f"{prefix!r} already exists: it is kept as it is")
                if self._entry(prefix).kind is not FileKind.DIRECTORY:
                    raise InvalidRequest(f"{prefix!r} is not a directory")
            elif last or parents:
                self.tree.dirs.add(prefix)
                made.append(prefix)
            else:
                raise NotFound(f"no file or directory {prefix!r} in this area")
        return tuple(made)

    def _moved(self, path: bytes, to: bytes, *, keep: bool) -> int:
        """Every entry at or under ``path`` placed under ``to`` (kept too when ``keep``)."""
        count = 0
        for store in (self.tree.files, self.tree.links):
            for key in [k for k in store if _under(k, path)]:
                store[to + key[len(path) :]] = store[key] if keep else store.pop(key)
                count += 1
        for kind in (self.tree.dirs, self.tree.others):
            for key in [k for k in kind if _under(k, path)]:
                kind.add(to + key[len(path) :])
                if not keep:
                    kind.discard(key)
                count += 1
        return count

    def _two(self, path: bytes, to: bytes, overwrite: bool) -> FileEntry:
        self._check(path)
        entry = self._entry(path)
        self._parent_dir(to)
        if _under(to, path):
            raise InvalidRequest(f"{to!r}: a directory cannot be moved into itself")
        if self._exists(to) and not overwrite:
            raise AlreadyExists(f"{to!r} already exists: it is kept as it is")
        return entry

    def rename(self, root: str, path: bytes, to: bytes, *, overwrite: bool = False) -> None:
        self.calls.append((self.login, "rename", root, path))
        self._two(path, to, overwrite)
        self._moved(path, to, keep=False)

    def copy(
        self, root: str, path: bytes, to: bytes, *, recursive: bool = False, overwrite: bool = False
    ) -> Tally:
        self.calls.append((self.login, "copy", root, path))
        entry = self._two(path, to, overwrite)
        if entry.kind is FileKind.DIRECTORY:
            if not recursive:
                raise InvalidRequest(f"{path!r} is a directory: copied only when asked to copy recursively")
            if self._exists(to):
                raise AlreadyExists(f"{to!r} already exists: it is kept as it is")
            self.tree.dirs.add(to)
        self._moved(path, to, keep=True)
        return self._tally(to)

    def _tally(self, path: bytes) -> Tally:
        files = [k for k in self.tree.files if _under(k, path)]
        return Tally(
            files=len(files),
            directories=len([d for d in self._dirs() if _under(d, path)]),
            links=len([k for k in self.tree.links if _under(k, path)]),
            others=len([k for k in self.tree.others if _under(k, path)]),
            size_bytes=sum(len(self.tree.files[k]) for k in files),
        )

    def remove(self, root: str, path: bytes, *, recursive: bool = False, dry_run: bool = False) -> Tally:
        self.calls.append((self.login, "remove", root, path))
        self._check(path)
        entry = self._entry(path)
        done = self._tally(path)
        if entry.kind is FileKind.DIRECTORY and done.entries > 1 and not recursive:
            raise Conflict(f"{path!r} is a directory that is not empty ({done.entries - 1} entries)")
        if not dry_run:
            for store in (self.tree.files, self.tree.links):
                for key in [k for k in store if _under(k, path)]:
                    del store[key]
            for kind in (self.tree.dirs, self.tree.others):
                kind.difference_update({k for k in kind if _under(k, path)})
        return done

    def usage(self, root: str, path: bytes, *, max_entries: int, max_seconds: float) -> Usage:
        self.calls.append((self.login, "usage", root, path))
        self._check(path)
        self._entry(path)
        done = self._tally(path) if path else self._tally_root()
        return Usage(path, done.size_bytes, done.size_bytes, done.files, done.directories, done.links,
                     partial=False, stopped=None, unreadable=0, seconds=0.0)  # fmt: skip

    def _tally_root(self) -> Tally:
        return Tally(
            files=len(self.tree.files),
            directories=len(self._dirs()) + 1,
            links=len(self.tree.links),
            size_bytes=sum(map(len, self.tree.files.values())),
        )

    def glob(self, root: str, path: bytes, pattern: bytes, *, limit: int) -> ListingPage:
        self.calls.append((self.login, "glob", root, path))
        listed = self.list_dir(root, path, sort=SortKey.NAME, limit=10**9).entries
        self.calls.pop()  # the listing recorded itself: it is part of this one call
        name = pattern.decode("utf-8", "surrogateescape")
        found = [
            e
            for e in listed
            if (name.startswith(".") or not e.name.startswith(b"."))
            and fnmatchcase(e.name.decode("utf-8", "surrogateescape"), name)
        ]
        return ListingPage(tuple(found[:limit]), len(found), len(found) > limit)
