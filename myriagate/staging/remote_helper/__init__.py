"""The program the stager runs on the far side of an SSH connection: ``python3 -c <bootstrap> OP ROOT``.

It is sent as text on stdin ahead of every request (nothing is installed on the host; the
one-line bootstrap reads it, see ``ssh_command.remote_command``) and runs with the standard
library of Python >= 3.7 only, so its parts must not import anything of ours but each other.
``program_source()`` joins the parts (``basics``, ``tree``, ``operations``, in that order) into
the one self-contained script that is sent, dropping their imports of each other. File names
never appear on a command line: they arrive as JSON on stdin, so no shell ever parses them.
The gateway also imports the parts for what it shares with the far side (partial names,
manifest rule, glob matching) and for the local end of downloads.

Layout under ROOT: ``.myriagate/partial/<key[:2]>/<key>`` holds files being written (``key``
is derived from the relative path, so an interrupted transfer finds its partial data again), and
``.myriagate/manifest.json`` maps a path to ``[size, mtime_ns, ctime_ns, inode, sha256]``
recorded when the stager verified and renamed it. A file whose size, mtime, ctime and inode
all still match is taken to still have that sha256; anything else is hashed again.

Operations (JSON on stdin, one JSON object on stdout; a failure prints ``{"error": kind, ...}``
and exits 2): ``list``, ``recv`` (stdin: one JSON header line, then the bytes), ``commit``,
``send`` (stdout: framed bytes, see ``op_send``) and ``scan``.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path

from myriagate.staging.remote_helper.basics import (
    RESERVED,
    HelperError,
    glob_regex,
    os_error_kind,
    partial_key,
    stat_key,
)
from myriagate.staging.remote_helper.operations import (
    main,
    op_commit,
    op_list,
    op_recv,
    op_scan,
    op_send,
)
from myriagate.staging.remote_helper.tree import Tree

__all__ = [
    "RESERVED",
    "HelperError",
    "Tree",
    "glob_regex",
    "main",
    "op_commit",
    "op_list",
    "op_recv",
    "op_scan",
    "op_send",
    "os_error_kind",
    "partial_key",
    "program_source",
    "stat_key",
]

# In dependency order: each part uses only the ones before it.
PARTS = ("basics", "tree", "operations")


def _without_package_imports(source: str) -> str:
    """``source`` less its ``from __future__`` line and its imports of the other parts: in the
    joined script those names are already defined above it."""
    lines = source.splitlines(keepends=True)
    for node in reversed(ast.parse(source).body):
        if isinstance(node, ast.ImportFrom) and (
            node.module == "__future__" or (node.module or "").startswith(__name__)
        ):
            assert node.end_lineno is not None
            del lines[node.lineno - 1 : node.end_lineno]
    return "".join(lines)


def _without_main(source: str) -> str:
    """``source`` less its ``if __name__ == "__main__":`` block."""
    lines = source.splitlines(keepends=True)
    for node in reversed(ast.parse(source).body):
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            assert node.end_lineno is not None
            del lines[node.lineno - 1 : node.end_lineno]
    return "".join(lines)


def joined_source(names: Sequence[str]) -> str:
    """The parts ``names`` (in dependency order) as one script of the standard library only;
    only the last part's ``__main__`` block stays, so it is the one that runs."""
    here = Path(__file__).parent
    parts = [_without_package_imports((here / f"{name}.py").read_text(encoding="utf-8")) for name in names]
    parts[:-1] = [_without_main(part) for part in parts[:-1]]
    return "from __future__ import annotations\n\n" + "\n\n".join(parts)


def program_source() -> str:
    """The far side's program: one self-contained script of the standard library only."""
    return joined_source(PARTS)
