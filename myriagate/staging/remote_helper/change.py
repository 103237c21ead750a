"""The far side of the file write operations inside one area, run as the researcher's own
login: ``mkdir``, ``mv`` and ``cp`` here, ``rm``, ``du``, ``glob`` and ``main`` in ``change_walks``.

Sent after ``basics``, ``tree`` and ``browse`` (``staging.cluster_file_changes.program``):
the area's root is opened as a ``Tree`` and every path below it is reached one directory
descriptor at a time with O_NOFOLLOW. What changes is always named by (directory descriptor,
one name): ``mkdirat``, ``renameat``, ``unlinkat``, ``openat`` with O_EXCL|O_NOFOLLOW, never
a path string that a link swapped in between a check and the change could send elsewhere.
A recursive walk (copy, removal, usage) opens each subdirectory from its parent's descriptor
with O_NOFOLLOW: a directory replaced by a link mid-way is never entered, only the link itself
is removed. A copy copies a link as a link (same target, never followed) and skips fifos,
sockets and devices. Standard library of Python >= 3.7 only: this text is shipped.

The request is JSON on stdin (names as hex of their bytes). The answer is one JSON header
line on stdout (for ``glob``, followed by the entries as ``ls`` sends them); a failure is one
``{"error": kind, ...}`` line, exit 2.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

from myriagate.staging.remote_helper.basics import HelperError, os_error_kind
from myriagate.staging.remote_helper.browse import _lstat, _parent
from myriagate.staging.remote_helper.tree import Tree

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
_RENAME_NOREPLACE = 1
_MAX_FAILED = 100
_KINDS = {
    errno.EEXIST: "exists",
    errno.ENOTEMPTY: "not_empty",
    errno.EXDEV: "cross_device",
    errno.EINVAL: "invalid",
    errno.EISDIR: "is_dir",
    errno.ENOTDIR: "not_dir",
    errno.ELOOP: "unsafe",
    errno.EBUSY: "busy",
}


def change_kind(exc: OSError) -> str:
    return _KINDS.get(exc.errno or 0) or os_error_kind(exc)


def _fail(exc: OSError, rel: str) -> HelperError:
    return HelperError(change_kind(exc), rel, str(exc.strerror))


def _hex(rel: str) -> str:
    return os.fsencode(rel).hex()


def _rel(req: dict[str, Any], key: str) -> str:
    return os.fsdecode(bytes.fromhex(str(req.get(key) or "")))


def _dir_of(tree: Tree, rel: str) -> tuple[int, str]:
    """(descriptor of rel's directory, rel's name); ``missing`` naming the directory."""
    dir_fd, name = _parent(tree, rel)
    if dir_fd is None:
        raise HelperError("missing", rel.rpartition("/")[0], "no such directory")
    return dir_fd, name


def _entry(tree: Tree, rel: str) -> tuple[int, str, os.stat_result]:
    """(descriptor of rel's directory, rel's name, lstat of rel) for a path below the root."""
    dir_fd, name, st = _lstat(tree, rel)
    if dir_fd is None:
        raise HelperError("root", "", "the area's root itself cannot be changed")
    return dir_fd, name, st


def _open_child(dir_fd: int, name: str, rel: str) -> int:
    """A subdirectory's descriptor, never through a link (``unsafe``) nor a file (``not_dir``)."""
    try:
        return os.open(name, _DIR, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                raise HelperError("unsafe", rel, "a symbolic link: not followed") from exc
            raise HelperError("not_dir", rel, "not a directory") from exc
        raise _fail(exc, rel) from exc


def op_mkdir(tree: Tree, req: dict[str, Any], rel: str) -> dict[str, Any]:
    """Make the directory ``rel`` (with ``parents``: every missing one above it, and no error
    when it is already a directory). Each level is made and opened from its parent's descriptor."""
    if not rel:
        raise HelperError("exists", "", "the area's root already exists")
    parents = bool(req.get("parents"))
    parts = rel.split("/")
    fd, opened, created = tree.root_fd, [], []
    try:
        for i, name in enumerate(parts):
            here = "/".join(parts[: i + 1])
            last = i == len(parts) - 1
            if last or parents:
                try:
                    os.mkdir(name, 0o777, dir_fd=fd)  # the login's umask decides, as mkdir(1)
                    created.append(_hex(here))
                except FileExistsError:
                    if last and not parents:
                        raise HelperError("exists", here, "already exists") from None
                except OSError as exc:
                    raise _fail(exc, here) from exc
            made_now = created[-1:] == [_hex(here)]
            if not last or (parents and not made_now):  # a level found must be a real directory
                opened.append(_open_child(fd, name, here))
                fd = opened[-1]
    finally:
        for one in opened:
            os.close(one)
    return {"created": created}


def _rename_noreplace(src_fd: int, src: str, dst_fd: int, dst: str) -> None:
    """renameat2(RENAME_NOREPLACE): the kernel refuses an existing target, no window between a
    look and the rename. A filesystem without it (EINVAL) falls back to look, then rename."""
    try:
        import ctypes  # only here: every import is paid at each start

        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (ImportError, OSError, AttributeError):
        renameat2 = None
    if renameat2 is not None:
        if renameat2(src_fd, os.fsencode(src), dst_fd, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS):
            raise OSError(err, os.strerror(err))
    try:
        os.stat(dst, dir_fd=dst_fd, follow_symlinks=False)
    except FileNotFoundError:
        os.rename(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
        return
    raise OSError(errno.EEXIST, os.strerror(errno.EEXIST))


def _two_paths(tree: Tree, req: dict[str, Any], rel: str, verb: str) -> str:
    to = _rel(req, "to")
    if not rel or not to:
        raise HelperError("root", "", "the area's root cannot be " + verb + " or replaced")
    if to == rel or to.startswith(rel + "/"):
        raise HelperError("into_itself", to, "a directory cannot be " + verb + " into itself")
    return to


def op_mv(tree: Tree, req: dict[str, Any], rel: str) -> dict[str, Any]:
    """Rename ``rel`` to ``to`` (same area): the entry itself, a link as a link. An existing
    target is kept (``exists``) unless ``overwrite``; a directory is never replaced by a file."""
    to = _two_paths(tree, req, rel, "moved")
    src_fd, src_name, _st = _entry(tree, rel)
    dst_fd, dst_name = _dir_of(tree, to)
    try:
        if req.get("overwrite"):
            os.rename(src_name, dst_name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
        else:
            _rename_noreplace(src_fd, src_name, dst_fd, dst_name)
    except OSError as exc:
        raise _fail(exc, to if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR) else rel) from exc
    return {"moved": 1}


class _Tally:
    def __init__(self) -> None:
        self.counts = {"files": 0, "directories": 0, "links": 0, "others": 0, "bytes": 0}
        self.skipped: list[str] = []
        self.failed: list[list[str]] = []

    def add(self, st: os.stat_result) -> None:
        mode = st.st_mode
        key = "files" if stat.S_ISREG(mode) else "directories" if stat.S_ISDIR(mode) else (
            "links" if stat.S_ISLNK(mode) else "others")  # fmt: skip
        self.counts[key] += 1
        if stat.S_ISREG(mode):
            self.counts["bytes"] += st.st_size

    def failure(self, exc: HelperError) -> None:
        if len(self.failed) < _MAX_FAILED:
            self.failed.append([_hex(exc.path), exc.kind, exc.detail])

    def header(self) -> dict[str, Any]:
        return {**self.counts, "skipped": [_hex(p) for p in self.skipped[:_MAX_FAILED]],
                "failed": self.failed, "failed_total": len(self.failed)}  # fmt: skip


def _copy_bytes(src: int, out: int, size: int) -> None:
    offset = 0
    try:
        while offset < size:
            sent = os.sendfile(out, src, offset, min(1 << 24, size - offset))
            if sent == 0:
                return
            offset += sent
        return
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOSYS) or offset:
            raise
    while True:
        data = os.read(src, 1 << 20)
        if not data:
            return
        view = memoryview(data)
        while view:
            view = view[os.write(out, view) :]


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _copy_file(sfd: int, sname: str, dfd: int, dname: str, rel: str, overwrite: bool, tally: _Tally) -> None:
    """One regular file, opened without following a link, written to a new file (O_EXCL);
    with ``overwrite``, written beside the target and renamed over it. O_NONBLOCK: a fifo
    swapped in after the look is refused at once instead of waiting for a writer forever."""
    try:
        src = os.open(sname, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=sfd)
    except OSError as exc:
        raise _fail(exc, rel) from exc
    try:
        st = os.fstat(src)
        if not stat.S_ISREG(st.st_mode):
            raise HelperError("not_file", rel, "not a regular file")
        target = f".mg-copy-{os.getpid()}-{os.urandom(6).hex()}" if overwrite else dname
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        out = os.open(target, flags, st.st_mode & 0o777, dir_fd=dfd)  # EEXIST: the target is kept
        try:
            try:
                _copy_bytes(src, out, st.st_size)
            finally:
                os.close(out)
            if overwrite:
                os.rename(target, dname, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(target, dir_fd=dfd)
            raise
        tally.add(st)
    finally:
        os.close(src)


class _CopyLevel:
    """One directory being copied: its source's and its copy's descriptors, their paths in the
    area (for messages), the source's lstat and the entries left to copy."""

    def __init__(self, src: int, new: int, paths: tuple[str, str], st: os.stat_result, entries: Any) -> None:
        self.src, self.new, self.st, self.entries = src, new, st, entries
        self.rel, self.made = paths

    def finish(self, tally: _Tally, umask: int) -> None:
        """Its own mode once full, less the umask, as cp -r (a copy is never more open than the
        login's umask allows, nor sticky or setgid); then both descriptors closed."""
        try:
            os.fchmod(self.new, self.st.st_mode & 0o777 & ~umask)
            tally.add(self.st)
        except OSError as exc:
            tally.failure(_fail(exc, self.made))
        finally:
            os.close(self.new)
            os.close(self.src)


def _copy_level(
    sfd: int, sname: str, dfd: int, dname: str, paths: tuple[str, str], ours: set[Any]
) -> _CopyLevel:
    """Open the source directory (never through a link), make its copy 0700 and open it. A
    directory this copy made (``ours``: moved into the source meanwhile) is not copied into itself."""
    rel, made = paths
    src = _open_child(sfd, sname, rel)
    try:
        st = os.fstat(src)
        if (st.st_dev, st.st_ino) in ours:
            raise HelperError("into_itself", rel, "a directory this copy made: not copied into itself")
        try:
            os.mkdir(dname, 0o700, dir_fd=dfd)
            new = os.open(dname, _DIR, dir_fd=dfd)
        except OSError as exc:
            raise _fail(exc, made) from exc
        try:
            made_st = os.fstat(new)
            ours.add((made_st.st_dev, made_st.st_ino))
            entries = iter(sorted(os.scandir(src), key=lambda e: e.name))
        except BaseException:
            os.close(new)
            raise
    except BaseException:
        os.close(src)
        raise
    return _CopyLevel(src, new, paths, st, entries)


def _copy_entry(level: _CopyLevel, name: str, tally: _Tally, ours: set[Any]) -> _CopyLevel | None:
    """One entry of a directory being copied; a subdirectory's level is returned, to be walked."""
    rel, made = level.rel + "/" + name, level.made + "/" + name
    st = os.stat(name, dir_fd=level.src, follow_symlinks=False)
    if stat.S_ISDIR(st.st_mode):
        return _copy_level(level.src, name, level.new, name, (rel, made), ours)
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(name, dir_fd=level.src), name, dir_fd=level.new)  # the link itself
        tally.add(st)
    elif stat.S_ISREG(st.st_mode):
        _copy_file(level.src, name, level.new, name, rel, False, tally)
    else:
        tally.skipped.append(rel)
    return None


def _copy_dir(
    sfd: int, sname: str, dfd: int, dname: str, paths: tuple[str, str], tally: _Tally,
    before_descend: Callable[..., Any] | None = None,
) -> None:  # fmt: skip
    """A directory and everything in it, depth first with a stack, not recursion, so a tree of
    any depth is copied (Python's recursion limit stopped at about 1,000 levels). Each level is
    opened from its parent's descriptor. ``paths``: (the source's, the copy's) paths in the area."""
    umask = _umask()
    ours: set[Any] = set()  # (device, inode) of every directory this copy made
    stack = [_copy_level(sfd, sname, dfd, dname, paths, ours)]
    while stack:
        level = stack[-1]
        entry = next(level.entries, None)
        if entry is None:
            stack.pop().finish(tally, umask)
            continue
        try:
            if before_descend is not None and entry.is_dir(follow_symlinks=False):
                before_descend(level.src, entry.name)
            child = _copy_entry(level, entry.name, tally, ours)
        except HelperError as exc:
            tally.failure(exc)
        except OSError as exc:
            tally.failure(_fail(exc, level.rel + "/" + entry.name))
        else:
            if child is not None:
                stack.append(child)


def op_cp(
    tree: Tree, req: dict[str, Any], rel: str, before_descend: Callable[..., Any] | None = None
) -> dict[str, Any]:
    """Copy ``rel`` to ``to`` (same area). A directory needs ``recursive`` and a target that does
    not exist (no merging); a file's existing target is kept unless ``overwrite``; a link is
    copied as a link; fifos, sockets and devices are skipped (named in ``skipped``)."""
    to = _two_paths(tree, req, rel, "copied")
    sfd, sname, st = _entry(tree, rel)
    dfd, dname = _dir_of(tree, to)
    tally = _Tally()
    if stat.S_ISDIR(st.st_mode):
        if not req.get("recursive"):
            raise HelperError(
                "needs_recursive", rel, "a directory: copied only when asked to copy recursively"
            )
        _copy_dir(sfd, sname, dfd, dname, (rel, to), tally, before_descend)
    elif stat.S_ISLNK(st.st_mode):
        try:
            os.symlink(os.readlink(sname, dir_fd=sfd), dname, dir_fd=dfd)
        except OSError as exc:
            raise _fail(exc, to) from exc
        tally.add(st)
    elif stat.S_ISREG(st.st_mode):
        try:
            _copy_file(sfd, sname, dfd, dname, rel, bool(req.get("overwrite")), tally)
        except OSError as exc:
            raise _fail(exc, to) from exc
    else:
        raise HelperError("not_file", rel, "not a regular file, directory or link: not copied")
    return tally.header()
