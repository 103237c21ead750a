"""Which local files a submission's inputs are, and the path each gets beside the job.

Directories are walked recursively and their relative layout is kept (``data/`` sends
``data/…``). A symlink is followed only when it stays inside the directory given; one that
leads outside is refused here, before anything is sent, so a stray link cannot ship a file
the researcher did not mean to share.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from myriagate.domain.staging import relative_path
from myriagate.errors import FieldError, InvalidRequest, UnsafeValue


@dataclass(frozen=True)
class InputFile:
    local: Path
    remote: str  # path under the job's directory
    size_bytes: int


def collect_inputs(paths: Sequence[Path | str]) -> list[InputFile]:
    """Every file the inputs name, with the path it gets on the cluster (sorted by that path)."""
    found: dict[str, InputFile] = {}
    for raw in paths:
        given = Path(raw)
        if not given.exists():
            raise InvalidRequest(f"--input {given}: no such file or directory")
        base = _remote_base(given)
        if given.is_dir():
            items = _walk(given, base)
        elif given.is_file():
            items = [InputFile(given, base, given.stat().st_size)]
        else:
            raise InvalidRequest(f"--input {given}: not a regular file or a directory")
        for item in items:
            try:
                remote = relative_path(item.remote, "input path")
            except UnsafeValue as exc:
                raise InvalidRequest(f"--input {item.local}: {exc.detail}") from None
            if remote in found:
                raise InvalidRequest(
                    f"{remote!r} is named twice (from {found[remote].local} and {item.local})"
                )
            found[remote] = InputFile(item.local, remote, item.size_bytes)
    return [found[k] for k in sorted(found)]


def _remote_base(given: Path) -> str:
    """A relative path is kept as typed (``data/x.csv``); otherwise its last component."""
    parts = [p for p in given.as_posix().split("/") if p not in ("", ".")]
    if given.is_absolute() or ".." in parts or not parts:
        return given.resolve().name
    return "/".join(parts)


def _walk(root: Path, base: str) -> list[InputFile]:
    real_root = root.resolve()
    items: list[InputFile] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in list(dirnames):
            link = here / name
            if link.is_symlink():
                _inside(link, real_root, root)
                dirnames.remove(name)  # its files are reached through its real path
        for name in filenames:
            path = here / name
            if path.is_symlink():
                _inside(path, real_root, root)
            if not path.is_file():
                continue  # sockets, fifos, dangling links: nothing to send
            rel = path.relative_to(root).as_posix()
            items.append(InputFile(path, f"{base}/{rel}", path.stat().st_size))
    return items


def _inside(link: Path, real_root: Path, root: Path) -> None:
    target = link.resolve()
    if not target.is_relative_to(real_root):
        raise UnsafeValue(
            f"--input {root}: {link} is a symlink to {target}, outside {root}; "
            "copy the file in or remove the link",
            fields=[FieldError(("input",), "symlink leads outside the directory")],
        )
