"""The program the stager runs on the far side of an SSH connection: ``python3 -c <bootstrap> OP ROOT``.

It is sent as text on stdin ahead of every request (nothing is installed on the host; the
one-line bootstrap reads it, see ``openssh_session.remote_command``) and runs with the
standard library of Python >= 3.7 only, so it must not import anything of ours. File names
never appear on a command line: they arrive as JSON on stdin, so no shell ever parses them.
The gateway also imports it for the pure parts it shares with the far side (partial names,
manifest rule, glob matching) and for the local end of downloads.

Layout under ROOT: ``.myriagate/partial/<key[:2]>/<key>`` holds files being written (``key``
is derived from the relative path, so an interrupted transfer finds its partial data again), and
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
import json
import os
import re
import stat
import sys
import time

# Imports cost the far side at every start (a resync's ``list`` is mostly start-up): typing
# is for annotations only, hashlib is imported when something is hashed (``_sha256``).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import hashlib
    from typing import IO, Any

RESERVED = ".myriagate"
CHUNK = 1 << 20
_HASH_CHUNK = 1 << 20
# While the far side works without a byte to send (hashing, walking a large tree), it writes a
# newline on stderr this often: the gateway ends a session silent for longer than its stall
# limit (staging.session_watch). Only the far side beats: main() sets the descriptor.
_BEAT_S = 5.0
_beat = {"fd": -1, "at": 0.0}


def beat() -> None:
    if _beat["fd"] >= 0:
        now = time.monotonic()
        if now - _beat["at"] >= _BEAT_S:
            _beat["at"] = now
            with contextlib.suppress(OSError):
                os.write(int(_beat["fd"]), b"\n")


class HelperError(Exception):
    """A failure reported to the gateway as ``{"error": kind, "path": ..., "detail": ...}``."""

    def __init__(self, kind: str, path: str, detail: str | None) -> None:
        super().__init__(detail)
        self.kind, self.path, self.detail = kind, path, detail or kind


def _sha256(data: bytes = b"") -> hashlib._Hash:
    import hashlib  # lazily, see the imports

    return hashlib.sha256(data)


def partial_key(path: str) -> str:
    """The partial file's name for a relative path: stable across attempts, safe characters only."""
    return _sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:40]


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


def sha256_fd(fd: int) -> str:
    h = _sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    buf = bytearray(_HASH_CHUNK)
    view = memoryview(buf)
    while True:
        n = os.readv(fd, [buf])
        if not n:
            break
        h.update(view[:n])
        beat()
    return h.hexdigest()


def sha256_file(path: str) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        return sha256_fd(fd)
    finally:
        os.close(fd)


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def _real_path_of(dir_fd: int) -> str:
    """Where a directory descriptor really is: the kernel's answer, not the path we walked."""
    with contextlib.suppress(OSError):  # Linux
        return os.readlink(f"/proc/self/fd/{dir_fd}")
    here = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fchdir(dir_fd)
        return os.getcwd()
    finally:
        os.fchdir(here)
        os.close(here)


class Tree:
    """One root directory, reached through directory file descriptors opened with O_NOFOLLOW.

    ``base`` is the operator's root (a storage endpoint's configured root, a login's home, a
    directory the researcher named with ``--chdir``): it may be reached through symlinks, since
    whoever configured it chose it. ``anchor`` is the part the gateway adds below it (the
    account and dataset directories on storage, ``myriagate-jobs/<job id>`` on the cluster):
    it is walked one component at a time with O_NOFOLLOW, created 0700 when asked, and every
    component must be a real directory owned by the login the helper runs as. A link or a
    directory of somebody else's at any of those levels is refused (``unsafe``) with the
    component named, so a researcher with a shell on the host cannot steer the bytes elsewhere.

    Every path under the anchored root is then walked the same way from its descriptor, so a
    symlink anywhere below is never followed (not even one pointing inside), and swapping a
    directory for a symlink between a check and a write changes nothing: there is no separate
    check. ``real`` is where the anchored root really is (read back from its descriptor), which
    the gateway compares with what it asked for before it records anything.
    """

    def __init__(self, base: str, anchor: str = "", *, create: bool = False) -> None:
        if not os.path.isabs(base):
            raise HelperError("unsafe", "", "the root must be an absolute path")
        if anchor:
            check_rel(anchor)
        if create and not anchor and not os.path.lexists(base):
            # A --chdir the researcher named may not exist yet: theirs, created as asked.
            try:
                os.makedirs(base, 0o700, exist_ok=True)
            except OSError as exc:
                raise HelperError(
                    os_error_kind(exc), "", "cannot create the root: " + str(exc.strerror)
                ) from exc
        try:
            self.base_real = os.path.realpath(base)
            fd = os.open(self.base_real, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            kind = "missing" if exc.errno == errno.ENOTDIR else os_error_kind(exc)
            raise HelperError(kind, "", "cannot open the root: " + str(exc.strerror)) from exc
        if anchor:
            fd = self._walk_anchor(fd, anchor, create)
        self.root_fd = fd
        self.real = _real_path_of(fd)
        self.anchor = anchor
        self._dirs: dict[str, int] = {"": self.root_fd}
        self._missing: set[str] = set()  # directories known absent (lookups only, never creation)
        self._partials: dict[str, int] | None = None

    def _walk_anchor(self, fd: int, anchor: str, create: bool) -> int:
        """The anchor's descriptor, walked from the base's; each level checked (see the class)."""
        uid = os.geteuid()
        done = ""
        for name in anchor.split("/"):
            done = done + "/" + name if done else name
            try:
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(name, 0o700, dir_fd=fd)
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise HelperError(
                        "unsafe", done, "'" + done + "' is a symlink or not a directory"
                    ) from exc
                raise HelperError(os_error_kind(exc), done, str(exc.strerror)) from exc
            os.close(fd)
            fd = child
            owner = os.fstat(fd).st_uid
            if owner != uid:
                os.close(fd)
                detail = f"'{done}' belongs to uid {owner}, not to the login writing (uid {uid})"
                raise HelperError("unsafe", done, detail)
        return fd

    def _open_dir(self, reldir: str, create: bool, what: str) -> int | None:
        fd = self._dirs.get(reldir)
        if fd is not None:
            return fd
        if not create and reldir in self._missing:
            return None
        head, _, name = reldir.rpartition("/")
        parent = self._open_dir(head, create, what)
        if parent is None:
            return None
        try:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o700 if reldir.split("/")[0] == RESERVED else 0o777, dir_fd=parent)
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if create:
                raise HelperError("missing", what, "a directory vanished while being created") from None
            self._missing.add(reldir)
            return None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise HelperError("unsafe", what, "'" + reldir + "' is a symlink or not a directory") from exc
            raise HelperError(os_error_kind(exc), what, str(exc.strerror)) from exc
        if len(self._dirs) > 600:  # bounded (ulimit -n is often 1024): close all but the root
            for key in [k for k in self._dirs if k]:
                os.close(self._dirs.pop(key))
        self._dirs[reldir] = fd
        return fd

    def parent(self, rel: str, *, create: bool = False) -> tuple[int | None, str]:
        """(descriptor of rel's directory or None when it does not exist, rel's last component)."""
        check_rel(rel)
        reldir, _, name = rel.rpartition("/")
        return self._open_dir(reldir, create, rel), name

    def stat(self, rel: str) -> os.stat_result | None:
        """lstat of ``rel`` (a symlink is reported as such, never followed); None when absent."""
        dir_fd, name = self.parent(rel)
        if dir_fd is None:
            return None
        try:
            return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise HelperError(os_error_kind(exc), rel, str(exc.strerror)) from exc

    def open_file(self, rel: str) -> int:
        dir_fd, name = self.parent(rel)
        if dir_fd is None:
            raise HelperError("missing", rel, "no such file")
        try:
            return os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
        except OSError as exc:
            kind = "unsafe" if exc.errno == errno.ELOOP else os_error_kind(exc)
            raise HelperError(
                kind, rel, "a symlink (not followed)" if kind == "unsafe" else exc.strerror
            ) from exc

    def sha256_of(self, rel: str) -> str:
        fd = self.open_file(rel)
        try:
            return sha256_fd(fd)
        finally:
            os.close(fd)

    def shard(self, key: str) -> int:
        """The shard directory of ``key`` (created if needed)."""
        fd = self._shard(key, True)
        assert fd is not None
        return fd

    def _shard(self, key: str, create: bool) -> int | None:
        # 256 shard directories, as git's objects: on ext4 10,000 new files in one directory
        # write several times slower than spread over many (one block group for all of them).
        if not re.fullmatch("[0-9a-f]{40}", key):
            raise HelperError("unsafe", key, "bad partial key")
        return self._open_dir(RESERVED + "/partial/" + key[:2], create, RESERVED)

    def partial_root(self) -> int:
        fd = self._open_dir(RESERVED + "/partial", True, RESERVED)
        assert fd is not None
        return fd

    def partial_size(self, key: str) -> int:
        """Bytes of partial data for ``key`` (0 when none). The partial directory is read once
        (one scandir per shard), which beats a stat per file when most files have none."""
        if self._partials is None:
            self._partials = {}
            root = self._open_dir(RESERVED + "/partial", False, RESERVED)
            if root is not None:
                for shard in os.scandir(root):
                    if len(shard.name) == 2 and shard.is_dir(follow_symlinks=False):
                        shard_fd = self._open_dir(RESERVED + "/partial/" + shard.name, False, RESERVED)
                        for entry in os.scandir(shard_fd) if shard_fd is not None else ():
                            if entry.is_file(follow_symlinks=False):
                                self._partials[entry.name] = entry.stat(follow_symlinks=False).st_size
        return self._partials.get(key, 0)

    def has_partials(self) -> bool:
        """Whether any partial data exists (when none, ``list`` skips deriving 10,000 keys)."""
        self.partial_size("")
        return bool(self._partials)

    def open_partial(self, key: str, flags: int = os.O_WRONLY | os.O_CREAT) -> tuple[int, int]:
        """(shard directory, the partial file of ``key``), never through a symlink; 0666 & ~umask."""
        dir_fd = self._shard(key, bool(flags & os.O_CREAT))
        if dir_fd is None:
            raise HelperError("missing", key, "no partial data")
        try:
            fd = os.open(key, flags | os.O_NOFOLLOW, 0o666, dir_fd=dir_fd)
        except FileExistsError:
            raise  # O_EXCL: the caller takes the slow path
        except OSError as exc:
            raise HelperError(os_error_kind(exc), key, exc.strerror) from exc
        _refuse_shared(fd, key)
        return dir_fd, fd

    def read_manifest(self) -> dict[str, list[Any]]:
        try:
            meta = self._open_dir(RESERVED, False, RESERVED)
            if meta is None:
                return {}
            fd = os.open("manifest.json", os.O_RDONLY | os.O_NOFOLLOW, dir_fd=meta)
            with open(fd, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError, HelperError):
            return {}
        return data if isinstance(data, dict) else {}

    def known_sha(self, manifest: dict[str, list[Any]], rel: str, st: os.stat_result) -> str | None:
        entry = manifest.get(rel)
        if isinstance(entry, list) and len(entry) == 5 and entry[:4] == stat_key(st):
            return str(entry[4])
        return None

    def update_manifest(self, entries: dict[str, list[Any]]) -> None:
        """Merge entries under an exclusive lock, replace the file atomically."""
        meta = self._open_dir(RESERVED, True, RESERVED)
        assert meta is not None  # created
        lock_fd = os.open("manifest.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600, dir_fd=meta)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            manifest = self.read_manifest()
            manifest.update(entries)
            _write_new(meta, "manifest.json", json.dumps(manifest, separators=(",", ":")))
        finally:
            os.close(lock_fd)


def _refuse_shared(fd: int, what: str) -> None:
    """Never write into a file that is also another name (a hard link planted elsewhere)."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
        os.close(fd)
        raise HelperError("unsafe", what, "has other hard links or is not a regular file: not written into")


def _write_new(dir_fd: int, name: str, text: str) -> None:
    """Replace ``name`` in ``dir_fd`` with ``text``: written to a new file (O_EXCL, so never
    into a file planted under the temporary name), then renamed over it."""
    tmp = f"{name}.{os.getpid()}.{os.urandom(6).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dir_fd)
    try:
        with open(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise


def check_rel(rel: str) -> None:
    parts = rel.split("/")
    # ``in`` on the list, not a generator: a resync checks 10,000 names (a leading "/" gives "").
    if "" in parts or "." in parts or ".." in parts or parts[0] == RESERVED:
        raise HelperError("unsafe", rel, "not a relative path inside the root")


def op_list(tree: Tree, req: dict[str, Any]) -> dict[str, Any]:
    """Per requested file ``[path, size]``: ``[state, size, sha256 or None, partial bytes]`` in
    the same order (compact: a resync of 10,000 files is one such call). States: absent, file,
    symlink (never followed), other. ``hash``: ``known`` (manifest only), ``ifsize`` (also hash
    a file whose size equals the given size), ``force`` (always hash)."""
    manifest = tree.read_manifest()
    mode = req.get("hash", "known")
    partials = tree.has_partials()
    out: list[list[Any]] = []
    append, tree_stat, is_lnk, is_reg = out.append, tree.stat, stat.S_ISLNK, stat.S_ISREG
    for rel, want_size in req["files"]:
        st = tree_stat(rel)
        state, size, sha = "absent", -1, None
        if st is not None:
            size = st.st_size
            if is_lnk(st.st_mode):
                state = "symlink"
            elif not is_reg(st.st_mode):
                state = "other"
            else:
                state = "file"
                entry = manifest.get(rel)  # the rule of known_sha, inlined (10,000 calls)
                if (
                    isinstance(entry, list)
                    and len(entry) == 5
                    and entry[0] == size
                    and entry[1] == st.st_mtime_ns
                    and entry[2] == st.st_ctime_ns
                    and entry[3] == st.st_ino
                ):
                    sha = str(entry[4])
                elif mode == "force" or (mode == "ifsize" and size == want_size):
                    sha = tree.sha256_of(rel)
        append([state, size, sha, tree.partial_size(partial_key(rel)) if partials else 0])
    return {"files": out}


def _read_exact_into(stream: IO[bytes], fd: int, length: int, digest: Any) -> int:
    buf = bytearray(min(CHUNK, max(length, 1)))
    view = memoryview(buf)
    done = 0
    while done < length:
        n = stream.readinto(view[: min(len(buf), length - done)])  # type: ignore[attr-defined]
        if not n:
            break
        digest.update(view[:n])
        written = 0
        while written < n:
            written += os.write(fd, view[written:n])
        done += n
    return done


def _hash_prefix(fd: int, offset: int) -> Any:
    """sha256 object fed with the first ``offset`` bytes already in the file (resume)."""
    h = _sha256()
    pos = 0
    while pos < offset:
        chunk = os.pread(fd, min(_HASH_CHUNK, offset - pos), pos)
        if not chunk:
            break
        h.update(chunk)
        pos += len(chunk)
        beat()
    return h


def _batch_name(token: str) -> str:
    if not re.fullmatch("[0-9a-f]{32}", token):
        raise HelperError("unsafe", token, "bad batch token")
    return "batch-" + token + ".json"


def op_recv(tree: Tree, stream: IO[bytes]) -> dict[str, Any]:
    """Write the framed data into partial files: header ``{"batch": token, "files": [[key,
    offset, length, mtime_ns], ...]}``. Each file's sha256 is computed here as its bytes are written;
    it is recorded with the file's (size, mtime, ctime, inode) in ``partial/batch-<token>.json``,
    and ``commit`` trusts it only while that identity is unchanged, else hashes the file again."""
    header = json.loads(stream.readline().decode("utf-8"))
    total = 0
    hashed: dict[str, list[Any]] = {}
    try:
        for key, offset, length, mtime_ns in header["files"]:
            fresh = offset == 0
            try:  # the common case, a new file from byte 0: nobody else can be writing it
                _, fd = tree.open_partial(key, os.O_RDWR | os.O_CREAT | (os.O_EXCL if fresh else 0))
            except FileExistsError:
                fresh = False
                _, fd = tree.open_partial(key, os.O_RDWR | os.O_CREAT)
            try:
                if not fresh:
                    # A previous attempt cut mid-file may still be draining: wait for it.
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    if os.fstat(fd).st_size != offset:  # truncating costs even when nothing changes
                        os.ftruncate(fd, offset)
                    os.lseek(fd, offset, os.SEEK_SET)
                digest = _hash_prefix(fd, offset) if offset else _sha256()
                got = _read_exact_into(stream, fd, length, digest)
                if got == length:
                    # The source's mtime now, so commit only renames; identity taken after it.
                    os.utime(fd, ns=(mtime_ns, mtime_ns))
                    hashed[key] = [*stat_key(os.fstat(fd)), digest.hexdigest()]
            except OSError as exc:
                raise HelperError(os_error_kind(exc), key, exc.strerror) from exc
            finally:
                os.close(fd)
            total += got
            if got < length:
                raise HelperError("truncated", key, f"the stream ended after {got} of {length} bytes")
    finally:
        if hashed:
            batch = _batch_name(header["batch"])
            _write_new(tree.partial_root(), batch, json.dumps(hashed, separators=(",", ":")))
    return {"bytes": total}


def op_commit(tree: Tree, req: dict[str, Any]) -> dict[str, Any]:
    """Hash each partial file from disk, compare, then rename it into place (or delete it)."""
    results, entries = [], {}
    hashed: dict[str, list[Any]] = {}
    batch = _batch_name(req["batch"]) if req.get("batch") else None
    if batch is not None:
        with contextlib.suppress(OSError, ValueError):
            batch_fd = os.open(batch, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=tree.partial_root())
            with open(batch_fd, encoding="utf-8") as f:
                hashed = json.load(f)
    for item in req["files"]:
        rel, key = item["path"], item["key"]
        shard = tree.shard(key)
        try:
            st = os.stat(key, dir_fd=shard, follow_symlinks=False)
            known = hashed.get(key)
            size = st.st_size
            # The sha256 computed while writing holds while the file is untouched; else hash again.
            if known and known[:4] == stat_key(st) and stat.S_ISREG(st.st_mode):
                actual = known[4]
            else:
                fd = os.open(key, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=shard)
                try:
                    actual = sha256_fd(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            raise HelperError(os_error_kind(exc), rel, exc.strerror) from exc
        if actual != item["sha256"] or size != item["size"]:
            os.unlink(key, dir_fd=shard)  # a retry must send the whole file again
            results.append({"path": rel, "status": "mismatch", "sha256": actual, "size": size})
            continue
        dir_fd, name = tree.parent(rel, create=True)
        try:
            if st.st_mtime_ns != item["mtime_ns"]:
                os.utime(key, ns=(item["mtime_ns"], item["mtime_ns"]), dir_fd=shard, follow_symlinks=False)
            os.rename(key, name, src_dir_fd=shard, dst_dir_fd=dir_fd)
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError as exc:
            raise HelperError(os_error_kind(exc), rel, exc.strerror) from exc
        entries[rel] = [*stat_key(st), actual]
        results.append({"path": rel, "status": "ok", "sha256": actual, "size": st.st_size})
    if entries:
        tree.update_manifest(entries)
    if batch is not None:
        with contextlib.suppress(OSError):
            os.unlink(batch, dir_fd=tree.partial_root())
    return {"files": results}


def op_send(tree: Tree, req: dict[str, Any], out: IO[bytes]) -> None:
    """Per file: ``F <size> <offset> <mtime_ns>\\n``, bytes [offset, size), ``H <sha256 of all>\\n``."""
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    for item in req["files"]:
        rel, offset = item["path"], item["offset"]
        fd = tree.open_file(rel)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise HelperError("unsafe", rel, "not a regular file")
            size = st.st_size
            offset = offset if 0 <= offset <= size else 0
            out.write(b"F %d %d %d\n" % (size, offset, st.st_mtime_ns))
            h = _sha256()
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
        except OSError as exc:
            raise HelperError(os_error_kind(exc), rel, exc.strerror) from exc
        finally:
            os.close(fd)
    out.flush()


def op_scan(tree: Tree, req: dict[str, Any]) -> dict[str, Any]:
    """Regular files matching the patterns, never following symlinks (they are not reported);
    sha256 from the manifest when still valid, else computed here."""
    regexes = [glob_regex(p) for p in req["patterns"]]
    # A --chdir the researcher chose is shared with whatever else ran there: only the files
    # changed after the job started are its results.
    newer_than = req.get("newer_than_ns")
    manifest = tree.read_manifest()
    found: list[dict[str, Any]] = []
    for dirpath, dirnames, filenames, dir_fd in os.fwalk(".", dir_fd=tree.root_fd, follow_symlinks=False):
        beat()
        reldir = "" if dirpath == "." else dirpath[2:]
        if not reldir:
            dirnames[:] = [d for d in dirnames if d != RESERVED]
        for name in filenames:
            rel = reldir + "/" + name if reldir else name
            if not any(r.match(rel) for r in regexes):
                continue
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                if not stat.S_ISREG(st.st_mode):
                    continue  # symlinks, fifos, sockets: never reported, never followed
                if newer_than is not None and st.st_mtime_ns <= newer_than:
                    continue
                sha = tree.known_sha(manifest, rel, st)
                if sha is None:
                    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
                    try:
                        sha = sha256_fd(fd)
                    finally:
                        os.close(fd)
            except OSError as exc:
                raise HelperError(os_error_kind(exc), rel, exc.strerror) from exc
            found.append({"path": rel, "size": st.st_size, "sha256": sha})
    found.sort(key=lambda f: f["path"])
    return {"files": found}


def main(argv: list[str]) -> int:
    op, root = argv[0], argv[1]
    anchor = argv[2] if len(argv) > 2 else ""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    _beat["fd"] = 2
    try:
        with contextlib.suppress(OSError):  # bigger pipes, fewer wake-ups (Linux; 1 MiB max unprivileged)
            fcntl.fcntl(stdin.fileno(), 1031, CHUNK)
        if op == "recv":
            result: dict[str, Any] = op_recv(Tree(root, anchor, create=True), stdin)
        elif op == "send":
            op_send(Tree(root, anchor), json.loads(stdin.read().decode("utf-8")), stdout)
            return 0
        else:
            req = json.loads(stdin.read().decode("utf-8"))
            handlers = {"list": op_list, "commit": op_commit, "scan": op_scan}
            tree = Tree(root, anchor, create=op == "commit" or bool(req.get("create_root")))
            result = handlers[op](tree, req)
            # Where the files really are, checked by the gateway (openssh.check_landing).
            result["real"], result["base_real"] = tree.real, tree.base_real
    except HelperError as exc:
        stdout.write(b"\n" + json.dumps({"error": exc.kind, "path": exc.path, "detail": exc.detail}).encode())
        stdout.flush()
        return 2
    stdout.write(json.dumps(result, separators=(",", ":")).encode())
    stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
