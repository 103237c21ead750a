"""Pure rules of data staging: safe relative paths, output patterns and the residency policy.

Every path a researcher names (an input file, an output pattern) is relative to a root the
gateway chose (the job's directory, a dataset's directory). These validators refuse anything
that could leave that root by its spelling; adapters also refuse symlinks that lead outside,
which only the file system can tell.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from myriagate.errors import ResidencyViolation, UnsafeValue

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_PATH = 1024
_MAX_COMPONENT = 255
# Glob metacharacters accepted in output patterns; '[' ']' classes are allowed as fnmatch has them.
_GLOB_META = re.compile(r"[*?\[]")


def relative_path(value: str, field: str = "path") -> str:
    """A relative POSIX path that stays under its root: no '/' prefix, no '..', no '.', no '~'.

    Returns the normalised form (``a//b/`` becomes ``a/b``) so two spellings of one file are
    one key.
    """
    if not value:
        raise UnsafeValue(f"{field} must not be empty")
    if len(value) > _MAX_PATH:
        raise UnsafeValue(f"{field} is longer than {_MAX_PATH} characters")
    if _CONTROL.search(value):
        raise UnsafeValue(f"{field} contains a control character (newline, tab, NUL…)")
    if value.startswith("/"):
        raise UnsafeValue(f"{field} {value!r} must be relative, not an absolute path")
    if value.startswith("~"):
        raise UnsafeValue(f"{field} {value!r} must not start with '~'")
    if "\\" in value:
        raise UnsafeValue(f"{field} {value!r} must use '/' as separator, not '\\'")
    parts = [part for part in value.split("/") if part]
    if not parts:
        raise UnsafeValue(f"{field} {value!r} names no file")
    for part in parts:
        if part in ("..", "."):
            raise UnsafeValue(f"{field} {value!r} must not contain a '{part}' component")
        if part.startswith("-"):
            raise UnsafeValue(f"{field} {value!r}: a component must not start with '-'")
        if len(part.encode()) > _MAX_COMPONENT:
            raise UnsafeValue(f"{field} {value!r}: a component is longer than {_MAX_COMPONENT} bytes")
    return "/".join(parts)


def output_pattern(value: str, field: str = "output pattern") -> str:
    """A glob relative to the job's directory, such as ``results/*.h5`` or ``out/**/*.csv``."""
    return relative_path(value, field)


def is_glob(pattern: str) -> bool:
    return bool(_GLOB_META.search(pattern))


def unique_paths(paths: Iterable[str], field: str = "path") -> list[str]:
    """Validated, normalised, without duplicates, in the order given."""
    seen: dict[str, None] = {}
    for raw in paths:
        seen.setdefault(relative_path(raw, field), None)
    return list(seen)


@dataclass(frozen=True)
class Location:
    """Where a storage endpoint physically is, as its profile declares it."""

    endpoint: str
    site: str
    region: str
    operator: str

    def describe(self) -> str:
        return f"{self.site}, {self.region}"


def check_residency(location: Location, allowed_regions: Collection[str]) -> None:
    """Refuse a destination outside the allowed regions (ISO 3166-2 codes, e.g. FR-NOR).

    Pure: callers audit the refusal. Comparison is exact and case-sensitive on purpose:
    region codes are validated upper-case in profiles and settings.
    """
    if location.region not in allowed_regions:
        allowed = ", ".join(sorted(allowed_regions)) or "none"
        raise ResidencyViolation(
            f"storage endpoint {location.endpoint!r} is in {location.site} ({location.region}), "
            f"outside the regions where data may be stored ({allowed})"
        )
