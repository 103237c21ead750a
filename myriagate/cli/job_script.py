"""``myriagate jobs show``: the options and script a researcher sent, as they would read them.

The options are quoted as a shell would need them and wrapped between options (never inside
one), continued with a backslash like a command line, within the terminal's width (80 columns
when it is not a terminal). The flags the gateway adds to every job and the markers it puts
on the script's header lines are left out (``domain.sent_script``); ``--json`` keeps both
exactly as sent.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from datetime import datetime

from myriagate.cli.output import console
from myriagate.domain.sent_script import HANDLED_PREFIX, as_written, options_asked

INDENT = "    "


def at_with_zone(at: datetime | None) -> str:
    """``2026-12-05 07:50:43 CET``: the terminal's time zone, named (a bare time is ambiguous)."""
    return at.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z") if at else ""


def command_lines(sbatch_args: Sequence[str], width: int) -> list[str]:
    """``sbatch <options>`` over lines of at most ``width`` columns where the options allow,
    each continued with `` \\``; an option longer than a line stands on its own."""
    words = [_quoted(arg) for arg in options_asked(sbatch_args)]
    lines: list[str] = []
    current = "sbatch"
    for word in words:
        if len(current) + 1 + len(word) + 2 <= width:
            current += " " + word
        else:
            lines.append(current + " \\")
            current = INDENT + word
    lines.append(current)
    return lines


def _quoted(arg: str) -> str:
    """``--job-name='demo staging'`` rather than ``'--job-name=demo staging'``: the same words
    for a shell, read as a researcher would type them."""
    name, equals, value = arg.partition("=")
    if equals and name.startswith("--") and shlex.quote(name) == name:
        return f"{name}={shlex.quote(value)}"
    return shlex.quote(arg)


def print_sent(sbatch_args: Sequence[str], script: str) -> None:
    """The options line and the script as written, with a word on what the gateway changed."""
    out = console()
    width = min(out.width, 100) if out.is_terminal else 80
    for line in command_lines(sbatch_args, width):
        out.print(line, markup=False, highlight=False, soft_wrap=True)
    out.rule("script (as written)")
    out.print(as_written(script), markup=False, highlight=False, end="", soft_wrap=True)
    if HANDLED_PREFIX in script:
        out.print(
            "\n(its #SBATCH lines were read by the gateway and sent as the options above)",
            markup=False,
            highlight=False,
        )
