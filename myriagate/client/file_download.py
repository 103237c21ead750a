"""A cluster file streamed to a local path: resumable, size-checked, never outside its place.

The bytes go to ``.<name>.part`` beside the target as they arrive (memory stays flat whatever
the size), and the file's ``ETag`` to ``.<name>.part.etag``. When a transfer stops partway the
partial copy is kept; the next call asks for the rest (``Range: bytes=<have>-``) with
``If-Range: <etag>``, so the gateway sends the rest only while the file is the one the first
bytes came from, and the whole file again (200) otherwise. The size received is checked
against what the gateway announced before the copy is renamed into place.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from myriagate.client.errors import GatewayUnreachable
from myriagate.client.transfers import NoProgress, TransferProgress
from myriagate.client.transport import Transport
from myriagate.errors import AlreadyExists, BackendError, MyriagateError, StagingError, UnsafeValue

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f/\\]")


def local_name(name: str) -> str:
    """A name from the gateway, as a file name here; anything that could land elsewhere than
    in the chosen directory ('..', '/', a backslash, a control character) is refused."""
    if name in ("", ".", "..") or _UNSAFE_CHARS.search(name):
        raise UnsafeValue(
            f"refusing to write a file named {name!r} from the gateway: not a plain file name "
            "(it could land outside the destination)"
        )
    return name


def partial_paths(target: Path) -> tuple[Path, Path]:
    """Where the bytes and the ETag of an unfinished download of ``target`` are kept."""
    part = target.parent / f".{target.name}.part"
    return part, part.parent / f"{part.name}.etag"


def _resume_point(part: Path, tag: Path) -> tuple[int, str | None]:
    """The partial copy's size and the ETag its bytes came with; (0, None) to start afresh."""
    try:
        info = part.lstat()
        etag = tag.read_text().strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return 0, None
    if not stat.S_ISREG(info.st_mode) or not info.st_size or not etag:
        return 0, None
    return info.st_size, etag


def _span(response: httpx.Response, offset: int) -> tuple[int, int]:
    """Where the body starts in the file and the file's whole size, from the answer's headers."""
    if response.status_code == 206:
        found = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", ""))
        if found is None or int(found[1]) != offset:
            raise BackendError(
                f"asked for the bytes from {offset}, got {response.headers.get('content-range')!r}"
            )
        return offset, int(found[3])
    length = response.headers.get("content-length", "")
    if not length.isdigit():
        raise BackendError("the gateway sent the file without its size: it cannot be checked")
    return 0, int(length)


def _open_part(part: Path, *, append: bool) -> int:
    # O_NOFOLLOW: a link planted at the partial copy's name is not written through.
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    return os.open(part, flags | (os.O_APPEND if append else os.O_TRUNC), 0o600)


def _receive(
    transport: Transport,
    url: str,
    params: Mapping[str, Any],
    part: Path,
    tag: Path,
    label: str,
    progress: TransferProgress,
) -> int:
    """Stream the file (or its rest) into ``part``; the whole file's size."""
    offset, etag = _resume_point(part, tag)
    headers = {"Range": f"bytes={offset}-", "If-Range": etag} if offset and etag else {}
    received = 0
    try:
        with transport.stream(url, params=params, headers=headers) as response:
            start, size = _span(response, offset)
            new_etag = response.headers.get("etag")
            if start == 0:  # a fresh copy: the ETag its bytes will be resumed against, if any
                tag.unlink(missing_ok=True)
            with os.fdopen(_open_part(part, append=start > 0), "wb") as out:
                if start == 0 and new_etag and response.headers.get("accept-ranges") == "bytes":
                    tag.write_text(new_etag)
                progress.start(label, size)
                progress.advance(start)
                for chunk in response.iter_bytes():  # as they arrive: a cut keeps what came
                    out.write(chunk)
                    received += len(chunk)
                    progress.advance(len(chunk))
    except GatewayUnreachable as exc:
        if not received:
            raise
        kept = part.lstat().st_size
        raise StagingError(
            f"{label}: the download stopped after {kept} bytes ({exc.detail}); the part received "
            f"is kept in {part}: run the same download again to resume it"
        ) from exc
    return size


def fetch(
    transport: Transport,
    url: str,
    params: Mapping[str, Any],
    target: Path,
    *,
    label: str,
    progress: TransferProgress | None = None,
    overwrite: bool = False,
) -> Path:
    """The file at ``url`` written to ``target`` (see the module's docstring)."""
    progress = progress or NoProgress()
    if target.is_dir():
        raise AlreadyExists(f"{target} is a directory: not replaced by {label}")
    if os.path.lexists(target) and not overwrite:
        raise AlreadyExists(f"{target} already exists: not overwritten (use --force to replace it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    part, tag = partial_paths(target)
    try:
        size = _receive(transport, url, params, part, tag, label, progress)
    except MyriagateError as exc:
        if getattr(exc, "http_status", None) != 416:
            raise
        # Asked for the bytes past what the file now holds (it changed, or we had them all):
        # start afresh, once.
        part.unlink(missing_ok=True)
        tag.unlink(missing_ok=True)
        size = _receive(transport, url, params, part, tag, label, progress)
    have = part.lstat().st_size
    if have != size:
        part.unlink(missing_ok=True)
        tag.unlink(missing_ok=True)
        raise StagingError(f"{label}: received {have} bytes where the file holds {size}; nothing was kept")
    if os.path.lexists(target) and not overwrite:  # appeared while the bytes were coming
        raise AlreadyExists(f"{target} already exists: not overwritten (use --force to replace it)")
    os.replace(part, target)
    tag.unlink(missing_ok=True)
    return target


def copy_to(transport: Transport, url: str, params: Mapping[str, Any], out: BinaryIO, *, label: str) -> int:
    """The file at ``url`` written to ``out`` as it arrives (``files get FILE -``: stdout); its
    size. Nothing to resume into: a short copy raises StagingError after what came was written."""
    received = 0
    with transport.stream(url, params=params) as response:
        _, size = _span(response, 0)
        for chunk in response.iter_bytes():
            out.write(chunk)
            received += len(chunk)
    out.flush()
    if received != size:
        raise StagingError(f"{label}: received {received} bytes where the file holds {size}")
    return size
