"""Moving files through the gateway: inputs up to a new upload, dataset files down, both verified.

Uploads send each file's sha256 in ``X-Content-SHA256``: the gateway keeps nothing that
differs from what was read here. Downloads stream each file to ``<dest>/.<name>.part`` while
hashing it, compare the sha256 the gateway recorded at stage-out, and only then rename it
into place: a copy that does not match is removed and ``ChecksumMismatch`` raised.

Progress is reported to an optional ``TransferProgress`` (the CLI draws a rich bar with it;
a notebook may wrap tqdm), never printed from here.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol
from urllib.parse import quote
from uuid import UUID

from myriagate.client.inputs import InputFile
from myriagate.client.transport import Transport
from myriagate.domain.staging import relative_path
from myriagate.errors import BackendError, ChecksumMismatch
from myriagate.web.api.staging_schemas import DatasetFileOut, UploadCreated, UploadFileOut

CHUNK = 1 << 20


class TransferProgress(Protocol):
    """Told when a phase starts (with its size in bytes) and as bytes go by."""

    def start(self, label: str, total_bytes: int) -> None: ...

    def advance(self, nbytes: int) -> None: ...


class NoProgress:
    """The default: nothing to tell."""

    def start(self, label: str, total_bytes: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass


def sha256_of(path: Path, on_bytes: Callable[[int], object] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
    return digest.hexdigest()


def _chunks(path: Path, progress: TransferProgress) -> Iterator[bytes]:
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            progress.advance(len(chunk))
            yield chunk


def upload_files(
    transport: Transport, files: Sequence[InputFile], progress: TransferProgress | None = None
) -> UUID:
    """A new upload holding ``files``; its id for a submission's ``staging.upload_id``."""
    progress = progress or NoProgress()
    created = transport._model(UploadCreated, transport.request("POST", "/uploads"))
    total = sum(f.size_bytes for f in files)
    progress.start("checksums", total)
    digests = [sha256_of(f.local, progress.advance) for f in files]
    progress.start(f"upload of {len(files)} file(s)", total)
    for item, digest in zip(files, digests, strict=True):
        response = transport.send_body(
            "PUT",
            f"/uploads/{created.id}/files/{quote(item.remote)}",
            content=_chunks(item.local, progress),
            headers={"X-Content-SHA256": digest, "Content-Type": "application/octet-stream"},
        )
        stored = transport._model(UploadFileOut, response)
        if stored.sha256 != digest:  # the server verified it too; this guards a confused proxy
            raise BackendError(f"{item.remote}: the gateway stored sha256 {stored.sha256}, not {digest}")
    return created.id


def download_file(
    transport: Transport,
    dataset_id: UUID,
    item: DatasetFileOut,
    dest: Path,
    progress: TransferProgress | None = None,
) -> Path:
    """``item`` of the dataset written under ``dest`` (never outside it) once its sha256 matched."""
    progress = progress or NoProgress()
    rel = relative_path(item.path, "dataset file")  # never write outside dest, whatever the server says
    target = dest / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.part"
    digest = hashlib.sha256()
    try:
        url = f"/datasets/{dataset_id}/files/{quote(rel)}"
        with transport.stream(url) as response, partial.open("wb") as handle:
            for chunk in response.iter_bytes(CHUNK):
                digest.update(chunk)
                handle.write(chunk)
                progress.advance(len(chunk))
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if digest.hexdigest() != item.sha256:
        partial.unlink(missing_ok=True)
        raise ChecksumMismatch(
            f"{rel}: received sha256 {digest.hexdigest()}, the dataset records {item.sha256}"
        )
    os.replace(partial, target)
    return target
