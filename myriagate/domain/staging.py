"""Pure rules of data staging: safe relative paths, output patterns and the residency policy.

Every path a researcher names (an input file, an output pattern) is relative to a root the
gateway chose (the job's directory, a dataset's directory). These validators refuse anything
that could leave that root by its spelling; adapters also refuse symlinks that lead outside,
which only the file system can tell.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass

from myriagate.errors import ResidencyViolation, UnsafeValue

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_PATH = 1024
_MAX_COMPONENT = 255
# Glob metacharacters accepted in output patterns; '[' ']' classes are allowed as fnmatch has them.
# The stager's own directory at the root of every tree it writes (partial files, manifest).
RESERVED_DIR = ".myriagate"
# Characters no stored name may hold: C0, DEL and C1 controls (Cc), lone surrogates (Cs, not
# encodable on a file system), line and paragraph separators (Zl, Zp: they end lines too).
_UNSTORABLE = frozenset({"Cc", "Cs", "Zl", "Zp"})
# Characters an audited value shows escaped: the above, plus format characters (bidi
# overrides), private use and unassigned code points, and what could open HTML or a quote.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp", "Cf", "Co", "Cn"})
_ESCAPED_ASCII = frozenset("\\<>&\"'`")


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
    """A glob relative to the job's directory, such as ``results/*.h5`` or ``out/**/*.csv``;
    not under the reserved ``.myriagate/`` and free of any control character (C1 included)."""
    _refuse_unstorable_characters(value, field)
    clean = relative_path(value, field)
    _refuse_reserved(clean, field)
    return clean


def storable_path(value: str, field: str = "path") -> str:
    """A name a file can be stored under in a job's directory or a dataset (an upload's path).

    Stricter than ``relative_path``, which normalises: besides '..', '.', absolute paths, '~'
    and a leading '-', it refuses empty components (``a//b``, a trailing '/'), every control
    character (C0, DEL, C1, newline), lone surrogates and Unicode line separators, a path over
    1024 bytes of UTF-8, and the reserved ``.myriagate/`` in any case (the stager's own files
    live there; a case-insensitive file system would mix the two).
    """
    _refuse_unstorable_characters(value, field)
    if len(value.encode()) > _MAX_PATH:
        raise UnsafeValue(f"{field} is longer than {_MAX_PATH} bytes")
    clean = relative_path(value, field)
    if "" in value.split("/"):
        raise UnsafeValue(f"{field} {value!r} has an empty component ('//' or a '/' at its end)")
    _refuse_reserved(clean, field)
    return clean


def is_reserved(clean: str) -> bool:
    """Whether a normalised relative path is (under) the stager's reserved directory, in any case."""
    return clean.split("/", 1)[0].casefold() == RESERVED_DIR


def _refuse_reserved(clean: str, field: str) -> None:
    if is_reserved(clean):
        raise UnsafeValue(f"{field} {clean!r}: {RESERVED_DIR}/ is reserved for the gateway's own files")


def _refuse_unstorable_characters(value: str, field: str) -> None:
    for char in value:
        if unicodedata.category(char) in _UNSTORABLE:
            raise UnsafeValue(
                f"{field} contains a control character ({escaped(char)}): newline, tab, NUL… are refused"
            )


def escaped(value: str, limit: int = 512) -> str:
    """``value`` as it may be shown in an audit entry, a log line or a page: control, format
    and separator characters, backslash, quotes and ``<>&`` become ``\\xNN``/``\\uNNNN``/
    ``\\UNNNNNNNN`` escapes, so it can neither start a line nor close markup; printable text
    (accented letters included) is kept. Longer than ``limit`` characters: cut, marked ``…``."""
    out: list[str] = []
    for char in value[:limit]:
        if char in _ESCAPED_ASCII or unicodedata.category(char) in _ESCAPED_CATEGORIES:
            code = ord(char)
            width = 2 if code < 0x100 else 4 if code < 0x10000 else 8
            out.append("\\" + {2: "x", 4: "u", 8: "U"}[width] + format(code, f"0{width}x"))
        else:
            out.append(char)
    return "".join(out) + ("…" if len(value) > limit else "")


def store_refusal(value: str) -> str:
    """Why ``value`` is not a storage endpoint of the profile (it is not one of its names):
    ``ip_literal`` (an address, bare, with a port or in a URL, in any form a resolver takes:
    ``10.0.0.5``, ``[::1]:22``, ``sftp://127.1/x``, ``2130706433``), ``host_not_configured``
    (a host name or URL: ``paris.example.org``, ``sftp://evil.example/x``) or
    ``unknown_endpoint`` (any other name)."""
    rest = value.split("://", 1)[1] if "://" in value else value
    authority = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    if authority.startswith("["):
        host = authority[1:].split("]", 1)[0]
    elif authority.count(":") == 1:
        host = authority.split(":", 1)[0]  # host:port
    else:
        host = authority  # a bare name, or a bare IPv6 address (several ':')
    if _is_ip_literal(host):
        return "ip_literal"
    if "://" in value or "/" in value or "@" in value or "." in host or ":" in authority:
        return "host_not_configured"
    return "unknown_endpoint"


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return True
    # The forms inet_aton takes and ipaddress does not (127.1, 0x7f.0.0.1, 2130706433).
    if host and host[0].isdigit() and all(c in "0123456789abcdefxABCDEFX." for c in host):
        try:
            socket.inet_aton(host)
        except OSError:
            return False
        return True
    return False


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
