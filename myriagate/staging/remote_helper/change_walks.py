"""The far side's walks over a tree: ``rm`` (recursive removal), ``du`` (bounded disk usage)
and ``glob`` (names matched in one directory), and the ``main`` of the write operations.

Sent last, after ``change`` (``staging.cluster_file_changes.program``); see ``change`` for the
rules: each subdirectory is entered from its parent's descriptor with O_NOFOLLOW, so a
directory replaced by a link mid-way is never entered, only the link itself is removed.
Standard library of Python >= 3.7 only: this text is shipped.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time

from myriagate.staging.remote_helper.basics import HelperError
from myriagate.staging.remote_helper.browse import _lstat, _record, _target, open_area, open_directory
from myriagate.staging.remote_helper.change import (
    _entry,
    _fail,
    _open_child,
    _rel,
    _Tally,
    change_kind,
    op_cp,
    op_mkdir,
    op_mv,
)
from myriagate.staging.remote_helper.tree import Tree

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def _entries(fd: int) -> Any:
    return iter(sorted(os.scandir(fd), key=lambda e: e.name))


def _remove_entry(
    fd: int, entry: Any, here: str, dry: bool, tally: _Tally, before_descend: Callable[..., Any] | None
) -> tuple[int, str, Any, tuple[str, os.stat_result]] | None:
    """One entry of the directory ``fd``: a file or a link removed (the link itself); a real
    directory opened from ``fd`` with O_NOFOLLOW and returned as a level to empty. Replaced
    by a link meanwhile, it is not entered: only the link is removed."""
    st = entry.stat(follow_symlinks=False)
    if stat.S_ISDIR(st.st_mode):
        if before_descend is not None:
            before_descend(fd, entry.name)
        try:
            child = _open_child(fd, entry.name, here)
        except HelperError as exc:
            if exc.kind == "missing":
                return None  # removed meanwhile by someone else (another rm -r): gone, as asked
            if exc.kind not in ("unsafe", "not_dir"):
                raise
            st = os.stat(entry.name, dir_fd=fd, follow_symlinks=False)  # what is there now
        else:
            try:
                return child, here, _entries(child), (entry.name, st)
            except BaseException:
                os.close(child)
                raise
    if not dry:
        os.unlink(entry.name, dir_fd=fd)
    tally.add(st)
    return None


def _remove_emptied(
    parent: int, placed: tuple[str, os.stat_result], here: str, dry: bool, tally: _Tally
) -> None:
    """A directory whose content was removed: removed from its parent in turn."""
    name, st = placed
    try:
        if not dry:
            os.rmdir(name, dir_fd=parent)
        tally.add(st)
    except FileNotFoundError:
        pass  # removed meanwhile by someone else
    except OSError as exc:
        tally.failure(_fail(exc, here))  # what could not go keeps its directory


def _remove_inside(
    fd: int, rel: str, dry: bool, tally: _Tally, before_descend: Callable[..., Any] | None
) -> None:
    """Everything in the directory ``fd``, depth first with a stack, not recursion, so a tree
    of any depth is removed (Python's recursion limit stopped at about 1,000 levels). Each
    subdirectory is entered only from its parent's descriptor with O_NOFOLLOW. Failures are
    collected and the walk goes on. ``fd`` stays open: the caller's."""
    stack: list[tuple[int, str, Any, Any]] = [(fd, rel, _entries(fd), None)]
    while stack:
        dir_fd, dir_rel, entries, placed = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            if placed is not None:
                os.close(dir_fd)
                _remove_emptied(stack[-1][0], placed, dir_rel, dry, tally)
            continue
        here = dir_rel + "/" + entry.name if dir_rel else entry.name
        try:
            child = _remove_entry(dir_fd, entry, here, dry, tally, before_descend)
        except FileNotFoundError:
            continue  # removed meanwhile by someone else
        except HelperError as exc:
            tally.failure(exc)
        except OSError as exc:
            tally.failure(_fail(exc, here))
        else:
            if child is not None:
                stack.append(child)


def op_rm(
    tree: Tree, req: dict[str, Any], rel: str, before_descend: Callable[..., Any] | None = None
) -> dict[str, Any]:
    """Remove ``rel``: a file or link (the link itself), an empty directory, or with
    ``recursive`` a directory and everything in it. ``dry_run`` counts what would go."""
    if not rel:
        raise HelperError("root", "", "the area's root is never removed")
    dir_fd, name, st = _entry(tree, rel)
    dry, tally = bool(req.get("dry_run")), _Tally()
    if stat.S_ISDIR(st.st_mode):
        fd = _open_child(dir_fd, name, rel)
        try:
            if not req.get("recursive"):
                held = len(os.listdir(fd))
                if held:
                    raise HelperError("not_empty", rel, str(held))
            else:
                _remove_inside(fd, rel, dry, tally, before_descend)
        finally:
            os.close(fd)
        if tally.failed:
            return tally.header()  # what could not go keeps its directory
    try:
        if not dry:
            (os.rmdir if stat.S_ISDIR(st.st_mode) else os.unlink)(name, dir_fd=dir_fd)
    except FileNotFoundError as exc:
        if not sum(n for key, n in tally.counts.items() if key != "bytes"):
            raise _fail(exc, rel) from exc  # nothing done here: it was not there to remove
        return tally.header()  # emptied here while another removal took the directory itself
    except OSError as exc:
        raise _fail(exc, rel) from exc
    tally.add(st)
    return tally.header()


class _Usage:
    def __init__(self, max_entries: int, max_seconds: float) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + max_seconds
        self.max_entries = max_entries
        self.seen: set[tuple[int, int]] = set()
        self.counts = {"bytes_on_disk": 0, "apparent_bytes": 0, "files": 0, "directories": 0, "links": 0}
        self.entries = 0
        self.unreadable = 0
        self.stopped: str | None = None

    def add(self, st: os.stat_result) -> None:
        mode = st.st_mode
        key = "directories" if stat.S_ISDIR(mode) else "links" if stat.S_ISLNK(mode) else "files"
        self.counts[key] += 1
        if st.st_nlink > 1 and not stat.S_ISDIR(mode):
            if (st.st_dev, st.st_ino) in self.seen:
                return  # a hard link already counted, as du does
            self.seen.add((st.st_dev, st.st_ino))
        self.counts["bytes_on_disk"] += getattr(st, "st_blocks", 0) * 512
        self.counts["apparent_bytes"] += st.st_size

    def walk(self, top: int) -> None:
        """Depth first with one descriptor per level (a wide directory opens nothing at once)."""
        stack = [(top, os.scandir(top))]
        while stack and self.stopped is None:
            fd, listing = stack[-1]
            entry = next(listing, None)
            if entry is None:
                listing.close()
                os.close(fd)
                stack.pop()
                continue
            self.entries += 1
            if self.entries > self.max_entries:
                self.stopped = "entries"
            elif self.entries % 256 == 0 and time.monotonic() > self.deadline:
                self.stopped = "time"
            try:
                st = entry.stat(follow_symlinks=False)
                self.add(st)
                if stat.S_ISDIR(st.st_mode):
                    child = os.open(entry.name, _DIR, dir_fd=fd)
                    stack.append((child, os.scandir(child)))
            except FileNotFoundError:
                continue
            except OSError:
                self.unreadable += 1  # counted by name, its content not: the figure is partial
        for fd, listing in stack:
            listing.close()
            os.close(fd)


def op_du(tree: Tree, req: dict[str, Any], rel: str) -> dict[str, Any]:
    """Disk usage under ``rel``, bounded by ``max_entries`` and ``max_seconds``; links are
    counted as links, never followed; ``stopped`` says why a figure is partial."""
    usage = _Usage(int(req.get("max_entries", 1_000_000)), float(req.get("max_seconds", 20.0)))
    _dir_fd, _name, st = _lstat(tree, rel)
    usage.add(st)
    if stat.S_ISDIR(st.st_mode):
        usage.walk(open_directory(tree, rel))
    stopped = usage.stopped or ("unreadable" if usage.unreadable else None)
    seconds = round(time.monotonic() - usage.started, 3)
    return {**usage.counts, "unreadable": usage.unreadable, "stopped": stopped, "seconds": seconds}


def op_glob(tree: Tree, req: dict[str, Any], rel: str) -> tuple[dict[str, Any], list[bytes]]:
    """The entries of the directory ``rel`` whose names match the shell pattern (``*``, ``?``,
    ``[...]``; a leading '.' only matched by a pattern starting with one), sorted by name.
    Matched here, on names read from the directory: no shell ever expands it."""
    import fnmatch  # only here: every import is paid at each start

    pattern = _rel(req, "pattern")
    limit = int(req.get("limit", 10_000))
    fd = open_directory(tree, rel)
    try:
        found = sorted(
            (os.fsencode(e.name), e.name)
            for e in os.scandir(fd)
            if (pattern.startswith(".") or not e.name.startswith("."))
            and fnmatch.fnmatchcase(e.name, pattern)
        )
        body = []
        for raw, name in found[:limit]:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            body.append(_record(raw, st, _target(fd, name, st)))
    finally:
        os.close(fd)
    return {"total": len(found), "more": len(found) > limit}, body


_OPS = {"mkdir": op_mkdir, "mv": op_mv, "cp": op_cp, "rm": op_rm, "du": op_du}


def main(argv: list[str]) -> int:
    op = argv[0]
    out = sys.stdout.buffer
    body: list[bytes] = []
    try:
        req = json.loads(sys.stdin.buffer.read().decode("utf-8"))
        tree = open_area(str(req["root"]))
        rel = _rel(req, "path")
        if op == "glob":
            header, body = op_glob(tree, req, rel)
        else:
            header = _OPS[op](tree, req, rel)
    except HelperError as exc:
        header = {"error": exc.kind, "path": exc.path, "detail": exc.detail}
    except OSError as exc:
        header = {"error": change_kind(exc), "path": "", "detail": str(exc.strerror)}
    out.write(json.dumps(header).encode() + b"\n")
    out.writelines(body)
    out.flush()
    return 2 if "error" in header else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
