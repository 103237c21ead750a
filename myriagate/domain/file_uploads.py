"""Uploads into a file area (docs/files.md): the signed ticket that is an upload's id, its
limits and its refusals. Pure: no I/O.

An upload's id is a ticket the gateway signed (HMAC-SHA256 under a key derived from its
secret key): cluster, area, login, target path, size, the sha256 announced, whether it may
replace a file, when it expires and the random ``upload`` naming its partial file on the
cluster. The gateway keeps no table of uploads: any of its instances can take the next part,
nobody can forge or alter a ticket (a different size, another login's path), and an expired
one is refused before anything runs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass

from myriagate.domain.files import FileEntry
from myriagate.errors import Conflict, FieldError, InvalidRequest, NotFound, StagingError, Text, UnsafeValue

VERSION = "u1"
TICKET_TTL_S = 24 * 3600
MAX_TICKET_LENGTH = 4096
PARTIAL_PREFIX = ".myriagate-upload-"  # the far side's partial files (remote_helper/upload.py)
_KEY_LABEL = b"myriagate file upload tickets v1"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class InsufficientStorage(StagingError):
    """The area's filesystem (or the login's quota there) cannot hold the file (HTTP 507)."""

    code = "insufficient_storage"
    title = "Not enough space"
    http_status = 507


class UploadOffsetMismatch(Conflict):
    """A part sent from another offset than the one the cluster holds (HTTP 409, with it)."""

    code = "upload_offset_mismatch"
    title = "Upload offset mismatch"

    def __init__(self, offset: int) -> None:
        super().__init__(
            Text(
                "the cluster holds %(offset)s bytes of this upload: send the rest from there",
                offset=offset,
            )
        )
        self.offset = offset
        self.extensions["offset"] = offset


@dataclass(frozen=True)
class UploadTicket:
    cluster: str
    area: str
    login: str
    path: bytes
    size_bytes: int
    sha256: str | None
    overwrite: bool
    expires_at: int  # Unix seconds
    upload: str  # 32 hex digits: the partial file's name on the cluster

    @staticmethod
    def new_upload() -> str:
        return secrets.token_hex(16)


@dataclass(frozen=True)
class AppendOutcome:
    """Where an upload stands after a request's bytes: ``offset`` bytes held; once
    ``complete``, the file is in place with its ``sha256`` and ``entry``."""

    offset: int
    complete: bool
    sha256: str | None = None
    entry: FileEntry | None = None


def ticket_key(secret_key: str) -> bytes:
    """The signing key of upload tickets, derived from ``MYRIAGATE_SECRET_KEY`` for this only."""
    return hmac.new(secret_key.encode(), _KEY_LABEL, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _mac(key: bytes, signed: str) -> str:
    return _b64(hmac.new(key, signed.encode("ascii"), hashlib.sha256).digest())


def sign_ticket(key: bytes, ticket: UploadTicket) -> str:
    document = [
        ticket.cluster,
        ticket.area,
        ticket.login,
        ticket.path.hex(),
        ticket.size_bytes,
        ticket.sha256,
        ticket.overwrite,
        ticket.expires_at,
        ticket.upload,
    ]
    signed = f"{VERSION}.{_b64(json.dumps(document, separators=(',', ':')).encode())}"
    return f"{signed}.{_mac(key, signed)}"


def _unknown() -> NotFound:
    return NotFound(Text("no such upload: its id is incomplete or was not made by this gateway"))


def read_ticket(key: bytes, token: str, *, now: float) -> UploadTicket:
    """The ticket of a genuine, unexpired upload id; NotFound otherwise."""
    if len(token) > MAX_TICKET_LENGTH or not token.isascii():
        raise _unknown()
    version, _, rest = token.partition(".")
    payload, _, signature = rest.partition(".")
    if version != VERSION or not payload or not signature:
        raise _unknown()
    if not hmac.compare_digest(_mac(key, f"{version}.{payload}"), signature):
        raise _unknown()  # checked before anything in the payload is believed
    try:
        doc = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        cluster, area, login, path, size, sha, overwrite, expires, upload = doc
        ticket = UploadTicket(
            str(cluster), str(area), str(login), bytes.fromhex(path), int(size),
            None if sha is None else str(sha), bool(overwrite), int(expires), str(upload),
        )  # fmt: skip
    except (binascii.Error, ValueError, TypeError):
        raise _unknown() from None
    if now >= ticket.expires_at:
        raise NotFound(Text("this upload expired: start it again"))
    return ticket


def checked_sha256(value: str | None) -> str | None:
    """A sha256 as 64 hex digits (lowercased); None when not given."""
    if value is None or value == "":
        return None
    clean = value.strip().lower()
    if not _SHA256.fullmatch(clean):
        raise InvalidRequest(
            Text("sha256 must be 64 hexadecimal digits"),
            fields=[FieldError(("body", "sha256"), Text("64 hexadecimal digits"))],
        )
    return clean


def checked_target(path: bytes) -> bytes:
    """A target path (already checked by ``area_path``) whose name is not the partial files'."""
    if not path:
        raise InvalidRequest(
            Text("name the file to write in the area: its root is a directory"),
            fields=[FieldError(("body", "path"), Text("a file is required"))],
        )
    if path.rsplit(b"/", 1)[-1].startswith(PARTIAL_PREFIX.encode()):
        raise UnsafeValue(
            Text("names starting with %(prefix)s are the gateway's partial uploads", prefix=PARTIAL_PREFIX)
        )
    return path


def checked_size(size_bytes: int, max_bytes: int) -> int:
    if not 0 <= size_bytes <= max_bytes:
        raise InvalidRequest(
            Text("an upload holds from 0 to %(max)s bytes", max=max_bytes),
            fields=[FieldError(("body", "size_bytes"), Text("from 0 to %(max)s", max=max_bytes))],
        )
    return size_bytes
