"""The upload use cases: a file written into a researcher's area, streamed, resumable, verified.

As the browser's use cases (``browser``), everything runs as the caller's own cluster login.
An upload is begun (``start``: the target checked, the space left checked, an empty hidden
partial file made beside it), then sent in one or more parts (``open_append`` from the offset
the cluster holds), and placed once whole: sha256 checked, then linked or renamed into place
atomically (``upload_ports.ClusterUploads``). Its id is a signed ticket
(``domain.file_uploads``), so the gateway keeps no state: a part may go to any instance, and
a ticket is honoured only for the login, cluster, area and path it was made for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import structlog

from myriagate.db.models.users import User
from myriagate.domain.file_uploads import (
    TICKET_TTL_S,
    UploadTicket,
    checked_sha256,
    checked_size,
    checked_target,
    read_ticket,
    sign_ticket,
)
from myriagate.domain.files import area_path, display_name
from myriagate.errors import FieldError, InvalidRequest, NotFound, PermissionDenied, Text
from myriagate.profiles.file_areas import FileArea
from myriagate.profiles.logins import check_personal_login
from myriagate.profiles.models import ClusterProfile
from myriagate.services.files.upload_ports import ClusterUploads, ClusterUploadsFactory, UploadWriter

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class UploadState:
    """An upload as the API shows it: its id, its target, how far it got."""

    id: str
    ticket: UploadTicket
    offset: int


@dataclass(frozen=True)
class FileUploads:
    """The upload use cases on every cluster of the gateway (``wiring_uploads.file_uploads``)."""

    profile: Callable[[str | None], ClusterProfile]
    uploads_for: Callable[[str], ClusterUploadsFactory]
    key: bytes
    max_bytes: int
    now: Callable[[], float]

    def _area(self, user: User, cluster: str, area_name: str) -> tuple[ClusterProfile, FileArea]:
        profile = self.profile(cluster)
        check_personal_login(profile, user.cluster_login)  # never the service account's files
        area = profile.files.area(area_name)
        if area is None:
            raise NotFound(
                Text("no file area %(area)s on %(cluster)s", area=repr(area_name), cluster=profile.name)
            )
        if not area.writable:
            raise PermissionDenied(
                Text("the area %(area)s is read-only: nothing is written there", area=area.name),
                transient=False,
            )
        return profile, area

    def _uploads(self, profile: ClusterProfile, user: User) -> ClusterUploads:
        return self.uploads_for(profile.name).for_login(user.cluster_login)

    def start(
        self,
        user: User,
        cluster: str,
        area: str,
        path: str | None,
        *,
        size_bytes: int,
        sha256: str | None = None,
        overwrite: bool = False,
    ) -> UploadState:
        """Begin an upload of ``size_bytes`` to ``path``; refused before anything is written when
        the name exists (unless ``overwrite``), is a link or a directory, or does not fit."""
        raw = checked_target(area_path(path))
        size = checked_size(size_bytes, self.max_bytes)
        announced = checked_sha256(sha256)
        profile, found = self._area(user, cluster, area)
        ticket = UploadTicket(
            cluster=profile.name,
            area=found.name,
            login=user.cluster_login,
            path=raw,
            size_bytes=size,
            sha256=announced,
            overwrite=overwrite,
            expires_at=int(self.now()) + TICKET_TTL_S,
            upload=UploadTicket.new_upload(),
        )
        root = found.root_for(user.cluster_login)
        self._uploads(profile, user).begin(
            root, raw, upload=ticket.upload, size_bytes=size, overwrite=overwrite
        )
        log.info("files.upload.begin", cluster=profile.name, area=found.name, login=user.cluster_login,
                 size_bytes=size)  # fmt: skip
        return UploadState(sign_ticket(self.key, ticket), ticket, 0)

    def _ticket(
        self, user: User, cluster: str, area: str, upload_id: str
    ) -> tuple[UploadTicket, ClusterUploads, str]:
        ticket = read_ticket(self.key, upload_id, now=self.now())
        profile, found = self._area(user, cluster, area)
        if (ticket.cluster, ticket.area, ticket.login) != (profile.name, found.name, user.cluster_login):
            # Somebody else's upload, or one of another area: as unknown, saying nothing of it.
            raise NotFound(Text("no such upload: its id is incomplete or was not made by this gateway"))
        return ticket, self._uploads(profile, user), found.root_for(user.cluster_login)

    def status(self, user: User, cluster: str, area: str, upload_id: str) -> UploadState:
        """How many bytes of the upload the cluster holds (where to resume from)."""
        ticket, uploads, root = self._ticket(user, cluster, area, upload_id)
        return UploadState(upload_id, ticket, uploads.offset(root, ticket.path, upload=ticket.upload))

    def open_append(
        self, user: User, cluster: str, area: str, upload_id: str, *, offset: int
    ) -> tuple[UploadTicket, UploadWriter]:
        """A writer for the bytes from ``offset`` on; the cluster refuses any other offset than
        the one it holds (409 with it). ``finish()`` places the file once it is whole."""
        ticket, uploads, root = self._ticket(user, cluster, area, upload_id)
        if not 0 <= offset <= ticket.size_bytes:
            raise InvalidRequest(
                Text("the offset must be from 0 to the upload's size, %(size)s", size=ticket.size_bytes),
                fields=[
                    FieldError(("header", "Upload-Offset"), Text("from 0 to %(max)s", max=ticket.size_bytes))
                ],
            )
        writer = uploads.open_append(
            root,
            ticket.path,
            upload=ticket.upload,
            offset=offset,
            size_bytes=ticket.size_bytes,
            sha256=ticket.sha256,
            overwrite=ticket.overwrite,
        )
        log.info("files.upload.append", cluster=cluster, area=area, login=user.cluster_login,
                 path=display_name(ticket.path), offset=offset)  # fmt: skip
        return ticket, writer

    def cancel(self, user: User, cluster: str, area: str, upload_id: str) -> None:
        """Remove the upload's partial data; the target is left as it was."""
        ticket, uploads, root = self._ticket(user, cluster, area, upload_id)
        uploads.discard(root, ticket.path, upload=ticket.upload)
