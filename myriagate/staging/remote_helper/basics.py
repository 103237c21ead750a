"""What every part of the far-side program shares: its error, hashing, names and small file rules.

Standard library of Python >= 3.7 only (see the package docstring): this text is shipped.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import time

# Imports cost the far side at every start (a resync's ``list`` is mostly start-up): typing
# is for annotations only, hashlib is imported when something is hashed (``new_sha256``).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import hashlib

RESERVED = ".myriagate"
CHUNK = 1 << 20
HASH_CHUNK = 1 << 20
# While the far side works without a byte to send (hashing, walking a large tree), it writes a
# newline on stderr this often: the gateway ends a session silent for longer than its stall
# limit (staging.session_watch). Only the far side beats: ``start_beating`` sets the descriptor.
_BEAT_S = 5.0
_beat = {"fd": -1, "at": 0.0}


def start_beating(fd: int) -> None:
    """From now on, ``beat`` writes its newline on ``fd`` (the far side's stderr)."""
    _beat["fd"] = fd


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


def new_sha256(data: bytes = b"") -> hashlib._Hash:
    import hashlib  # lazily, see the imports

    return hashlib.sha256(data)


def partial_key(path: str) -> str:
    """The partial file's name for a relative path: stable across attempts, safe characters only."""
    return new_sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:40]


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
    h = new_sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    buf = bytearray(HASH_CHUNK)
    view = memoryview(buf)
    while True:
        n = os.readv(fd, [buf])
        if not n:
            break
        h.update(view[:n])
        beat()
    return h.hexdigest()


def check_rel(rel: str) -> None:
    parts = rel.split("/")
    # ``in`` on the list, not a generator: a resync checks 10,000 names (a leading "/" gives "").
    if "" in parts or "." in parts or ".." in parts or parts[0] == RESERVED:
        raise HelperError("unsafe", rel, "not a relative path inside the root")


def refuse_shared(fd: int, what: str) -> None:
    """Never write into a file that is also another name (a hard link planted elsewhere)."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
        os.close(fd)
        raise HelperError("unsafe", what, "has other hard links or is not a regular file: not written into")


def write_new(dir_fd: int, name: str, text: str) -> None:
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
