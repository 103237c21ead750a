"""Uploads: input files streamed to the gateway's spool, waiting for the job that uses them.

A file is written under a temporary name while its sha256 is computed on the fly, then
renamed into place; memory stays bounded whatever its size. An upload belongs to one user
and feeds one job; its files leave the spool once that job's stage-in is verified.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.orm import Session

from myriagate.db.models.staging import Upload, UploadFile
from myriagate.db.models.users import User
from myriagate.db.repos import staging as staging_repo
from myriagate.domain.staging import storable_path
from myriagate.errors import ChecksumMismatch, Conflict, InvalidRequest, NotFound, Text
from myriagate.services.common import audit

_SHA256_HEX = frozenset("0123456789abcdef")


def upload_dir(spool_dir: Path, upload_id: uuid.UUID) -> Path:
    return spool_dir / "uploads" / str(upload_id)


def files_dir(spool_dir: Path, upload_id: uuid.UUID) -> Path:
    return upload_dir(spool_dir, upload_id) / "files"


def create_upload(session: Session, *, user: User, at: datetime, source: str = "api") -> Upload:
    upload = Upload(id=uuid.uuid4(), user_id=user.id, created_at=at)
    session.add(upload)
    audit.record(session, user.id, "upload.create", ("upload", upload.id), {}, source, at=at)
    session.commit()
    return upload


def get_own_upload(session: Session, upload_id: uuid.UUID, user: User) -> Upload:
    """The user's upload; someone else's answers NotFound, like one that does not exist."""
    upload = staging_repo.get_upload(session, upload_id)
    if upload is None or upload.user_id != user.id:
        raise NotFound(Text("no upload %(upload)s", upload=upload_id))
    return upload


class SpoolWriter:
    """Writes one incoming file to a temporary name, hashing and counting as it goes."""

    def __init__(self, final: Path, *, max_bytes: int) -> None:
        self.final = final
        self._max_bytes = max_bytes
        final.parent.mkdir(parents=True, exist_ok=True)
        # Not derived from the name, which may be 255 bytes long already (the file system's limit).
        self.partial = final.parent / f".upload-{uuid.uuid4().hex}.part"
        self._file: BinaryIO = self.partial.open("wb")
        self._hash = hashlib.sha256()
        self.size_bytes = 0

    def write(self, chunk: bytes) -> None:
        self.size_bytes += len(chunk)
        if self.size_bytes > self._max_bytes:
            self.abort()
            raise InvalidRequest(
                Text("file is larger than the %(max_bytes)s bytes allowed", max_bytes=self._max_bytes)
            )
        self._hash.update(chunk)
        self._file.write(chunk)

    def finish(self, expected_sha256: str | None) -> str:
        """Close, check the client's checksum if it sent one, rename into place; the sha256."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        digest = self._hash.hexdigest()
        if expected_sha256 is not None and expected_sha256 != digest:
            self.partial.unlink(missing_ok=True)
            raise ChecksumMismatch(
                Text(
                    "%(file)s: received data has sha256 %(digest)s, the client announced %(expected_sha256)s",
                    file=self.final.name,
                    digest=digest,
                    expected_sha256=expected_sha256,
                )
            )
        self.partial.replace(self.final)
        return digest

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        self.partial.unlink(missing_ok=True)


def open_file(
    session: Session,
    *,
    upload_id: uuid.UUID,
    path: str,
    user: User,
    spool_dir: Path,
    max_bytes: int,
    expected_sha256: str | None = None,
) -> tuple[SpoolWriter, str]:
    """Check the upload and the path, and open a writer for it; (writer, normalised path)."""
    upload = staging_repo.get_upload_row(session, upload_id)
    if upload is None or upload.user_id != user.id:
        raise NotFound(Text("no upload %(upload)s", upload=upload_id))
    if upload.job_id is not None:
        raise Conflict(
            Text("upload %(upload)s already belongs to a job; create a new upload", upload=upload_id)
        )
    clean = storable_path(path, "file path")  # before anything is written: no spool file, no row
    if expected_sha256 is not None and (len(expected_sha256) != 64 or set(expected_sha256) - _SHA256_HEX):
        raise InvalidRequest("the announced sha256 must be 64 lowercase hexadecimal characters")
    root = files_dir(spool_dir, upload_id)
    final = root / clean
    # A file cannot also be a directory of another uploaded path ("a" and "a/b").
    clash = staging_repo.upload_path_clash(session, upload_id, clean)
    if clash is not None:
        raise InvalidRequest(
            Text("%(clean)s clashes with the uploaded %(clash)s", clean=repr(clean), clash=repr(clash))
        )
    return SpoolWriter(final, max_bytes=max_bytes), clean


def record_file(
    session: Session, *, upload_id: uuid.UUID, path: str, size_bytes: int, sha256: str
) -> UploadFile:
    """Record (or replace) a received file of the upload."""
    upload = staging_repo.get_upload_row(session, upload_id)
    if upload is None:
        raise NotFound(Text("no upload %(upload)s", upload=upload_id))
    existing = staging_repo.upload_file(session, upload_id, path)
    if existing is None:
        existing = UploadFile(upload_id=upload_id, path=path, size_bytes=size_bytes, sha256=sha256)
        session.add(existing)
    else:
        existing.size_bytes, existing.sha256 = size_bytes, sha256
    session.commit()
    session.expire(upload, ["files"])  # a list read earlier in this session is reloaded when next used
    return existing


def delete_upload(session: Session, *, upload_id: uuid.UUID, user: User, spool_dir: Path) -> None:
    upload = get_own_upload(session, upload_id, user)
    if upload.job_id is not None:
        raise Conflict(
            Text(
                "upload %(upload)s belongs to job %(job)s; it is removed with its stage-in",
                upload=upload_id,
                job=upload.job_id,
            )
        )
    session.delete(upload)
    session.commit()
    shutil.rmtree(upload_dir(spool_dir, upload_id), ignore_errors=True)


def discard_spool(spool_dir: Path, upload_id: uuid.UUID) -> None:
    """Remove the upload's files from the spool (after its job's stage-in was verified)."""
    shutil.rmtree(upload_dir(spool_dir, upload_id), ignore_errors=True)


def purge_stale(session: Session, *, spool_dir: Path, older_than: datetime, limit: int = 500) -> int:
    """Remove uploads no job took, created before ``older_than``: rows and spool files."""
    stale = staging_repo.stale_uploads(session, older_than, limit)
    ids = [upload.id for upload in stale]
    for upload in stale:
        session.delete(upload)
    session.commit()
    for upload_id in ids:
        shutil.rmtree(upload_dir(spool_dir, upload_id), ignore_errors=True)
    return len(ids)
