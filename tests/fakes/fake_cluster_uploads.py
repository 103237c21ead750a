"""FakeClusterUploads: the ``services.files.upload_ports.ClusterUploads`` port over the trees of a
``FakeClusterFilesFactory`` (so an uploaded file is then listed and downloaded by the fake
browser). Partial uploads are kept per login in ``partials``; ``free_bytes`` is the space left;
every call is recorded with its login, so a test checks which login acted and that a refused
request made no call.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from myriagate.domain.file_uploads import AppendOutcome, InsufficientStorage, UploadOffsetMismatch
from myriagate.domain.files import FileEntry, FileKind
from myriagate.errors import AlreadyExists, ChecksumMismatch, InvalidRequest, NotFound, UnsafeValue
from tests.fakes.fake_cluster_files import MTIME_NS, FakeClusterFilesFactory, FakeTree


@dataclass
class FakeWriter:
    tree: FakeTree
    partials: dict[str, bytearray]
    upload: str
    path: bytes
    size_bytes: int
    sha256: str | None
    overwrite: bool
    free: list[int]
    aborted: bool = False
    pieces: list[int] = field(default_factory=list)

    def write(self, data: bytes) -> None:
        part = self.partials[self.upload]
        if len(part) + len(data) > self.size_bytes:
            raise InvalidRequest("more bytes were sent than the upload's size: nothing kept")
        if len(data) > self.free[0]:
            del self.partials[self.upload]
            raise InsufficientStorage(f"no room for {self.path!r}")
        self.free[0] -= len(data)
        part += data
        self.pieces.append(len(data))

    def finish(self) -> AppendOutcome:
        part = self.partials[self.upload]
        if len(part) < self.size_bytes:
            return AppendOutcome(len(part), False)
        data = bytes(self.partials.pop(self.upload))
        sha = hashlib.sha256(data).hexdigest()
        if self.sha256 and sha != self.sha256:
            raise ChecksumMismatch(f"{self.path!r} arrived with sha256 {sha}: nothing kept")
        if self.path in self.tree.files and not self.overwrite:
            raise AlreadyExists(f"{self.path!r} already exists")
        self.tree.files[self.path] = data
        entry = FileEntry(
            self.path.rsplit(b"/", 1)[-1], FileKind.FILE, len(data), MTIME_NS, 0o100644, 1000, 1000
        )
        return AppendOutcome(len(data), True, sha, entry)

    def abort(self) -> None:
        self.aborted = True


class FakeClusterUploads:
    def __init__(self, login: str, owner: FakeClusterUploadsFactory) -> None:
        self.login = login
        self.owner = owner
        self.tree = owner.files.tree(login)
        self.partials = owner.partials.setdefault(login, {})

    def _target(self, path: bytes, overwrite: bool) -> None:
        parts = path.split(b"/")
        for i in range(1, len(parts)):
            prefix = b"/".join(parts[:i])
            if prefix in self.tree.refuse:
                raise self.tree.refuse[prefix]
            if prefix in self.tree.links:
                raise UnsafeValue(f"{prefix!r} is a symbolic link: not followed")
        if path in self.tree.refuse:
            raise self.tree.refuse[path]
        if path in self.tree.links:
            raise UnsafeValue(f"{path!r} is a symbolic link: not followed, not replaced")
        if path in self.tree.files and not overwrite:
            raise AlreadyExists(f"{path!r} already exists: not replaced")

    def begin(self, root: str, path: bytes, *, upload: str, size_bytes: int, overwrite: bool) -> None:
        self.owner.calls.append((self.login, "begin", root, path))
        self._target(path, overwrite)
        if size_bytes > self.owner.free[0]:
            raise InsufficientStorage(f"no room for {path!r}")
        self.partials[upload] = bytearray()

    def offset(self, root: str, path: bytes, *, upload: str) -> int:
        self.owner.calls.append((self.login, "offset", root, path))
        if upload not in self.partials:
            raise NotFound("no such upload on the cluster")
        return len(self.partials[upload])

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
    ) -> FakeWriter:
        self.owner.calls.append((self.login, "append", root, path))
        have = self.offset(root, path, upload=upload)
        if offset != have:
            raise UploadOffsetMismatch(have)
        writer = FakeWriter(
            self.tree, self.partials, upload, path, size_bytes, sha256, overwrite, self.owner.free
        )
        self.owner.writers.append(writer)
        return writer

    def discard(self, root: str, path: bytes, *, upload: str) -> None:
        self.owner.calls.append((self.login, "discard", root, path))
        if self.partials.pop(upload, None) is None:
            raise NotFound("no such upload on the cluster")


class FakeClusterUploadsFactory:
    """``ClusterUploadsFactory`` of one cluster, writing into ``files``' trees."""

    def __init__(self, files: FakeClusterFilesFactory | None = None, free_bytes: int = 1 << 40) -> None:
        self.files = files or FakeClusterFilesFactory()
        self.partials: dict[str, dict[str, bytearray]] = {}
        self.calls: list[tuple[str, str, str, bytes]] = []
        self.writers: list[FakeWriter] = []
        self.free = [free_bytes]

    def for_login(self, login: str) -> FakeClusterUploads:
        return FakeClusterUploads(login, self)
