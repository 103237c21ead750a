"""Slurm hostlists (``node[001-003,007]``, ``vm``, ``gpu[1-2],visu1``): read, checked, expanded.

Profiles name a partition's nodes with one (``nodes = "node[001-004]"``) and jobs name nodes
with ``--nodelist`` / ``--exclude``; both are checked here before any command sees them.
The syntax is Slurm's: items separated by commas, each item plain text with bracket groups of
numbers and ranges (the lower bound's width sets the zero padding: ``[01-10]`` gives 01…10,
``[8-10]`` gives 8, 9, 10). Several groups in one item multiply (``r[1-2]n[1-2]``: four
hosts), as in Slurm. Brackets inside brackets are not Slurm syntax and are refused, as is
anything that would expand past ``MAX_HOSTS`` names.
"""

from __future__ import annotations

import re
from itertools import product

from myriagate.errors import Text, UnsafeValue

MAX_HOSTS = 100_000
MAX_LENGTH = 4096
_TEXT = re.compile(r"[A-Za-z0-9._-]*")
_RANGE = re.compile(r"(\d+)(?:-(\d+))?")


def expand(value: str, field: str = "nodelist") -> tuple[str, ...]:
    """Every host name of ``value``, in order, each once; UnsafeValue saying what is wrong."""
    if not value:
        raise UnsafeValue(Text("%(field)s must not be empty", field=field))
    if len(value) > MAX_LENGTH:
        raise UnsafeValue(
            Text("%(field)s is longer than %(max_length)s characters", field=field, max_length=MAX_LENGTH)
        )
    hosts: dict[str, None] = {}
    for item in _items(value, field):
        for host in _expand_item(item, value, field):
            hosts[host] = None
            if len(hosts) > MAX_HOSTS:
                raise UnsafeValue(
                    Text(
                        "%(field)s %(value)s names more than %(max_hosts)s hosts",
                        field=field,
                        value=repr(value),
                        max_hosts=MAX_HOSTS,
                    )
                )
    return tuple(hosts)


def check(value: str, field: str = "nodelist") -> str:
    """``value`` when it is a valid hostlist (see ``expand``)."""
    expand(value, field)
    return value


def contains(hostlist: str, host: str) -> bool:
    """Whether ``host`` is one of the names of ``hostlist``."""
    return host in expand(hostlist)


def _items(value: str, field: str) -> list[str]:
    """Split at the commas outside brackets, refusing nested or unbalanced brackets."""
    items: list[str] = []
    depth = 0
    start = 0
    for i, char in enumerate(value):
        if char == "[":
            if depth:
                raise UnsafeValue(
                    Text(
                        "%(field)s %(value)s: brackets inside brackets are not a Slurm hostlist (write "
                        "node[1-3,5], not node[1-[2-3]])",
                        field=field,
                        value=repr(value),
                    )
                )
            depth = 1
        elif char == "]":
            if not depth:
                raise UnsafeValue(
                    Text(
                        "%(field)s %(value)s: ']' at position %(position)s closes no '['",
                        field=field,
                        value=repr(value),
                        position=i + 1,
                    )
                )
            depth = 0
        elif char == "," and not depth:
            items.append(value[start:i])
            start = i + 1
    if depth:
        raise UnsafeValue(Text("%(field)s %(value)s: a '[' is never closed", field=field, value=repr(value)))
    items.append(value[start:])
    if any(not item for item in items):
        raise UnsafeValue(
            Text(
                "%(field)s %(value)s has an empty name (two commas, or one at an end)",
                field=field,
                value=repr(value),
            )
        )
    return items


def _expand_item(item: str, value: str, field: str) -> list[str]:
    """One comma-free item: text and bracket groups, multiplied out."""
    choices: list[list[str]] = []
    count = 1
    for i, part in enumerate(re.split(r"[\[\]]", item)):
        if i % 2 == 0:  # text between groups
            if not _TEXT.fullmatch(part):
                raise UnsafeValue(
                    Text(
                        "%(field)s %(value)s: %(part)s is not a host name (letters, digits, '.', '_', '-')",
                        field=field,
                        value=repr(value),
                        part=repr(part),
                    )
                )
            choices.append([part])
        else:
            choices.append(_numbers(part, value, field))
        count *= len(choices[-1])
        if count > MAX_HOSTS:  # group by group: a hundred groups of 99,999 are never all built
            raise UnsafeValue(
                Text(
                    "%(field)s %(value)s names more than %(max_hosts)s hosts",
                    field=field,
                    value=repr(value),
                    max_hosts=MAX_HOSTS,
                )
            )
    hosts = ["".join(parts) for parts in product(*choices)]
    for host in hosts:
        if host.startswith("-"):
            raise UnsafeValue(
                Text("%(field)s %(value)s: a host name cannot start with '-'", field=field, value=repr(value))
            )
    return hosts


def _numbers(group: str, value: str, field: str) -> list[str]:
    """The inside of one bracket group: ``001-003,007`` -> 001, 002, 003, 007."""
    out: list[str] = []
    for piece in group.split(","):
        match = _RANGE.fullmatch(piece)
        if match is None:
            raise UnsafeValue(
                Text(
                    "%(field)s %(value)s: [%(group)s] must hold numbers and ranges such as [001-003,007]",
                    field=field,
                    value=repr(value),
                    group=group,
                )
            )
        low_text, high_text = match.group(1), match.group(2)
        low = int(low_text)
        high = low if high_text is None else int(high_text)
        if high < low:
            raise UnsafeValue(
                Text(
                    "%(field)s %(value)s: the range %(piece)s goes backwards",
                    field=field,
                    value=repr(value),
                    piece=piece,
                )
            )
        if len(out) + high - low >= MAX_HOSTS:  # the group so far, before any name is built
            raise UnsafeValue(
                Text(
                    "%(field)s %(value)s names more than %(max_hosts)s hosts",
                    field=field,
                    value=repr(value),
                    max_hosts=MAX_HOSTS,
                )
            )
        width = len(low_text)
        out.extend(f"{n:0{width}d}" for n in range(low, high + 1))
    return out


__all__ = ["MAX_HOSTS", "check", "contains", "expand"]
