"""The bytes of a transfer: the framed stream the gateway writes (upload) or reads (download).

Upload: one JSON header line ``{"batch": token, "files": [[key, offset, length, mtime], ...]}``, then
each file's bytes from its offset, in order; large files go from the page cache to the ssh pipe
with ``sendfile`` (no copy through Python), small ones are read once, hashed and batched into
1 MiB writes. The
sources' sha256 are computed meanwhile on a second thread, so hashing overlaps the transfer.

Download: the far side writes ``F <size> <offset> <mtime_ns>\\n`` + bytes + ``H <sha256>\\n``
per file (see ``remote_helper.op_send``); the gateway writes them into partial files.
Memory stays bounded by the 1 MiB buffers whatever the file sizes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from myriagate.errors import StagingError, Text
from myriagate.ports import TransferProgress
from myriagate.staging.checksums import HashCache, LocalSource
from myriagate.staging.remote_helper import Tree, partial_key

CHUNK = 1 << 20
_INLINE_MAX = CHUNK  # files up to this size are read once and hashed from the same buffer


@dataclass(frozen=True)
class Outgoing:
    source: LocalSource
    offset: int  # bytes already at the destination (resume)

    @property
    def key(self) -> str:
        return partial_key(self.source.path)

    @property
    def length(self) -> int:
        return self.source.size - self.offset


WaitWritable = Callable[[int], None]


def _write_all(fd: int, data: bytes | bytearray | memoryview, wait: WaitWritable | None = None) -> None:
    """All of ``data``; on a non-blocking ``fd``, ``wait`` is called when the pipe is full (and
    raises BrokenPipeError when the reader is gone for good)."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            if wait is None:
                raise
            wait(fd)


# Header and trailer lines of the download stream are short; a longer one is not ours.
_MAX_LINE = 256


class _Meter:
    """Counts bytes and calls the progress callback at most every 4 MiB (and at the end);
    ``activity`` (the session's watch) hears of every chunk."""

    def __init__(
        self,
        progress: TransferProgress | None,
        total: int,
        done: int = 0,
        activity: Callable[[], None] | None = None,
    ) -> None:
        self.progress, self.total, self.done, self._last = progress, total, done, done
        self.activity = activity

    def add(self, n: int) -> None:
        if self.activity is not None:
            self.activity()
        self.done += n
        if self.progress is not None and self.done - self._last >= 4 * CHUNK:
            self._last = self.done
            self.progress(self.done, self.total)

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total)


def send_files(
    fd: int,
    items: Sequence[Outgoing],
    cache: HashCache,
    progress: TransferProgress | None,
    batch_token: str,
    *,
    activity: Callable[[], None] | None = None,
    wait_writable: WaitWritable | None = None,
) -> tuple[int, dict[str, str]]:
    """Write the upload stream to ``fd``; returns (bytes sent, sha256 by path).

    ``batch_token`` names the far side's record of what it hashed while writing (``commit`` reads
    it). Raises BrokenPipeError when the far side went away (the caller decides what it means).
    With ``wait_writable``, ``fd`` may be non-blocking (``session_watch``).
    """
    meter = _Meter(progress, sum(i.length for i in items), activity=activity)
    header = {"batch": batch_token, "files": [[i.key, i.offset, i.length, i.source.mtime_ns] for i in items]}
    wait = wait_writable
    _write_all(fd, json.dumps(header).encode() + b"\n", wait)
    shas: dict[str, str] = {}
    pending: dict[str, Future[str]] = {}
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mg-hash") as hasher:
        for item in items:
            cached = cache.get(item.source)
            if cached is not None:
                shas[item.source.path] = cached
            elif item.offset or item.source.size > _INLINE_MAX:
                pending[item.source.path] = hasher.submit(cache.sha, item.source)
        batch = bytearray()
        for item in items:
            src = item.source
            with open(src.real, "rb") as f:
                if src.path in shas or src.path in pending:
                    if batch:
                        _write_all(fd, batch, wait)
                        batch.clear()
                    _sendfile_all(fd, f.fileno(), item.offset, item.length, meter, wait)
                else:
                    data = f.read(src.size + 1)
                    if len(data) != src.size:
                        raise StagingError(
                            f"{src.path!r} changed size while it was being sent", transient=True
                        )
                    cache.put(src, shas.setdefault(src.path, hashlib.sha256(data).hexdigest()))
                    batch += data
                    meter.add(len(data))
                    if len(batch) >= CHUNK:
                        _write_all(fd, batch, wait)
                        batch.clear()
        if batch:
            _write_all(fd, batch, wait)
        for path, future in pending.items():
            shas[path] = future.result()
    meter.finish()
    return meter.done, shas


def _sendfile_all(
    out_fd: int, in_fd: int, offset: int, length: int, meter: _Meter, wait: WaitWritable | None = None
) -> None:
    end = offset + length
    while offset < end:
        try:
            sent = os.sendfile(out_fd, in_fd, offset, min(8 * CHUNK, end - offset))
        except BlockingIOError:
            if wait is None:
                raise
            wait(out_fd)
            continue
        if sent == 0:
            raise StagingError(Text("a source file shrank while it was being sent"), transient=True)
        offset += sent
        meter.add(sent)


@dataclass(frozen=True)
class Received:
    path: str
    size: int
    mtime_ns: int
    sha256: str  # computed by the sender over the whole file


def receive_files(
    reader: io.BufferedIOBase,
    tree: Tree,
    items: Sequence[tuple[str, int]],
    progress: TransferProgress | None,
    total: int,
    *,
    activity: Callable[[], None] | None = None,
) -> list[Received]:
    """Read the download stream for ``items`` (path, offset) into ``tree``'s partial files.
    Lines are read at most ``_MAX_LINE`` bytes at a time: whatever precedes the stream (a
    login's start-up files printing) cannot make one line hold the whole of it."""
    meter = _Meter(progress, total, activity=activity)
    out = []
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    for path, _ in items:
        header = reader.readline(_MAX_LINE)
        while header == b"\n":  # the helper separates an error report with a blank line
            header = reader.readline(_MAX_LINE)
        if not header.startswith(b"F "):
            raise StreamEnded(header)
        size_s, offset_s, mtime_s = header[2:].split()
        size, offset = int(size_s), int(offset_s)
        _, fd = tree.open_partial(partial_key(path))
        try:
            os.ftruncate(fd, offset)
            os.lseek(fd, offset, os.SEEK_SET)
            left = size - offset
            while left:
                n = reader.readinto(view[: min(CHUNK, left)])
                if not n:
                    raise StreamEnded(b"")
                _write_all(fd, view[:n])
                left -= n
                meter.add(n)
        finally:
            os.close(fd)
        trailer = reader.readline(_MAX_LINE)
        if not trailer.startswith(b"H "):
            raise StreamEnded(trailer)
        out.append(Received(path, size, int(mtime_s), trailer[2:].strip().decode()))
    meter.finish()
    return out


class StreamEnded(Exception):
    """The download stream stopped early: the caller reads the helper's report or exit code."""

    def __init__(self, seen: bytes) -> None:
        super().__init__(seen[:200].decode("utf-8", "replace"))
        self.seen = seen
