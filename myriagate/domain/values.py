"""Validators for every value that may reach a Slurm or shell command line.

A value either passes one of these (and is then still quoted by the runner) or is refused
with UnsafeValue / JobSpecInvalid naming the field. Hostile input never reaches a command.
"""

from __future__ import annotations

import re
from uuid import UUID

from myriagate.errors import JobSpecInvalid, Text, UnsafeValue

# Unix login / Slurm account and partition names: conservative POSIX-ish names.
_NAME = re.compile(r"^[a-z_][a-z0-9_.-]{0,63}\Z")
# Slurm accounts may also start with a digit: CRIANN's project accounts are numbers (2017018).
_ACCOUNT = re.compile(r"^[a-z0-9_][a-z0-9_.-]{0,63}\Z")
_PARTITION = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\Z")
_SLURM_JOB_ID = re.compile(r"^\d+(?:_\d+)?\Z")
_ARRAY = re.compile(r"^\d+(?:-\d+(?::\d+)?)?(?:,\d+(?:-\d+(?::\d+)?)?)*(?:%\d+)?\Z")
_MEM = re.compile(r"^(\d+)([KMGT]?)B?\Z", re.IGNORECASE)
_GRES = re.compile(r"^([a-z][a-z0-9_]*)(?::([A-Za-z0-9_.-]+))?(?::(\d+))?\Z")
# Control characters, and the invisible ones that change how the text around them shows: the
# bidirectional overrides, embeddings and isolates (a name that reads 'test.sh' but is
# 'hs.tset' to a lead or an admin: 'Trojan Source', CVE-2021-42574) and the line and paragraph
# separators.
_CONTROL = re.compile("[\x00-\x1f\x7f\x80-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
# Absolute paths of plain characters: one word for every shell (sh, bash, zsh, tcsh) and in an
# ``env NAME=value`` assignment, with nothing to expand.
_ABSOLUTE = r"/[A-Za-z0-9._+-]+(?:/[A-Za-z0-9._+-]+)*"
_PROGRAM = re.compile(rf"^{_ABSOLUTE}$")
_SEARCH_PATH = re.compile(rf"^{_ABSOLUTE}(?::{_ABSOLUTE})*$")


def has_hidden_characters(value: str) -> bool:
    """Whether ``value`` holds a control character (C0, DEL, C1) or an invisible one that changes
    how the text around it shows (bidirectional overrides and isolates, LRM/RLM/ALM, line and
    paragraph separators): free text shown to others must have none."""
    return _CONTROL.search(value) is not None


def _check_text(field: str, value: str, max_len: int) -> str:
    if not value:
        raise UnsafeValue(Text("%(field)s must not be empty", field=field))
    if len(value) > max_len:
        raise UnsafeValue(Text("%(field)s is longer than %(max)s characters", field=field, max=max_len))
    if _CONTROL.search(value):
        raise UnsafeValue(Text("%(field)s contains a control character (newline, tab, NUL…)", field=field))
    return value


def login(value: str, field: str = "login") -> str:
    """A cluster login (Unix user name)."""
    if not _NAME.fullmatch(value):
        raise UnsafeValue(
            Text(
                "%(field)s %(value)s is not a valid login: lowercase letters, digits, '_', '.', '-'",
                field=field,
                value=repr(value),
            )
        )
    return value


def account(value: str, field: str = "account") -> str:
    """A Slurm account name (``caen-climat``, or a project number such as ``2017018``)."""
    if not _ACCOUNT.fullmatch(value):
        raise UnsafeValue(
            Text("%(field)s %(value)s is not a valid Slurm account name", field=field, value=repr(value))
        )
    return value


def partition(value: str, field: str = "partition") -> str:
    if not _PARTITION.fullmatch(value):
        raise UnsafeValue(
            Text("%(field)s %(value)s is not a valid partition name", field=field, value=repr(value))
        )
    return value


def slurm_job_id(value: str, field: str = "slurm_job_id") -> str:
    """A Slurm job id: ``123`` or an array task ``123_4``."""
    if not _SLURM_JOB_ID.fullmatch(value):
        raise UnsafeValue(Text("%(field)s %(value)s is not a Slurm job id", field=field, value=repr(value)))
    return value


def job_name(value: str) -> str:
    """Any printable text; it travels as one argv element, so quotes and $() are harmless."""
    return _check_text("job name", value, 200)


def file_pattern(value: str, field: str) -> str:
    """An --output/--error/--chdir path: printable, no leading '-', no '..' component."""
    _check_text(field, value, 1024)
    if value.startswith("-"):
        raise UnsafeValue(Text("%(field)s must not start with '-'", field=field))
    if ".." in value.split("/"):
        raise UnsafeValue(Text("%(field)s must not contain a '..' component", field=field))
    return value


def array(value: str) -> str:
    """An --array index list such as ``0-15``, ``1,3,5-7:2`` or ``0-99%10``."""
    if not _ARRAY.fullmatch(value):
        raise JobSpecInvalid(
            Text("array %(value)s is not an index list such as 0-15, 1,3,5 or 0-99%%10", value=repr(value))
        )
    return value


def parse_memory_mb(value: str, field: str | Text = "mem") -> int:
    """Megabytes in a Slurm memory size (``4000``, ``4G``, ``512M``); the default unit is MB."""
    m = _MEM.match(value.strip())
    if not m:
        raise JobSpecInvalid(
            Text(
                "%(field)s %(value)s is not a memory size such as 4000, 512M or 4G",
                field=field,
                value=repr(value),
            )
        )
    number, unit = int(m.group(1)), m.group(2).upper()
    factor = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024 * 1024}[unit]
    mb = int(number * factor)
    if mb <= 0:
        raise JobSpecInvalid(
            Text("%(field)s %(value)s must be at least 1 MB", field=field, value=repr(value))
        )
    return mb


def parse_gres(value: str) -> tuple[tuple[str, str | None, int], ...]:
    """``gpu:2`` or ``gpu:v100:2,gpu:1`` -> ((name, type, count), ...)."""
    items: list[tuple[str, str | None, int]] = []
    for part in value.split(","):
        m = _GRES.match(part.strip())
        if not m:
            raise JobSpecInvalid(
                Text("gres %(value)s is not a GRES list such as gpu:2 or gpu:v100:1", value=repr(value))
            )
        name, kind, count = m.group(1), m.group(2), m.group(3)
        if count is None and kind is not None and kind.isdigit():
            kind, count = None, kind
        n = int(count) if count is not None else 1
        if n <= 0:
            raise JobSpecInvalid(Text("gres %(value)s: the count must be at least 1", value=repr(value)))
        items.append((name, kind, n))
    return tuple(items)


def program_path(value: str, field: str = "program") -> str:
    """An absolute program path such as ``/usr/bin/python3`` (never looked up on a PATH)."""
    if not _PROGRAM.fullmatch(value) or ".." in value.split("/"):
        raise UnsafeValue(
            Text(
                "%(field)s %(value)s must be an absolute path of plain characters",
                field=field,
                value=repr(value),
            )
        )
    return value


def search_path(value: str, field: str = "path") -> str:
    """A PATH of absolute directories, e.g. ``/usr/local/bin:/usr/bin:/bin``."""
    if not _SEARCH_PATH.fullmatch(value) or ".." in value.replace(":", "/").split("/"):
        raise UnsafeValue(
            Text(
                "%(field)s %(value)s must be absolute directories separated by ':'",
                field=field,
                value=repr(value),
            )
        )
    return value


def job_uuid(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError as exc:
        raise UnsafeValue(Text("%(value)s is not a job id", value=repr(value))) from exc
