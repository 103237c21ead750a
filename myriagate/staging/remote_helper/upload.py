"""The far side of uploads into a file area: ``begin``, ``offset``, ``append`` and ``discard``.

Sent after ``basics``, ``tree`` and ``browse`` (``staging.cluster_uploads.program``) and run as
the researcher's own login. The target's directory is opened with the browser's walk (every
component from its parent's descriptor with O_NOFOLLOW), and the bytes go to a hidden partial
file in that very directory, ``.myriagate-upload-<id>.part``, created O_EXCL|O_NOFOLLOW, so no
link planted at either name is ever written through. ``append`` streams stdin into it from the
offset its size says, and once it holds the whole file: fsync, sha256 checked against the one
announced, then the partial file is linked at the target's name (``linkat`` fails if the name
exists: an upload that must not overwrite never replaces anything, even in a race) or renamed
over it (``renameat``: atomic, the old file or the new one, never a mix). A partial file
untouched for longer than ``STALE_S`` is removed by the next ``begin`` in its directory.
Standard library of Python >= 3.7 only: this text is shipped.

Request: JSON (``root``, ``path`` as hex of the target's bytes, ``upload`` id), for ``append``
on one line followed by the bytes. Answer: one JSON line; a failure is ``{"error": kind, ...}``
with exit status 2.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import stat
import sys
import time

from myriagate.staging.remote_helper.basics import (
    CHUNK,
    HelperError,
    new_sha256,
    os_error_kind,
    sha256_fd,
)
from myriagate.staging.remote_helper.browse import _record, open_area, open_directory
from myriagate.staging.remote_helper.tree import Tree

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

PARTIAL_PREFIX = ".myriagate-upload-"
_PARTIAL = re.compile(r"\.myriagate-upload-[0-9a-f]{32}\.part\Z")
STALE_S = 7 * 24 * 3600  # a week: an upload ticket lives a day; this leaves time to notice


def partial_name(upload: str) -> str:
    if not re.fullmatch("[0-9a-f]{32}", upload):
        raise HelperError("unsafe", "", "bad upload id")
    return PARTIAL_PREFIX + upload + ".part"


def _directory(tree: Tree, rel: str) -> tuple[int, str]:
    """(descriptor of the target's directory, the target's name); the directory is walked
    without following a link, as the browser walks it."""
    head, _, name = rel.rpartition("/")
    return open_directory(tree, head), name


def _existing(dir_fd: int, name: str, rel: str, overwrite: bool) -> os.stat_result | None:
    """The file at the target's name when it may be replaced (None: nothing there)."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        raise HelperError("unsafe", rel, "a symbolic link: not followed, not replaced")
    if stat.S_ISDIR(st.st_mode):
        raise HelperError("is_dir", rel, "a directory")
    if not stat.S_ISREG(st.st_mode):
        raise HelperError("not_file", rel, "not a regular file")
    if not overwrite:
        raise HelperError("exists", rel, "exists")
    return st


def _sweep(dir_fd: int) -> None:
    """Remove partial files of uploads abandoned for longer than STALE_S in this directory."""
    cutoff = time.time() - STALE_S
    for entry in os.scandir(dir_fd):
        if _PARTIAL.match(entry.name):
            try:
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(st.st_mode) and st.st_mtime < cutoff:
                    os.unlink(entry.name, dir_fd=dir_fd)
            except OSError:
                continue


def op_begin(tree: Tree, req: dict[str, Any], rel: str) -> dict[str, Any]:
    """Check the target (its directory, what is at its name, the space left), then create the
    empty partial file."""
    dir_fd, name = _directory(tree, rel)
    try:
        _existing(dir_fd, name, rel, bool(req.get("overwrite")))
        _sweep(dir_fd)
        size = int(req["size"])
        vfs = os.fstatvfs(dir_fd)
        free = vfs.f_bavail * vfs.f_frsize
        if size > free:
            raise HelperError("disk_full", rel, str(free))
        try:
            fd = os.open(
                partial_name(str(req["upload"])),
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                0o600,
                dir_fd=dir_fd,
            )
        except FileExistsError:
            raise HelperError("busy", rel, "this upload was begun already") from None
        except OSError as exc:
            raise HelperError(os_error_kind(exc), rel, str(exc.strerror)) from exc
        os.close(fd)
    finally:
        os.close(dir_fd)
    return {"offset": 0}


def _open_partial(dir_fd: int, upload: str, rel: str, flags: int) -> int:
    """The partial file, refused unless a plain file of ours with no other name."""
    try:
        # O_NONBLOCK: a fifo planted at the name is refused below, not waited on.
        fd = os.open(partial_name(upload), flags | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except FileNotFoundError:
        raise HelperError("no_upload", rel, "no partial data") from None
    except OSError as exc:
        kind = "unsafe" if exc.errno == errno.ELOOP else os_error_kind(exc)
        raise HelperError(kind, rel, str(exc.strerror)) from exc
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_uid != os.geteuid():
        os.close(fd)
        raise HelperError("unsafe", rel, "the partial file was replaced: not written into")
    return fd


def op_offset(tree: Tree, req: dict[str, Any], rel: str) -> dict[str, Any]:
    dir_fd, _name = _directory(tree, rel)
    try:
        fd = _open_partial(dir_fd, str(req["upload"]), rel, os.O_RDONLY)
        size = os.fstat(fd).st_size
        os.close(fd)
    finally:
        os.close(dir_fd)
    return {"offset": size}


def op_discard(tree: Tree, req: dict[str, Any], rel: str) -> dict[str, Any]:
    dir_fd, _name = _directory(tree, rel)
    try:
        fd = _open_partial(dir_fd, str(req["upload"]), rel, os.O_RDONLY)
        os.close(fd)
        os.unlink(partial_name(str(req["upload"])), dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    return {}


def _receive(stream: IO[bytes], fd: int, want: int, digest: Any) -> int:
    """Up to ``want`` bytes of stdin written at the file's end; the count. ``too_long`` when
    more follow."""
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    done = 0
    while done < want:
        n = stream.readinto(view[: min(CHUNK, want - done)])  # type: ignore[attr-defined]
        if not n:
            break
        chunk = view[:n]
        while chunk:
            chunk = chunk[os.write(fd, chunk) :]
        if digest is not None:
            digest.update(view[:n])
        done += n
    if done == want and stream.read(1):
        raise HelperError("too_long", "", "more bytes than the upload's size")
    return done


def _place(dir_fd: int, part: str, name: str, rel: str, overwrite: bool, fd: int) -> None:
    """The finished partial file at the target's name: linked (never replacing) or renamed over."""
    old = _existing(dir_fd, name, rel, overwrite)
    umask = os.umask(0)
    os.umask(umask)
    # A replaced file keeps its permissions; a new one gets the login's usual ones.
    os.fchmod(fd, (old.st_mode & 0o7777) if old is not None else 0o666 & ~umask)
    if overwrite:
        os.replace(part, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    else:
        try:
            os.link(part, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
        except FileExistsError:
            raise HelperError("exists", rel, "exists") from None
        os.unlink(part, dir_fd=dir_fd)
    os.fsync(dir_fd)


def op_append(tree: Tree, req: dict[str, Any], rel: str, stream: IO[bytes]) -> dict[str, Any]:
    """stdin appended from ``offset``; at ``size`` bytes the file is checked and placed."""
    dir_fd, name = _directory(tree, rel)
    part = partial_name(str(req["upload"]))
    try:
        fd = _open_partial(dir_fd, str(req["upload"]), rel, os.O_RDWR)  # read back to hash
        try:
            return _append(dir_fd, fd, part, name, rel, req, stream)
        finally:
            os.close(fd)
    finally:
        os.close(dir_fd)


def _append(
    dir_fd: int, fd: int, part: str, name: str, rel: str, req: dict[str, Any], stream: IO[bytes]
) -> dict[str, Any]:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise HelperError("busy", rel, "another request is sending this upload") from None
    have, size, offset = os.fstat(fd).st_size, int(req["size"]), int(req["offset"])
    if offset != have:
        raise HelperError("offset", rel, str(have))
    os.lseek(fd, offset, os.SEEK_SET)
    digest = new_sha256() if offset == 0 else None  # hashed as it comes when sent in one go
    try:
        got = _receive(stream, fd, size - offset, digest)
        os.fsync(fd)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # cannot finish: give the space back
            os.ftruncate(fd, 0)  # its blocks are freed now, not when the descriptor is closed
            os.unlink(part, dir_fd=dir_fd)
            vfs = os.fstatvfs(dir_fd)  # what is free once given back (it said "0 bytes free")
            raise HelperError("disk_full", rel, str(vfs.f_bavail * vfs.f_frsize)) from exc
        raise HelperError(os_error_kind(exc), rel, str(exc.strerror)) from exc
    except HelperError:
        os.unlink(part, dir_fd=dir_fd)
        raise
    if offset + got < size:
        return {"offset": offset + got, "complete": False}
    sha = digest.hexdigest() if digest is not None else sha256_fd(fd)
    wanted = req.get("sha256")
    try:
        if wanted and sha != wanted:
            raise HelperError("checksum", rel, sha)
        _place(dir_fd, part, name, rel, bool(req.get("overwrite")), fd)
    except BaseException:
        os.unlink(part, dir_fd=dir_fd)
        raise
    st = os.fstat(fd)
    return {"offset": size, "complete": True, "sha256": sha, "record": _record(b"", st, b"").hex()}


def main(argv: list[str]) -> int:
    op = argv[0]
    out = sys.stdout.buffer
    stream = sys.stdin.buffer
    try:
        req = json.loads(stream.readline().decode("utf-8"))
        tree = open_area(str(req["root"]))
        rel = os.fsdecode(bytes.fromhex(req["path"]))
        if not rel or rel.startswith("/") or ".." in rel.split("/"):
            raise HelperError("unsafe", rel, "not a file inside the area")
        ops = {"begin": op_begin, "offset": op_offset, "discard": op_discard}
        answer = op_append(tree, req, rel, stream) if op == "append" else ops[op](tree, req, rel)
    except HelperError as exc:
        out.write(json.dumps({"error": exc.kind, "path": exc.path, "detail": exc.detail}).encode() + b"\n")
        out.flush()
        return 2
    except OSError as exc:
        text = {"error": os_error_kind(exc), "path": "", "detail": str(exc.strerror)}
        out.write(json.dumps(text).encode() + b"\n")
        out.flush()
        return 2
    out.write(json.dumps(answer).encode() + b"\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
