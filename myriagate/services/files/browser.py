"""The file use cases: a researcher's areas on a cluster, listed, looked at, downloaded.

Everything runs as the caller's own cluster login (``user.cluster_login``), never as the
service login nor as anybody else, so the cluster's own permissions decide what they may read.
Paths are checked here (``domain.files.area_path``) before any command, and resolved on the
cluster inside the area's root without following links (the ``ClusterFiles`` port).
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import structlog

from myriagate.db.models.users import User
from myriagate.domain.files import (
    DEFAULT_PAGE,
    MAX_PAGE,
    ByteRange,
    FileEntry,
    RangeNotSatisfiable,
    SortKey,
    area_path,
    cursor_after,
    display_name,
    join,
    parse_cursor,
    parse_range,
)
from myriagate.errors import FieldError, InvalidRequest, NotFound, Text
from myriagate.profiles.file_areas import FileArea
from myriagate.profiles.logins import is_gateway_login
from myriagate.profiles.models import ClusterProfile
from myriagate.services.files.ports import ClusterFiles, ClusterFilesFactory, FileDownload

log = structlog.get_logger(__name__)

PreviewEnd = Literal["head", "tail"]
DEFAULT_PREVIEW_BYTES = 64 * 1024
MAX_PREVIEW_BYTES = 1024 * 1024


@dataclass(frozen=True)
class AreaView:
    name: str
    label: str
    label_fr: str
    root: str  # for this user: {login} filled in, {home} shown as "~"
    writable: bool


@dataclass(frozen=True)
class EntryView:
    """An entry with where it is in the area (``path``, ``name`` as ``display_name`` shows them)."""

    entry: FileEntry
    path: bytes


@dataclass(frozen=True)
class DirectoryView:
    area: str
    path: bytes
    entries: tuple[EntryView, ...]
    total: int
    next_cursor: str | None


@dataclass(frozen=True)
class Preview:
    path: bytes
    end: PreviewEnd
    size_bytes: int
    offset: int  # where the text starts in the file
    text: str  # UTF-8, undecodable bytes replaced; a character cut at the edge dropped
    truncated: bool  # the file holds more than what is shown


@dataclass(frozen=True)
class FileBrowser:
    """The file use cases on every cluster of the gateway (built by ``wiring_files.file_browser``)."""

    profile: Callable[[str | None], ClusterProfile]
    files_for: Callable[[str], ClusterFilesFactory]

    def areas(self, user: User, cluster: str) -> list[AreaView]:
        profile = self.profile(cluster)
        if is_gateway_login(profile, user.cluster_login):  # none: never the service account's
            return []
        return [
            AreaView(
                name=a.name,
                label=a.label,
                label_fr=a.label_fr,
                root=a.root_for(user.cluster_login).replace("{home}", "~", 1),
                writable=a.writable,
            )
            for a in profile.files.areas
        ]

    def _open(self, user: User, cluster: str, area_name: str) -> tuple[ClusterFiles, str]:
        profile = self.profile(cluster)
        area = file_area(profile, area_name)
        return self.files_for(profile.name).for_login(user.cluster_login), _root(area, user)

    def list(
        self,
        user: User,
        cluster: str,
        area: str,
        path: str | None,
        *,
        sort: SortKey = SortKey.NAME,
        descending: bool = False,
        limit: int = DEFAULT_PAGE,
        cursor: str | None = None,
    ) -> DirectoryView:
        """One page of a directory, sorted; ``next_cursor`` asks for the next page."""
        raw = area_path(path)
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequest(
                Text("a page holds from 1 to %(max)s entries", max=MAX_PAGE),
                fields=[FieldError(("query", "limit"), f"from 1 to {MAX_PAGE}")],
            )
        after = parse_cursor(cursor, sort, descending) if cursor else None
        files, root = self._open(user, cluster, area)
        page = files.list_dir(root, raw, sort=sort, descending=descending, limit=limit, after=after)
        log.info(
            "files.list", cluster=cluster, area=area, login=user.cluster_login, entries=len(page.entries)
        )
        next_cursor = None
        if page.more and page.entries:
            next_cursor = cursor_after(page.entries[-1], sort, descending).token()
        return DirectoryView(
            area=area,
            path=raw,
            entries=tuple(EntryView(e, join(raw, e.name)) for e in page.entries),
            total=page.total,
            next_cursor=next_cursor,
        )

    def stat(self, user: User, cluster: str, area: str, path: str | None) -> EntryView:
        raw = area_path(path)
        files, root = self._open(user, cluster, area)
        return EntryView(files.stat(root, raw), raw)

    def preview(
        self,
        user: User,
        cluster: str,
        area: str,
        path: str | None,
        *,
        end: PreviewEnd = "head",
        max_bytes: int = DEFAULT_PREVIEW_BYTES,
    ) -> Preview:
        """The first or last ``max_bytes`` of a text file (at most 1 MiB: download the rest)."""
        raw = _file_path(path)
        if not 1 <= max_bytes <= MAX_PREVIEW_BYTES:
            raise InvalidRequest(
                Text(
                    "a preview shows from 1 byte to %(max)s bytes: download the file to read more",
                    max=MAX_PREVIEW_BYTES,
                ),
                fields=[FieldError(("query", "max_bytes"), f"from 1 to {MAX_PREVIEW_BYTES}")],
            )
        files, root = self._open(user, cluster, area)
        wanted = ByteRange(0, max_bytes - 1) if end == "head" else ByteRange(None, max_bytes)
        try:
            _entry, size, data = files.read(root, raw, wanted)
        except RangeNotSatisfiable:  # an empty file: nothing to show, not an error
            return Preview(raw, end, 0, 0, "", truncated=False)
        if b"\0" in data:
            raise InvalidRequest(
                Text(
                    "%(path)s holds binary data, not text: download it instead", path=repr(display_name(raw))
                )
            )
        offset = 0 if end == "head" else size - len(data)
        cut_at_end = end == "head" and len(data) < size
        return Preview(raw, end, size, offset, _text(data, offset, cut_at_end), truncated=len(data) < size)

    def download(
        self,
        user: User,
        cluster: str,
        area: str,
        path: str | None,
        *,
        range_header: str | None = None,
        if_range: str | None = None,
    ) -> FileDownload:
        """The file as a stream, or the one byte range asked (RFC 9110); close it after use.

        An ``If-Range`` that is not an entity tag (a date) sends the whole file, as RFC 9110
        allows: dates are too coarse to promise the same bytes."""
        raw = _file_path(path)
        byte_range = parse_range(range_header)
        if byte_range is not None and if_range is not None and not if_range.strip().startswith('"'):
            byte_range, if_range = None, None
        files, root = self._open(user, cluster, area)
        download = files.open_read(root, raw, byte_range, if_range=if_range if byte_range else None)
        log.info(
            "files.download",
            cluster=cluster,
            area=area,
            login=user.cluster_login,
            size_bytes=download.size_bytes,
            offset=download.offset,
            length=download.length,
        )
        return download


def _root(area: FileArea, user: User) -> str:
    return area.root_for(user.cluster_login)


def _file_path(path: str | None) -> bytes:
    raw = area_path(path)
    if not raw:
        raise InvalidRequest(
            Text("name a file in the area: its root is a directory"),
            fields=[FieldError(("query", "path"), Text("a file is required"))],
        )
    return raw


def file_area(profile: ClusterProfile, name: str) -> FileArea:
    """The cluster's file area ``name``; NotFound naming the areas it has (or saying it has none)."""
    area = profile.files.area(name)
    if area is None:
        raise _no_area(profile, name)
    return area


def _no_area(profile: ClusterProfile, name: str) -> NotFound:
    known = ", ".join(a.name for a in profile.files.areas)
    if not known:
        return NotFound(Text("the cluster %(cluster)s shows no file areas", cluster=profile.name))
    return NotFound(
        Text(
            "no file area %(area)s on %(cluster)s (its areas: %(areas)s)",
            area=repr(name),
            cluster=profile.name,
            areas=known,
        )
    )


def _text(data: bytes, offset: int, cut_at_end: bool) -> str:
    """``data`` as text: a UTF-8 character cut by the preview's edge is dropped, not mangled."""
    if offset > 0:
        skip = 0
        while skip < min(3, len(data)) and data[skip] & 0xC0 == 0x80:  # continuation bytes
            skip += 1
        data = data[skip:]
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    # final=False keeps an incomplete last character back: it was cut by the preview's end.
    return decoder.decode(data, final=not cut_at_end)
