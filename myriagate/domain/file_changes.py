"""What the write operations on cluster files answer (issue #17): what a copy or a removal
touched, what a disk-usage walk counted, and the bounds that walk keeps. Pure: no I/O.

Counts are whole numbers of entries and bytes as the far side saw them (``lstat``, links
never followed); a ``partial`` figure says why it stopped rather than passing for the whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# The disk-usage walk's bounds: a home of millions of files answers in seconds, partial.
DEFAULT_USAGE_ENTRIES = 1_000_000
MAX_USAGE_ENTRIES = 10_000_000
DEFAULT_USAGE_SECONDS = 20.0
MAX_USAGE_SECONDS = 120.0
# A cluster-side wildcard names at most this many entries (one listing page's bound).
MAX_GLOB_MATCHES = 10_000


class UsageStop(StrEnum):
    """Why a disk-usage figure is partial."""

    TIME = "time"  # the walk ran out of its time bound
    ENTRIES = "entries"  # it counted as many entries as it may
    UNREADABLE = "unreadable"  # some directories below could not be read by the login


@dataclass(frozen=True)
class Tally:
    """Entries a copy made or a removal removed (or would remove, on a dry run)."""

    files: int = 0
    directories: int = 0
    links: int = 0  # symbolic links, copied or removed as links (never followed)
    others: int = 0  # fifos, sockets, devices
    size_bytes: int = 0  # sizes of the regular files
    skipped: tuple[bytes, ...] = ()  # paths left alone (a copy skips fifos, sockets, devices)
    # (path, kind, detail) of what could not be copied or removed; the walk went on without it
    failed: tuple[tuple[bytes, str, str], ...] = ()

    @property
    def entries(self) -> int:
        return self.files + self.directories + self.links + self.others


@dataclass(frozen=True)
class Usage:
    """Disk usage under one directory, as the login can see it."""

    path: bytes
    bytes_on_disk: int  # allocated blocks (du's figure); hard links counted once
    apparent_bytes: int  # sizes as listed
    files: int
    directories: int
    links: int
    partial: bool
    stopped: UsageStop | None  # why it is partial; None for a whole figure
    unreadable: int  # directories the login could not read (their content not counted)
    seconds: float
