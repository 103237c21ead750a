"""FakeStager: the Stager contract over local directories, one per (host, port).

``RemoteTree(host, port, root)`` maps to ``base/<host>_<port>/<root>``. It keeps the
contract's integrity rules (temporary name, sha256 computed at the destination, atomic
rename, skip identical files, refuse paths leaving the root) so services are tested against
real behaviour. Fault hooks let tests fail a transfer or corrupt a file before verification.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from myriagate.domain.skipped_results import SkipKind, SkippedFile
from myriagate.domain.staging import relative_path
from myriagate.errors import ChecksumMismatch, StagingError, UnsafeValue
from myriagate.ports import RemoteTree, StagedFile, TransferProgress


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def glob_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:[^/]+/)*"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


@dataclass
class FakeStager:
    base: Path
    # Raise this (once per entry) at the next transfer: simulates a cut or a full disk.
    failures: list[Exception] = field(default_factory=list)
    # Called with the temporary file before verification (a test may corrupt it).
    before_verify: Callable[[Path], None] | None = None
    sent_files: int = 0
    calls: list[tuple[str, str]] = field(default_factory=list)

    def local_dir(self, tree: RemoteTree) -> Path:
        return self.base / f"{tree.host}_{tree.port}" / tree.path.lstrip("/")

    def upload(
        self,
        local_root: Path,
        files: Sequence[str],
        dest: RemoteTree,
        *,
        progress: TransferProgress | None = None,
    ) -> list[StagedFile]:
        self.calls.append(("upload", dest.path))
        return self._copy(local_root, files, self.local_dir(dest), progress)

    def download(
        self,
        src: RemoteTree,
        files: Sequence[str],
        local_root: Path,
        *,
        progress: TransferProgress | None = None,
    ) -> list[StagedFile]:
        self.calls.append(("download", src.path))
        return self._copy(self.local_dir(src), files, local_root, progress)

    def scan(
        self,
        src: RemoteTree,
        patterns: Sequence[str],
        *,
        newer_than_ns: int | None = None,
        skipped: list[SkippedFile] | None = None,
    ) -> list[StagedFile]:
        root = self.local_dir(src)
        regexes = [glob_regex(relative_path(p, "pattern")) for p in patterns]
        found: list[StagedFile] = []
        if not root.is_dir():
            raise StagingError(f"{src.path} does not exist on {src.host}")
        for path in sorted(root.rglob("*")):  # rglob does not enter links to directories
            rel = path.relative_to(root).as_posix()
            if newer_than_ns is not None and path.lstat().st_mtime_ns <= newer_than_ns:
                continue
            if not any(r.match(rel) for r in regexes):
                continue
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                if skipped is not None:  # a link (to a file or a directory), a fifo, a socket
                    skipped.append(SkippedFile(rel, SkipKind.LINK if path.is_symlink() else SkipKind.SPECIAL))
                continue
            if path.is_file():
                found.append(StagedFile(rel, path.stat().st_size, sha256_of(path)))
        return found

    def _copy(
        self, src_root: Path, files: Sequence[str], dst_root: Path, progress: TransferProgress | None
    ) -> list[StagedFile]:
        if self.failures:
            raise self.failures.pop(0)
        dst_root.mkdir(parents=True, exist_ok=True)  # the contract: the destination exists after
        clean = [relative_path(f, "file") for f in files]
        total = sum((src_root / f).stat().st_size for f in clean)
        done = 0
        out: list[StagedFile] = []
        for rel in clean:
            src = src_root / rel
            if src.is_symlink() or not src.resolve().is_relative_to(src_root.resolve()):
                raise UnsafeValue(f"{rel!r} leads outside its root")
            dst = dst_root / rel
            src_sha = sha256_of(src)
            if dst.is_file() and dst.stat().st_size == src.stat().st_size and sha256_of(dst) == src_sha:
                out.append(StagedFile(rel, dst.stat().st_size, src_sha))
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.parent / f".{dst.name}.mg-part"
            tmp.write_bytes(src.read_bytes())
            if self.before_verify is not None:
                self.before_verify(tmp)
            got = sha256_of(tmp)
            if got != src_sha:
                tmp.unlink()
                raise ChecksumMismatch(f"{rel}: sha256 at the destination differs from the source")
            os.replace(tmp, dst)
            self.sent_files += 1
            done += dst.stat().st_size
            if progress is not None:
                progress(done, total)
            out.append(StagedFile(rel, dst.stat().st_size, got))
        return out
