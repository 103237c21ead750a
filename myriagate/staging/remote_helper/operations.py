"""The far side's operations (``list``, ``recv``, ``commit``, ``send``, ``scan``) and its ``main``.

Standard library of Python >= 3.7 only (see the package docstring): this text is shipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import stat
import sys

from myriagate.staging.remote_helper.basics import (
    CHUNK,
    HASH_CHUNK,
    RESERVED,
    HelperError,
    beat,
    glob_regex,
    new_sha256,
    os_error_kind,
    partial_key,
    sha256_fd,
    start_beating,
    stat_key,
    write_new,
)
from myriagate.staging.remote_helper.tree import Tree

TYPE_CHECKING = False
if TYPE_CHECKING:
    import hashlib
    from typing import IO, Any


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


def _read_exact_into(stream: IO[bytes], fd: int, length: int, digest: hashlib._Hash) -> int:
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


def _hash_prefix(fd: int, offset: int) -> hashlib._Hash:
    """sha256 object fed with the first ``offset`` bytes already in the file (resume)."""
    h = new_sha256()
    pos = 0
    while pos < offset:
        chunk = os.pread(fd, min(HASH_CHUNK, offset - pos), pos)
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
                digest = _hash_prefix(fd, offset) if offset else new_sha256()
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
            write_new(tree.partial_root(), batch, json.dumps(hashed, separators=(",", ":")))
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
            h = new_sha256()
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
    """Regular files matching the patterns, never following symlinks; sha256 from the manifest
    when still valid, else computed here. What matched but is not a regular file (a link, to a
    file or a directory; a fifo, a socket, a device) is named in ``skipped`` with its kind,
    ``link`` or ``special``, so the researcher learns it was not stored."""
    regexes = [glob_regex(p) for p in req["patterns"]]
    # A --chdir the researcher chose is shared with whatever else ran there: only the files
    # changed after the job started are its results.
    newer_than = req.get("newer_than_ns")
    manifest = tree.read_manifest()
    found: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for dirpath, dirnames, filenames, dir_fd in os.fwalk(".", dir_fd=tree.root_fd, follow_symlinks=False):
        beat()
        reldir = "" if dirpath == "." else dirpath[2:]
        if not reldir:
            dirnames[:] = [d for d in dirnames if d != RESERVED]
        for name in dirnames:  # fwalk lists a link to a directory here and never enters it
            rel = reldir + "/" + name if reldir else name
            if any(r.match(rel) for r in regexes):
                try:
                    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                except OSError:
                    continue  # gone since it was listed
                if stat.S_ISLNK(st.st_mode) and (newer_than is None or st.st_mtime_ns > newer_than):
                    skipped.append({"path": rel, "kind": "link"})
        for name in filenames:
            rel = reldir + "/" + name if reldir else name
            if not any(r.match(rel) for r in regexes):
                continue
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                if newer_than is not None and st.st_mtime_ns <= newer_than:
                    continue
                if not stat.S_ISREG(st.st_mode):  # never followed, never read
                    skipped.append({"path": rel, "kind": "link" if stat.S_ISLNK(st.st_mode) else "special"})
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
    skipped.sort(key=lambda f: f["path"])
    return {"files": found, "skipped": skipped}


def main(argv: list[str]) -> int:
    op, root = argv[0], argv[1]
    anchor = argv[2] if len(argv) > 2 else ""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    start_beating(2)
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
