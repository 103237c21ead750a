"""The data staging part of the submit page: where results may go, input files posted by a
plain form, and the plan shown with the estimate.

With JavaScript, the page sends input files through the API's upload endpoints (with a
progress bar) and the form carries only the upload id. Without it, the files arrive as parts
of the multipart form: each is copied into the upload service in chunks (Starlette has
already spooled it to a temporary file; it is never read whole into memory).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from myriagate.errors import FieldError, InvalidRequest, NotFound
from myriagate.profiles.models import ClusterProfile, Storage
from myriagate.services.people.auth import User
from myriagate.services.staging import uploads

INPUT_FIELDS = ("inputs", "inputs_dir")  # the file picker and the directory picker
CHUNK_BYTES = 1 << 20
MAX_LISTED_NAMES = 1000  # names of files the browser has not sent yet (live estimate)


@dataclass(frozen=True)
class StoreChoice:
    """A storage endpoint as the select shows it; ``allowed`` is the residency rule's answer."""

    name: str
    site: str
    region: str
    operator: str
    allowed: bool

    @property
    def display(self) -> str:
        return f"{self.site}, {self.region}"


def store_choice(storage: Storage, allowed_regions: Sequence[str]) -> StoreChoice:
    return StoreChoice(storage.name, storage.site, storage.region, storage.operator,
                       storage.region in allowed_regions)  # fmt: skip


def store_choices(profile: ClusterProfile, allowed_regions: Sequence[str]) -> list[StoreChoice]:
    """The cluster's endpoints, allowed ones first (the first allowed one is the default)."""
    choices = [store_choice(s, allowed_regions) for s in profile.storage]
    return sorted(choices, key=lambda c: not c.allowed)


def output_patterns(text: str) -> list[str]:
    """One pattern per line; blank lines and surrounding spaces are not patterns."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def posted_files(form: FormData) -> list[UploadFile]:
    """The file parts a browser actually filled (an empty picker sends a part with no name)."""
    return [
        part
        for name in INPUT_FIELDS
        for part in form.getlist(name)
        if isinstance(part, UploadFile) and part.filename
    ]


def _usable_upload(db: Session, upload_id: str, user: User, at: datetime) -> uuid.UUID:
    """The form's upload if it is still the user's and unused, else a new one."""
    if upload_id:
        try:
            found = uploads.get_own_upload(db, uuid.UUID(upload_id), user)
        except (ValueError, NotFound):
            pass
        else:
            if found.job_id is None:
                return found.id
    return uploads.create_upload(db, user=user, at=at, source="web").id


def _copy(source: BinaryIO, writer: uploads.SpoolWriter) -> None:
    source.seek(0)
    while chunk := source.read(CHUNK_BYTES):
        writer.write(chunk)


def save_posted_files(
    db: Session,
    *,
    parts: list[UploadFile],
    upload_id: str,
    user: User,
    spool_dir: Path,
    max_bytes: int,
    at: datetime,
) -> str:
    """Copy the posted files into an upload of the user's (the form's, or a new one); its id.

    Each file's name is its path in the job's directory (a directory picker sends
    ``dir/sub/file``); the upload service refuses unsafe paths before a byte is written.
    """
    target = _usable_upload(db, upload_id, user, at)
    for part in parts:
        name = part.filename or ""
        try:
            writer, clean = uploads.open_file(
                db, upload_id=target, path=name, user=user, spool_dir=spool_dir, max_bytes=max_bytes
            )
            try:
                _copy(part.file, writer)
                digest = writer.finish(None)
            except BaseException:
                writer.abort()
                raise
        except InvalidRequest as exc:
            raise InvalidRequest(exc.detail, fields=[FieldError(("inputs",), exc.detail)]) from None
        uploads.record_file(db, upload_id=target, path=clean, size_bytes=writer.size_bytes, sha256=digest)
    return str(target)


# --- the plan shown with the estimate --------------------------------------------------
@dataclass(frozen=True)
class PlannedFile:
    path: str
    size_bytes: int | None
    sha256: str | None  # known once the gateway has the file


@dataclass(frozen=True)
class StagingPreview:
    """What the job would stage: files copied in, patterns copied out, and where to."""

    inputs: list[PlannedFile]
    patterns: list[str]
    store: StoreChoice | None

    @property
    def empty(self) -> bool:
        return not (self.inputs or self.patterns)


async def listed_names(request: Request) -> list[PlannedFile]:
    """Files chosen in the browser but not sent yet (the live estimate sends their names)."""
    form = await request.form()
    names = [v for v in form.getlist("input_name") if isinstance(v, str)][:MAX_LISTED_NAMES]
    sizes = [v for v in form.getlist("input_size") if isinstance(v, str)]
    listed: list[PlannedFile] = []
    for index, name in enumerate(names):
        raw = sizes[index] if index < len(sizes) else ""
        listed.append(PlannedFile(name[:1024], int(raw) if raw.isdigit() else None, None))
    return listed


def staging_preview(
    db: Session,
    *,
    user: User,
    profile: ClusterProfile,
    allowed_regions: Sequence[str],
    upload_id: str,
    patterns: list[str],
    store: str,
    listed: Sequence[PlannedFile] = (),
) -> StagingPreview:
    """The plan of a form that passed the checks (the upload is the user's own)."""
    inputs: list[PlannedFile] = []
    if upload_id:
        try:
            upload = uploads.get_own_upload(db, uuid.UUID(upload_id), user)
        except (ValueError, NotFound):
            upload = None
        if upload is not None:
            inputs = [PlannedFile(f.path, f.size_bytes, f.sha256) for f in upload.files]
    known = {f.path for f in inputs}
    inputs += [f for f in listed if f.path not in known]
    endpoint = profile.storage_endpoint(store) if store and patterns else None
    chosen = store_choice(endpoint, allowed_regions) if endpoint is not None else None
    return StagingPreview(inputs=sorted(inputs, key=lambda f: f.path), patterns=patterns, store=chosen)
