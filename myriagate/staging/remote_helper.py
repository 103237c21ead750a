"""The program the stager runs on the far side of an SSH connection: ``python3 -c <this file> OP ROOT``.

It is sent as text with every command (nothing is installed on the host) and runs with the
standard library of Python >= 3.7 only, so it must not import anything of ours. File names
never appear on a command line: they arrive as JSON on stdin, so no shell ever parses them.
The gateway also imports it for the pure parts it shares with the far side (partial names,
manifest rule, glob matching) and for the local end of downloads.

Layout under ROOT: ``.myriagate/partial/<key>`` holds files being written (``key`` is derived
from the relative path, so an interrupted transfer finds its partial data again), and
``.myriagate/manifest.json`` maps a path to ``[size, mtime_ns, ctime_ns, inode, sha256]``
recorded when the stager verified and renamed it. A file whose size, mtime, ctime and inode
all still match is taken to still have that sha256; anything else is hashed again.

Operations (JSON on stdin, one JSON object on stdout; a failure prints ``{"error": kind, ...}``
and exits 2): ``list``, ``recv`` (stdin: one JSON header line, then the bytes), ``commit``,
``send`` (stdout: framed bytes, see ``send``) and ``scan``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import stat
import sys
from typing import IO, Any

RESERVED = ".myriagate"
CHUNK = 1 << 20
_HASH_CHUNK = 1 << 20


class HelperError(Exception):
    """A failure reported to the gateway as ``{"error": kind, "path": ..., "detail": ...}``."""

    def __init__(self, kind: str, path: str, detail: str | None) -> None:
        super().__init__(detail)
        self.kind, self.path, self.detail = kind, path, detail or kind


def partial_key(path: str) -> str:
    """The partial file's name for a relative path: stable across attempts, safe characters only."""
    return hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:40]


def os_error_kind(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk_full"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission"
    if exc.errno == errno.EROFS:
        return "read_only"
    if exc.errno == errno.ENOENT:
        return "missing"
    return "os_error"


def stat_key(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def glob_regex(pattern: str) -> re.Pattern[str]:
    """``*``/``?``/``[..]`` stay within one directory; a ``**`` component crosses any number."""
    out = []
    parts = pattern.split("/")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out.append(".*" if last else "(?:[^/]+/)*")
            continue
        j, piece = 0, ""
        while j < len(part):
            c = part[j]
            if c == "*":
                piece += "[^/]*"
            elif c == "?":
                piece += "[^/]"
            elif c == "[":
                end = part.find("]", j + 2 if part[j + 1 : j + 2] in ("!", "]") else j + 1)
                if end < 0:
                    piece += re.escape(c)
                else:
                    body = part[j + 1 : end]
                    neg = body.startswith("!")
                    body = body[1:] if neg else body
                    piece += "[" + ("^/" if neg else "") + body.replace("\\", "\\\\") + "]"
                    j = end
            else:
                piece += re.escape(c)
            j += 1
        out.append(piece + ("" if last else "/"))
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def sha256_file(path: str, fd: int | None = None) -> str:
    h = hashlib.sha256()
    own = fd is None
    if fd is None:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        buf = bytearray(_HASH_CHUNK)
        view = memoryview(buf)
        while True:
            n = os.readv(fd, [buf])
            if not n:
                break
            h.update(view[:n])
    finally:
        if own:
            os.close(fd)
    return h.hexdigest()


class Tree:
    """One root directory: safe path resolution, the partial directory and the manifest."""

    def __init__(self, root: str, *, create: bool = False) -> None:
        if not os.path.isabs(root):
            raise HelperError("unsafe", root, "the root must be an absolute path")
        if create and not os.path.lexists(root):
            # An upload's destination (a job's own directory) may not exist yet.
            try:
                os.makedirs(root, 0o755, exist_ok=True)
            except OSError as exc:
                raise HelperError(
                    os_error_kind(exc), "", "cannot create the root: " + str(exc.strerror)
                ) from exc
        try:
            self.real = os.path.realpath(root)
            st = os.stat(self.real)
        except OSError as exc:
            raise HelperError(os_error_kind(exc), "", "cannot open the root: " + str(exc.strerror)) from exc
        if not stat.S_ISDIR(st.st_mode):
            raise HelperError("missing", "", "the root is not a directory")
        self.meta = os.path.join(self.real, RESERVED)
        self.partial_dir = os.path.join(self.meta, "partial")
        self.manifest_path = os.path.join(self.meta, "manifest.json")

    def inside(self, rel: str) -> str:
        """The absolute path of ``rel``, refusing one whose symlinks lead outside the root."""
        if not rel or rel.startswith("/") or ".." in rel.split("/") or rel.split("/")[0] == RESERVED:
            raise HelperError("unsafe", rel, "not a relative path inside the root")
        path = os.path.join(self.real, rel)
        real = os.path.realpath(path)
        if real != path and os.path.commonpath([real, self.real]) != self.real:
            raise HelperError("unsafe", rel, "a symlink on this path leads outside the root")
        return path

    def ensure_meta(self) -> None:
        for d in (self.meta, self.partial_dir):
            try:
                os.mkdir(d, 0o700)
            except FileExistsError:
                pass
            except OSError as exc:
                raise HelperError(os_error_kind(exc), RESERVED, exc.strerror) from exc
            if os.path.islink(d) or not os.path.isdir(d):
                raise HelperError("unsafe", RESERVED, "the stager's directory is not a plain directory")

    def partial(self, key: str) -> str:
        if not re.fullmatch("[0-9a-f]{40}", key):
            raise HelperError("unsafe", key, "bad partial key")
        return os.path.join(self.partial_dir, key)

    def read_manifest(self) -> dict[str, list[Any]]:
        try:
            with open(self.manifest_path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def known_sha(self, manifest: dict[str, list[Any]], rel: str, st: os.stat_result) -> str | None:
        entry = manifest.get(rel)
        if isinstance(entry, list) and len(entry) == 5 and entry[:4] == stat_key(st):
            return str(entry[4])
        return None

    def update_manifest(self, entries: dict[str, list[Any]]) -> None:
        """Merge entries under an exclusive lock, replace the file atomically."""
        self.ensure_meta()
        lock_fd = os.open(os.path.join(self.meta, "manifest.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            manifest = self.read_manifest()
            manifest.update(entries)
            tmp = self.manifest_path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(manifest, f, separators=(",", ":"))
            os.replace(tmp, self.manifest_path)
        finally:
            os.close(lock_fd)


def op_list(tree: Tree, req: dict[str, Any]) -> dict[str, Any]:
    """Per requested file: its state at this end, a known (or, on request, fresh) sha256 and
    the size of its partial data. ``hash``: ``known`` (manifest only), ``ifsize`` (also hash a
    file whose size equals ``size``), ``force`` (always hash)."""
    manifest = tree.read_manifest()
    out = []
    for item in req["files"]:
        rel = item["path"]
        path = tree.inside(rel)
        entry: dict[str, Any] = {"path": rel, "state": "absent", "size": -1, "sha256": None}
        try:
            st = os.stat(path)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            raise HelperError(os_error_kind(exc), rel, exc.strerror) from exc
        if st is not None:
            entry["state"] = "file" if stat.S_ISREG(st.st_mode) else "other"
            entry["size"] = st.st_size
            if entry["state"] == "file":
                sha = tree.known_sha(manifest, rel, st)
                mode = item.get("hash", "known")
                if sha is None and (mode == "force" or (mode == "ifsize" and st.st_size == item["size"])):
                    try:
                        sha = sha256_file(path)
                    except OSError as exc:
                        raise HelperError(os_error_kind(exc), rel, exc.strerror) from exc
                entry["sha256"] = sha
        try:
            entry["partial"] = os.lstat(os.path.join(tree.partial_dir, partial_key(rel))).st_size
        except OSError:
            entry["partial"] = 0
        out.append(entry)
    return {"files": out}


def _read_exact_into(stream: IO[bytes], fd: int, length: int, key: str) -> int:
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    done = 0
    while done < length:
        n = stream.readinto(view[: min(CHUNK, length - done)])  # type: ignore[attr-defined]
        if not n:
            break
        written = 0
        while written < n:
            written += os.write(fd, view[written:n])
        done += n
    return done


def op_recv(tree: Tree, stream: IO[bytes]) -> dict[str, Any]:
    """Write the framed data into partial files: header ``[[key, offset, length], ...]``."""
    header = json.loads(stream.readline().decode("utf-8"))
    tree.ensure_meta()
    total = 0
    for key, offset, length in header:
        path = tree.partial(key)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        except OSError as exc:
            raise HelperError(os_error_kind(exc), key, exc.strerror) from exc
        try:
            # A previous attempt cut mid-file may still be draining: wait for it.
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.ftruncate(fd, offset)
            os.lseek(fd, offset, os.SEEK_SET)
            got = _read_exact_into(stream, fd, length, key)
        except OSError as exc:
            raise HelperError(os_error_kind(exc), key, exc.strerror) from exc
        finally:
            os.close(fd)
        total += got
        if got < length:
            raise HelperError("truncated", key, f"the stream ended after {got} of {length} bytes")
    return {"bytes": total}


def op_commit(tree: Tree, req: dict[str, Any]) -> dict[str, Any]:
    """Hash each partial file from disk, compare, then rename it into place (or delete it)."""
    results, entries = [], {}
    for item in req["files"]:
        rel, part = item["path"], tree.partial(item["key"])
        try:
            actual = sha256_file(part)
            size = os.lstat(part).st_size
        except OSError as exc:
            raise HelperError(os_error_kind(exc), rel, exc.strerror) from exc
        if actual != item["sha256"] or size != item["size"]:
            os.unlink(part)  # a retry must send the whole file again, never trust this data
            results.append({"path": rel, "status": "mismatch", "sha256": actual, "size": size})
            continue
        final = tree.inside(rel)  # checked again right before writing
        try:
            os.makedirs(os.path.dirname(final), exist_ok=True)
            tree.inside(rel)
            os.utime(part, ns=(item["mtime_ns"], item["mtime_ns"]), follow_symlinks=False)
            os.rename(part, final)
            st = os.lstat(final)
        except OSError as exc:
            raise HelperError(os_error_kind(exc), rel, exc.strerror) from exc
        entries[rel] = [*stat_key(st), actual]
        results.append({"path": rel, "status": "ok", "sha256": actual, "size": st.st_size})
    if entries:
        tree.update_manifest(entries)
    return {"files": results}


def op_send(tree: Tree, req: dict[str, Any], out: IO[bytes]) -> None:
    """Per file: ``F <size> <offset> <mtime_ns>\\n``, bytes [offset, size), ``H <sha256 of all>\\n``."""
    for item in req["files"]:
        rel, offset = item["path"], item["offset"]
        path = tree.inside(rel)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            raise HelperError(os_error_kind(exc), rel, exc.strerror) from exc
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise HelperError("unsafe", rel, "not a regular file")
            size = st.st_size
            offset = offset if 0 <= offset <= size else 0
            out.write(b"F %d %d %d\n" % (size, offset, st.st_mtime_ns))
            h = hashlib.sha256()
            buf = bytearray(CHUNK)
            view = memoryview(buf)
            pos = 0
            while pos < size:
                n = os.readv(fd, [view[: min(CHUNK, size - pos)]])
                if not n:
                    raise HelperError("truncated", rel, "the file shrank while it was being read")
                h.update(view[:n])
                if pos + n > offset:
                    out.write(view[max(0, offset - pos) : n])
                pos += n
            out.write(b"H " + h.hexdigest().encode() + b"\n")
        finally:
            os.close(fd)
    out.flush()


def op_scan(tree: Tree, req: dict[str, Any]) -> dict[str, Any]:
    """Regular files matching the patterns, never following symlinks; sha256 from the manifest
    when still valid, else computed here."""
    regexes = [glob_regex(p) for p in req["patterns"]]
    manifest = tree.read_manifest()
    found: list[dict[str, Any]] = []
    for dirpath, dirnames, filenames in os.walk(tree.real, followlinks=False):
        reldir = os.path.relpath(dirpath, tree.real)
        if reldir == ".":
            reldir = ""
            dirnames[:] = [d for d in dirnames if d != RESERVED]
        dirnames.sort()
        for name in sorted(filenames):
            rel = reldir + "/" + name if reldir else name
            if not any(r.match(rel) for r in regexes):
                continue
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
                if not stat.S_ISREG(st.st_mode):
                    continue  # symlinks, fifos, sockets: never reported, never followed
                sha = tree.known_sha(manifest, rel, st) or sha256_file(path)
            except OSError as exc:
                raise HelperError(os_error_kind(exc), rel, exc.strerror) from exc
            found.append({"path": rel, "size": st.st_size, "sha256": sha})
    found.sort(key=lambda f: f["path"])
    return {"files": found}


def main(argv: list[str]) -> int:
    op, root = argv[0], argv[1]
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    try:
        with contextlib.suppress(OSError):  # bigger pipes, fewer wake-ups (Linux; 1 MiB max unprivileged)
            fcntl.fcntl(stdin.fileno(), 1031, CHUNK)
        if op == "recv":
            result: dict[str, Any] = op_recv(Tree(root, create=True), stdin)
        elif op == "send":
            op_send(Tree(root), json.loads(stdin.read().decode("utf-8")), stdout)
            return 0
        else:
            req = json.loads(stdin.read().decode("utf-8"))
            handlers = {"list": op_list, "commit": op_commit, "scan": op_scan}
            tree = Tree(root, create=op == "commit" or bool(req.get("create_root")))
            result = handlers[op](tree, req)
    except HelperError as exc:
        stdout.write(b"\n" + json.dumps({"error": exc.kind, "path": exc.path, "detail": exc.detail}).encode())
        stdout.flush()
        return 2
    stdout.write(json.dumps(result, separators=(",", ":")).encode())
    stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
