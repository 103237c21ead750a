"""The far side of the cluster file browser: ``ls``, ``stat`` and ``read`` inside one area.

Sent after ``basics`` and ``tree`` (``staging.cluster_files.program``) and run as the
researcher's own login, like the stager's helper: the area's root is opened as a ``Tree`` and
every path below it is walked with the stager's rule, one directory descriptor at a time with
O_NOFOLLOW, so a symlink anywhere below the root is shown but never followed (not even one
pointing inside). Standard library of Python >= 3.7 only: this text is shipped.

The request is JSON on stdin (names as hex of their bytes, never on a command line). The
answer is one JSON header line on stdout, then: for ``ls``/``stat`` NUL-terminated fields, 7 per
entry (mode, size, mtime_ns, uid, gid, name, link target), names as raw bytes; for ``read``
exactly ``length`` bytes of the file. A failure is one ``{"error": kind, ...}`` line, exit 2.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import sys

from myriagate.staging.remote_helper.basics import HelperError, os_error_kind
from myriagate.staging.remote_helper.tree import Tree

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

HOME = "{home}"
_SEND_CHUNK = 1 << 20


def open_area(root: str) -> Tree:
    """The area's root as a Tree; ``{home}`` is the login's home from the password database."""
    if root.startswith(HOME):
        import pwd  # only when needed: every import is paid at each start

        root = pwd.getpwuid(os.getuid()).pw_dir + root[len(HOME) :]
    return Tree(root)


def _record(name: bytes, st: os.stat_result, target: bytes) -> bytes:
    fields = (
        b"%d" % st.st_mode,
        b"%d" % st.st_size,
        b"%d" % st.st_mtime_ns,
        b"%d" % st.st_uid,
        b"%d" % st.st_gid,
    )
    return b"\0".join(fields) + b"\0" + name + b"\0" + target + b"\0"


def _parent(tree: Tree, rel: str) -> tuple[int | None, str]:
    """``tree.parent``; when the walk stops at a component, say which one and why: a link
    (``unsafe``) or something that is not a directory (``not_dir``)."""
    try:
        return tree.parent(rel)
    except HelperError as exc:
        if exc.kind != "unsafe":
            raise
        parts = rel.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            st = tree.stat(prefix)  # its own parents are directories: checked a turn earlier
            if st is None:
                break
            if stat.S_ISLNK(st.st_mode):
                raise HelperError("unsafe", prefix, "a symbolic link: not followed") from exc
            if not stat.S_ISDIR(st.st_mode):
                raise HelperError("not_dir", prefix, "not a directory") from exc
        raise


def _lstat(tree: Tree, rel: str) -> tuple[int | None, str, os.stat_result]:
    """(descriptor of rel's directory, rel's name, lstat of rel); ``missing`` when absent."""
    if not rel:
        return None, "", os.fstat(tree.root_fd)
    dir_fd, name = _parent(tree, rel)
    st = tree.stat(rel) if dir_fd is not None else None
    if st is None:
        raise HelperError("missing", rel, "no such file or directory")
    return dir_fd, name, st


def _target(dir_fd: int | None, name: str, st: os.stat_result) -> bytes:
    if not stat.S_ISLNK(st.st_mode) or dir_fd is None:
        return b""
    try:
        return os.fsencode(os.readlink(name, dir_fd=dir_fd))
    except OSError:
        return b""


def open_directory(tree: Tree, rel: str) -> int:
    """A descriptor of the directory ``rel`` (the root when empty), never through a link."""
    if not rel:
        return os.dup(tree.root_fd)
    dir_fd, name, st = _lstat(tree, rel)
    if stat.S_ISLNK(st.st_mode):
        raise HelperError("unsafe", rel, "a symbolic link: not followed")
    if not stat.S_ISDIR(st.st_mode):
        raise HelperError("not_dir", rel, "not a directory")
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
    except OSError as exc:
        kind = "unsafe" if exc.errno in (errno.ELOOP, errno.ENOTDIR) else os_error_kind(exc)
        raise HelperError(kind, rel, str(exc.strerror)) from exc


def op_ls(tree: Tree, req: dict[str, Any], rel: str) -> tuple[dict[str, Any], list[bytes]]:
    """One page of the directory ``rel``, sorted (name, size or mtime; then name), after the
    cursor ``[key, name hex]`` when given; ``total`` counts every entry."""
    fd = open_directory(tree, rel)
    sort, desc, limit = req.get("sort", "name"), bool(req.get("desc")), int(req.get("limit", 500))
    rows: list[tuple[int, bytes, os.stat_result, str]] = []
    try:
        for entry in os.scandir(fd):
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while listed
            key = st.st_size if sort == "size" else st.st_mtime_ns if sort == "mtime" else 0
            rows.append((key, os.fsencode(entry.name), st, entry.name))
    except OSError as exc:
        os.close(fd)
        raise HelperError(os_error_kind(exc), rel, str(exc.strerror)) from exc
    rows.sort(key=lambda row: (row[0], row[1]), reverse=desc)
    after = req.get("after")
    if after is not None:
        mark = (int(after[0]), bytes.fromhex(after[1]))
        rows_after = [r for r in rows if ((r[0], r[1]) < mark if desc else (r[0], r[1]) > mark)]
    else:
        rows_after = rows
    page = rows_after[:limit]
    try:
        body = [_record(name, st, _target(fd, text, st)) for _key, name, st, text in page]
    finally:
        os.close(fd)
    return {"total": len(rows), "more": len(rows_after) > limit}, body


def op_stat(tree: Tree, rel: str) -> tuple[dict[str, Any], list[bytes]]:
    dir_fd, name, st = _lstat(tree, rel)
    return {"total": 1, "more": False}, [_record(os.fsencode(name), st, _target(dir_fd, name, st))]


def _etag(st: os.stat_result) -> str:
    return f'"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"'


def _span(size: int, wanted: list[Any] | None) -> tuple[int, int] | None:
    """(offset, length) of the range ``[start or None, end or None]`` (``domain.files.ByteRange``)."""
    if wanted is None:
        return 0, size
    start, end = wanted
    if start is None:
        if not end or size == 0:
            return None
        length = min(int(end), size)
        return size - length, length
    if start >= size:
        return None
    last = size - 1 if end is None else min(int(end), size - 1)
    return int(start), last - int(start) + 1


def op_read(tree: Tree, req: dict[str, Any], rel: str, out: IO[bytes]) -> None:
    """Header, then the asked range of the regular file ``rel`` (all of it without one)."""
    _dir_fd, _name, st = _lstat(tree, rel)
    if stat.S_ISLNK(st.st_mode):
        raise HelperError("unsafe", rel, "a symbolic link: not followed")
    if stat.S_ISDIR(st.st_mode):
        raise HelperError("is_dir", rel, "a directory")
    if not stat.S_ISREG(st.st_mode):
        raise HelperError("not_file", rel, "not a regular file")
    fd = tree.open_file(rel)
    try:
        st = os.fstat(fd)  # the file opened, not the name looked at
        if not stat.S_ISREG(st.st_mode):
            raise HelperError("not_file", rel, "not a regular file")
        wanted = req.get("range")
        if wanted is not None and req.get("if_range") not in (None, _etag(st)):
            wanted = None  # changed since the client's first part: send it whole (RFC 9110 13.1.5)
        span = _span(st.st_size, wanted)
        if span is None:
            raise HelperError("range", rel, str(st.st_size))
        offset, length = span
        header = {
            "size": st.st_size,
            "offset": offset,
            "length": length,
            "ranged": wanted is not None,
            "etag": _etag(st),
            "record": _record(b"", st, b"").hex(),
        }
        out.write(json.dumps(header).encode() + b"\n")
        out.flush()
        _send(fd, out.fileno(), offset, length)
    finally:
        os.close(fd)


def _send(fd: int, out_fd: int, offset: int, length: int) -> None:
    """``length`` bytes from ``offset``: sendfile (no copy through Python), else read/write."""
    end = offset + length
    try:
        while offset < end:
            sent = os.sendfile(out_fd, fd, offset, min(_SEND_CHUNK, end - offset))
            if sent == 0:
                return  # truncated meanwhile: the gateway sees a short body and fails it
            offset += sent
        return
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOSYS) or offset >= end:
            raise
    while offset < end:
        data = os.pread(fd, min(_SEND_CHUNK, end - offset), offset)
        if not data:
            return
        view = memoryview(data)
        while view:
            view = view[os.write(out_fd, view) :]
        offset += len(data)


def main(argv: list[str]) -> int:
    op = argv[0]
    out = sys.stdout.buffer
    try:
        req = json.loads(sys.stdin.buffer.read().decode("utf-8"))
        tree = open_area(str(req["root"]))
        rel = os.fsdecode(bytes.fromhex(req.get("path", "")))
        if op == "read":
            op_read(tree, req, rel, out)
            out.flush()
            return 0
        header, body = op_ls(tree, req, rel) if op == "ls" else op_stat(tree, rel)
    except HelperError as exc:
        out.write(json.dumps({"error": exc.kind, "path": exc.path, "detail": exc.detail}).encode() + b"\n")
        out.flush()
        return 2
    except OSError as exc:
        out.write(
            json.dumps({"error": os_error_kind(exc), "path": "", "detail": str(exc.strerror)}).encode()
            + b"\n"
        )
        out.flush()
        return 2
    out.write(json.dumps(header).encode() + b"\n")
    out.writelines(body)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
