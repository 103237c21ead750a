"""A local file uploaded into a cluster file area (docs/files.md): streamed, verified, resumed.

The file's sha256 is computed here first and announced, so the cluster checks what it
received before the file is placed (nothing is placed otherwise). The bytes go in one
``PATCH`` read from disk as they are sent (memory stays flat); when the connection drops the
upload is asked where it stands and continued from there, a few times. The upload's id is kept
in ``$XDG_STATE_HOME/myriagate/uploads/`` until it completes, so running the same upload again
(same file, unchanged, same target) resumes it instead of starting over.

Usable from scripts: ``upload_file(client, "scratch", "run1/in.h5", Path("in.h5"))``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from myriagate.client.errors import GatewayUnreachable
from myriagate.client.files import FileCalls
from myriagate.client.transfers import CHUNK, NoProgress, TransferProgress, sha256_of
from myriagate.errors import BackendError, InvalidRequest, MyriagateError
from myriagate.web.api.file_upload_schemas import FileUploadOut

RETRIES = 3


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where unfinished uploads' ids are kept (XDG base directory rules)."""
    env = os.environ if env is None else env
    base = env.get("XDG_STATE_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "myriagate" / "uploads"


def _state_file(client: FileCalls, cluster: str, area: str, path: str, local: Path, sha256: str) -> Path:
    info = local.stat()
    key = json.dumps([client.base_url, cluster, area, path, str(local.resolve()), info.st_size, sha256])
    return state_dir() / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")


def _remember(state: Path, upload_id: str) -> None:
    state.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = state.with_suffix(".tmp")
    tmp.write_text(json.dumps({"id": upload_id}))
    os.replace(tmp, state)


def _recalled(state: Path) -> str | None:
    try:
        found = json.loads(state.read_text()).get("id")
    except (OSError, ValueError, AttributeError):
        return None
    return found if isinstance(found, str) else None


def _body(handle: BinaryIO, offset: int, progress: TransferProgress) -> Iterator[bytes]:
    handle.seek(offset)
    while chunk := handle.read(CHUNK):
        progress.advance(len(chunk))
        yield chunk


class _Upload:
    """One upload's calls: its URL, and where the cluster stands."""

    def __init__(self, client: FileCalls, cluster: str, area: str) -> None:
        self.client = client
        self.base = f"/clusters/{quote(cluster, safe='')}/files/{quote(area, safe='')}/uploads"

    def begin(self, path: str, size: int, sha256: str, overwrite: bool) -> FileUploadOut:
        body = {"path": path, "size_bytes": size, "sha256": sha256, "overwrite": overwrite}
        return self.client._model(FileUploadOut, self.client.request("POST", self.base, json=body))

    def status(self, upload_id: str) -> FileUploadOut:
        return self.client._model(FileUploadOut, self.client.request("GET", f"{self.base}/{upload_id}"))

    def send(
        self, upload_id: str, handle: BinaryIO, offset: int, size: int, progress: TransferProgress
    ) -> FileUploadOut:
        headers = {
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
            "Content-Length": str(size - offset),
        }
        response = self.client.send_body(
            "PATCH", f"{self.base}/{upload_id}", content=_body(handle, offset, progress), headers=headers
        )
        return self.client._model(FileUploadOut, response)


def _resumable(upload: _Upload, state: Path) -> FileUploadOut | None:
    """The unfinished upload recorded in ``state``, when the gateway still knows it."""
    upload_id = _recalled(state)
    if upload_id is None:
        return None
    try:
        return upload.status(upload_id)
    except MyriagateError as exc:
        if getattr(exc, "http_status", None) in (404, 422):  # finished, cancelled or expired
            state.unlink(missing_ok=True)
            return None
        raise


def upload_file(
    client: FileCalls,
    area: str,
    path: str,
    local: Path | str,
    *,
    cluster: str | None = None,
    overwrite: bool = False,
    progress: TransferProgress | None = None,
    label: str | None = None,
) -> FileUploadOut:
    """``local`` written to ``area:path`` on the cluster once whole and checked; the upload as
    placed (``complete``, its ``sha256`` and ``file``). See the module's docstring."""
    progress = progress or NoProgress()
    source = Path(local)
    if not source.is_file():
        raise InvalidRequest(f"{source} is not a regular file: nothing to upload")
    size = source.stat().st_size
    progress.start(f"checksum of {source.name}", size)
    digest = sha256_of(source, progress.advance)
    where = cluster or client.default_cluster()
    upload = _Upload(client, where, area)
    state = _state_file(client, where, area, path, source, digest)
    current = _resumable(upload, state) or upload.begin(path, size, digest, overwrite)
    _remember(state, current.id)
    progress.start(label or f"{area}:{path}", size)
    with source.open("rb") as handle:
        for attempt in range(RETRIES + 1):
            progress.advance(current.offset)
            try:
                current = upload.send(current.id, handle, current.offset, size, progress)
            except GatewayUnreachable:
                if attempt == RETRIES:
                    raise
                progress.start(label or f"{area}:{path}", size)
                current = upload.status(current.id)  # where the cluster stands: go on from there
                continue
            except MyriagateError as exc:
                offset = exc.extensions.get("offset")
                if exc.code == "upload_offset_mismatch" and isinstance(offset, int) and attempt < RETRIES:
                    current = current.model_copy(update={"offset": offset})  # the cluster's word wins
                    progress.start(label or f"{area}:{path}", size)
                    continue
                if not exc.transient:
                    state.unlink(missing_ok=True)  # refused for good: the next run starts afresh
                raise
            if current.complete:
                break
            current = upload.status(current.id)  # the body was cut short: go on from what arrived
    state.unlink(missing_ok=True)
    if not current.complete or current.sha256 != digest:
        raise BackendError(f"{area}:{path}: the gateway did not confirm the whole file (sha256 {digest})")
    return current
