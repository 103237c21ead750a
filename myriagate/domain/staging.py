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

from myriagate.errors import ResidencyViolation, Text, UnsafeValue

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


# What a path is called in messages (the callers' ``field``): said in the reader's language.
_FIELD_NAMES: dict[str, Text] = {
    "path": Text("path"),
    "output pattern": Text("output pattern"),
    "file path": Text("file path"),
    "dataset file": Text("dataset file"),
    "input path": Text("input path"),
    "file": Text("file"),
}


def _named(field: str) -> str:
    """The name of a checked path, as a message when it is one of ours (pages translate it)."""
    return _FIELD_NAMES.get(field, field)


def relative_path(value: str, field: str = "path") -> str:
    """A relative POSIX path that stays under its root: no '/' prefix, no '..', no '.', no '~'.

    Returns the normalised form (``a//b/`` becomes ``a/b``) so two spellings of one file are
    one key.
    """
    name, shown = _named(field), repr(value)
    if not value:
        raise UnsafeValue(Text("%(field)s must not be empty", field=name))
    if len(value) > _MAX_PATH:
        raise UnsafeValue(Text("%(field)s is longer than %(max)s characters", field=name, max=_MAX_PATH))
    if _CONTROL.search(value):
        raise UnsafeValue(Text("%(field)s contains a control character (newline, tab, NUL…)", field=name))
    if value.startswith("/"):
        raise UnsafeValue(
            Text("%(field)s %(value)s must be relative, not an absolute path", field=name, value=shown)
        )
    if value.startswith("~"):
        raise UnsafeValue(Text("%(field)s %(value)s must not start with '~'", field=name, value=shown))
    if "\\" in value:
        raise UnsafeValue(
            Text("%(field)s %(value)s must use '/' as separator, not '\\'", field=name, value=shown)
        )
    parts = [part for part in value.split("/") if part]
    if not parts:
        raise UnsafeValue(Text("%(field)s %(value)s names no file", field=name, value=shown))
    for part in parts:
        _check_component(part, name, shown)
    return "/".join(parts)


def _check_component(part: str, name: str, shown: str) -> None:
    if part in ("..", "."):
        raise UnsafeValue(
            Text(
                "%(field)s %(value)s must not contain a '%(part)s' component",
                field=name,
                value=shown,
                part=part,
            )
        )
    if part.startswith("-"):
        raise UnsafeValue(
            Text("%(field)s %(value)s: a component must not start with '-'", field=name, value=shown)
        )
    if len(part.encode()) > _MAX_COMPONENT:
        raise UnsafeValue(
            Text(
                "%(field)s %(value)s: a component is longer than %(max)s bytes",
                field=name,
                value=shown,
                max=_MAX_COMPONENT,
            )
        )


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
        raise UnsafeValue(Text("%(field)s is longer than %(max)s bytes", field=_named(field), max=_MAX_PATH))
    clean = relative_path(value, field)
    if "" in value.split("/"):
        raise UnsafeValue(
            Text(
                "%(field)s %(value)s has an empty component ('//' or a '/' at its end)",
                field=_named(field),
                value=repr(value),
            )
        )
    _refuse_reserved(clean, field)
    return clean


def is_reserved(clean: str) -> bool:
    """Whether a normalised relative path is (under) the stager's reserved directory, in any case."""
    return clean.split("/", 1)[0].casefold() == RESERVED_DIR


def _refuse_reserved(clean: str, field: str) -> None:
    if is_reserved(clean):
        raise UnsafeValue(
            Text(
                "%(field)s %(value)s: %(reserved)s/ is reserved for the gateway's own files",
                field=_named(field),
                value=repr(clean),
                reserved=RESERVED_DIR,
            )
        )


def _refuse_unstorable_characters(value: str, field: str) -> None:
    for char in value:
        if unicodedata.category(char) in _UNSTORABLE:
            raise UnsafeValue(
                Text(
                    "%(field)s contains a control character (%(char)s): newline, tab, NUL… are refused",
                    field=_named(field),
                    char=escaped(char),
                )
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
        allowed = ", ".join(sorted(allowed_regions)) or Text("none")
        raise ResidencyViolation(
            Text(
                "storage endpoint %(endpoint)s is in %(site)s (%(region)s), outside the regions where "
                "data may be stored (%(allowed)s)",
                endpoint=repr(location.endpoint),
                site=location.site,
                region=location.region,
                allowed=allowed,
            )
        )
