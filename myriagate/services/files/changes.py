"""The write use cases on cluster files (issue #17): make a directory, rename, copy, remove,
disk usage, and wildcards expanded on the cluster.

As the browser's use cases, everything runs as the caller's own cluster login, never as the
service login nor anybody else, so the cluster's permissions decide; paths are checked here
(``domain.files.area_path``) before any command. An area the profile does not mark
``writable`` takes no change (disk usage and wildcards only read). A directory that is not
empty is removed only when ``recursive`` is asked; ``dry_run`` counts what would go first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from myriagate.db.models.users import User
from myriagate.domain.file_changes import (
    DEFAULT_USAGE_ENTRIES,
    DEFAULT_USAGE_SECONDS,
    MAX_GLOB_MATCHES,
    MAX_USAGE_ENTRIES,
    MAX_USAGE_SECONDS,
    Tally,
    Usage,
)
from myriagate.domain.files import area_path, join
from myriagate.errors import FieldError, InvalidRequest, PermissionDenied, Text
from myriagate.profiles.models import ClusterProfile
from myriagate.services.files.browser import EntryView, file_area
from myriagate.services.files.ports import ClusterFiles, ClusterFilesFactory

log = structlog.get_logger(__name__)
_WILDCARD = re.compile(rb"[*?\[]")


@dataclass(frozen=True)
class Matches:
    """What a wildcard named in one directory, sorted by name; ``total`` counts every match."""

    entries: tuple[EntryView, ...]
    total: int


@dataclass(frozen=True)
class FileChanges:
    """The write use cases on every cluster of the gateway (``wiring_files.file_changes``)."""

    profile: Callable[[str | None], ClusterProfile]
    files_for: Callable[[str], ClusterFilesFactory]

    def _open(self, user: User, cluster: str, area_name: str, *, write: bool) -> tuple[ClusterFiles, str]:
        profile = self.profile(cluster)
        area = file_area(profile, area_name)
        if write and not area.writable:
            raise PermissionDenied(
                Text(
                    "the area %(area)s is read-only: nothing in it is changed through the gateway",
                    area=area.name,
                ),
                transient=False,
            )
        files = self.files_for(profile.name).for_login(user.cluster_login)
        return files, area.root_for(user.cluster_login)

    def make_directory(
        self, user: User, cluster: str, area: str, path: str | None, *, parents: bool = False
    ) -> tuple[bytes, ...]:
        """The directories made, outermost first (none when ``parents`` found it there)."""
        raw = _named(path, "path")
        files, root = self._open(user, cluster, area, write=True)
        made = files.make_directory(root, raw, parents=parents)
        log.info("files.mkdir", cluster=cluster, area=area, login=user.cluster_login, made=len(made))
        return made

    def rename(
        self,
        user: User,
        cluster: str,
        area: str,
        path: str | None,
        to: str | None,
        *,
        overwrite: bool = False,
    ) -> bytes:
        """Rename (or move, in the area) ``path`` to ``to``; an existing ``to`` is kept unless
        ``overwrite``. Returns the new path."""
        raw, target = _named(path, "path"), _named(to, "to")
        files, root = self._open(user, cluster, area, write=True)
        files.rename(root, raw, target, overwrite=overwrite)
        log.info("files.rename", cluster=cluster, area=area, login=user.cluster_login, overwrite=overwrite)
        return target

    def copy(
        self,
        user: User,
        cluster: str,
        area: str,
        path: str | None,
        to: str | None,
        *,
        recursive: bool = False,
        overwrite: bool = False,
    ) -> Tally:
        """Copy ``path`` to ``to`` (a directory only with ``recursive``, never over one)."""
        raw, target = _named(path, "path"), _named(to, "to")
        files, root = self._open(user, cluster, area, write=True)
        done = files.copy(root, raw, target, recursive=recursive, overwrite=overwrite)
        log.info("files.copy", cluster=cluster, area=area, login=user.cluster_login, entries=done.entries)
        return done

    def remove(
        self,
        user: User,
        cluster: str,
        area: str,
        path: str | None,
        *,
        recursive: bool = False,
        dry_run: bool = False,
    ) -> Tally:
        """Remove ``path`` (a link itself, never what it points to); a directory that is not
        empty only with ``recursive``. ``dry_run`` counts what would be removed."""
        raw = _named(path, "path", "query")
        files, root = self._open(user, cluster, area, write=True)
        done = files.remove(root, raw, recursive=recursive, dry_run=dry_run)
        log.info(
            "files.remove",
            cluster=cluster,
            area=area,
            login=user.cluster_login,
            dry_run=dry_run,
            entries=done.entries,
            size_bytes=done.size_bytes,
            failed=len(done.failed),
        )
        return done

    def usage(
        self,
        user: User,
        cluster: str,
        area: str,
        path: str | None,
        *,
        max_entries: int = DEFAULT_USAGE_ENTRIES,
        max_seconds: float = DEFAULT_USAGE_SECONDS,
    ) -> Usage:
        """Disk usage under ``path`` (the area's root when empty), bounded; partial says why."""
        raw = area_path(path)
        if not 1 <= max_entries <= MAX_USAGE_ENTRIES:
            raise InvalidRequest(
                Text("a usage walk counts from 1 to %(max)s entries", max=MAX_USAGE_ENTRIES),
                fields=[FieldError(("query", "max_entries"), f"from 1 to {MAX_USAGE_ENTRIES}")],
            )
        if not 0 < max_seconds <= MAX_USAGE_SECONDS:
            raise InvalidRequest(
                Text("a usage walk lasts at most %(max)s seconds", max=int(MAX_USAGE_SECONDS)),
                fields=[FieldError(("query", "max_seconds"), f"above 0, at most {MAX_USAGE_SECONDS:g}")],
            )
        files, root = self._open(user, cluster, area, write=False)
        return files.usage(root, raw, max_entries=max_entries, max_seconds=max_seconds)

    def glob(self, user: User, cluster: str, area: str, pattern: str | None) -> Matches:
        """The entries a wildcard in the last name of ``pattern`` names, matched on the cluster
        against the names its directory holds (no shell): ``*``, ``?``, ``[...]``."""
        raw = _named(pattern, "pattern", "query")
        directory, _, name = raw.rpartition(b"/")
        if _WILDCARD.search(directory):
            raise InvalidRequest(
                Text("wildcards only in the last name of a path"),
                fields=[FieldError(("query", "pattern"), Text("wildcards only in the last name of a path"))],
            )
        files, root = self._open(user, cluster, area, write=False)
        page = files.glob(root, directory, name, limit=MAX_GLOB_MATCHES)
        entries = tuple(EntryView(e, join(directory, e.name)) for e in page.entries)
        return Matches(entries, page.total)


def _named(value: str | None, field: str, where: str = "body") -> bytes:
    """A path inside the area that names an entry (not the root itself)."""
    raw = area_path(value, field)
    if not raw:
        raise InvalidRequest(
            Text("name an entry in the area, not its root"),
            fields=[FieldError((where, field), Text("a path in the area is required"))],
        )
    return raw
