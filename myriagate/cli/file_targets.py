"""What ``myriagate files`` commands name: ``[AREA:]PATH`` on the cluster, wildcards matched
here, and the local file each remote one is written to.

A wildcard (``*``, ``?``, ``[...]``) is only ever matched here, with ``fnmatch`` against the
names the gateway lists: it is never sent anywhere, so no shell on the cluster sees it. Each
matched name must be a plain file name before anything is written: a listing naming
``../x`` or ``a/b`` (a confused or hostile server) is refused whole, so a name from the
cluster never places a file outside the destination chosen here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from myriagate.client.file_download import local_name
from myriagate.domain.files import FileKind
from myriagate.errors import InvalidRequest, NotFound, UnsafeValue
from myriagate.web.api.files_schemas import FileAreaOut, FileEntryOut

DEFAULT_AREA = "home"
# An area's name as profiles spell it; text before ':' that is not one is part of the path.
_AREA_PREFIX = re.compile(r"([a-z][a-z0-9_-]*):(.*)", re.DOTALL)
_MAGIC = re.compile(r"[*?\[]")
# Why a matched entry that is not a regular file is left out, said in the user's terms.
_NOT_FETCHED = {
    FileKind.DIRECTORY: "a directory, not a file (nothing is fetched recursively)",
    FileKind.SYMLINK: "a symbolic link (links are never followed)",
    FileKind.OTHER: "not a regular file (a fifo, socket or device)",
    FileKind.FILE: "",
}


@dataclass(frozen=True)
class RemotePath:
    area: str
    path: str

    def __str__(self) -> str:
        return f"{self.area}:{self.path}"


def parse_remote(text: str) -> RemotePath:
    """``scratch:run1/out.txt`` -> (scratch, run1/out.txt); no area prefix means ``home``."""
    found = _AREA_PREFIX.fullmatch(text)
    if found is None:
        return RemotePath(DEFAULT_AREA, text)
    return RemotePath(found[1], found[2])


def needs_roots(text: str) -> bool:
    """A path as copied from a shell (``~``, ``~/x``, ``/scratch/alice/x``), without ``AREA:``:
    placing it needs the areas' roots (``locate``)."""
    return _AREA_PREFIX.fullmatch(text) is None and text.startswith(("/", "~"))


def locate(text: str, areas: Sequence[FileAreaOut]) -> RemotePath:
    """``~`` and ``~/x`` are in ``home``; an absolute path under an area's root is in that area
    (the deepest root wins: a scratch inside the home is scratch). The rest is refused, naming
    the areas. ``..`` is left in the path: the gateway refuses it as it refuses ``home:../x``."""
    if text == "~" or text.startswith("~/"):
        return RemotePath(DEFAULT_AREA, text[2:])
    if text.startswith("/"):
        placed = [
            (area, text[len(root) :].lstrip("/"))
            for area in areas
            if (root := area.root.rstrip("/")) and (text == root or text.startswith(root + "/"))
        ]
        if placed:
            area, rest = max(placed, key=lambda found: len(found[0].root.rstrip("/")))
            return RemotePath(area.name, rest)
    named = ", ".join(f"{a.name} ({a.root})" for a in areas)
    what = "an absolute path outside your areas" if text.startswith("/") else "not a path in your areas"
    raise InvalidRequest(
        f"{text!r} is {what}: give a path under one of them, as AREA:PATH or from its root: {named}"
    )


@dataclass(frozen=True)
class Pattern:
    """A remote path split where the wildcard is: the directory to list and the name pattern."""

    directory: str
    name: str


def pattern_of(path: str) -> Pattern | None:
    """The wildcard in the path's last name, or None for a plain path; wildcards in a
    directory's name are refused (one directory is listed, never a tree)."""
    parent, _, last = path.rstrip("/").rpartition("/")
    if _MAGIC.search(parent):
        raise InvalidRequest(f"wildcards only in the last name of a path: {path!r}")
    return Pattern(parent, last) if _MAGIC.search(last) else None


def _matches(name: str, pattern: str) -> bool:
    if name.startswith(".") and not pattern.startswith("."):
        return False  # as a shell: '*' leaves hidden files alone
    return name == pattern or fnmatchcase(name, pattern)


@dataclass(frozen=True)
class Matched:
    files: list[FileEntryOut]
    skipped: list[tuple[FileEntryOut, str]]  # (entry, why) left out, said to the user


def match_files(entries: list[FileEntryOut], pattern: Pattern, where: RemotePath) -> Matched:
    """The regular files of a listing whose names match; the rest that matched, with why not.
    Refuses the whole listing when a matched name is not a plain name of that directory."""
    files: list[FileEntryOut] = []
    skipped: list[tuple[FileEntryOut, str]] = []
    prefix = f"{pattern.directory}/" if pattern.directory else ""
    for entry in entries:
        if not _matches(entry.name, pattern.name):
            continue
        if entry.exact:  # an escaped name holds a backslash: shown, never taken as a local name
            local_name(entry.name)
            if entry.path != prefix + entry.name:
                raise UnsafeValue(f"the gateway listed {entry.name!r} at {entry.path!r}, not in {where}")
        if not entry.exact:
            skipped.append((entry, "its name is not plain text: it cannot be fetched by name yet"))
        elif entry.type is not FileKind.FILE:
            skipped.append((entry, _NOT_FETCHED[entry.type]))
        else:
            files.append(entry)
    if not files and not skipped:
        raise NotFound(f"no file matches {pattern.name!r} in {where.area}:{pattern.directory}")
    return Matched(files, skipped)


def target_for(name: str, dest: Path, *, into: bool) -> Path:
    """Where a remote file called ``name`` is written: inside ``dest`` when it is a directory
    (or must be one: several files, a trailing '/'), else ``dest`` itself."""
    if into or dest.is_dir():
        return dest / local_name(name)
    return dest
