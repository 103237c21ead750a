"""Text from the cluster made harmless for a terminal: control characters shown, not obeyed.

A job's output or a file's preview is written by whatever ran on the cluster, so it may hold
escape sequences (``ESC [ 31 m`` colours, ``ESC ] 0 ; TITLE BEL`` window titles, cursor moves,
and worse on some terminals) aimed at whoever reads it, a project lead or an admin as well as
its owner. ``visible`` spells every control character out instead, as ``cat -v`` does:
``^[`` for ESC, ``^G`` for BEL, ``^?`` for DEL, ``^M`` for a carriage return not ending a line,
and ``<U+009B>`` for the 8-bit controls (U+0080 to U+009F, which some terminals obey too).
Newlines and tabs are kept, and so is the ``\\r`` of a ``\\r\\n`` line end.

This is done whether stdout is a terminal or not: output piped to ``less -R`` or ``tee`` and
read later reaches a terminal all the same. ``--raw`` gives the bytes exactly as they are.
"""

from __future__ import annotations

import re

# C0 controls but \t and \n, a \r not followed by \n, DEL, and the C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f]|\r(?!\n)")


def _spelled(found: re.Match[str]) -> str:
    char = found[0]
    code = ord(char)
    if code < 0x20:
        return "^" + chr(code + 0x40)
    if code == 0x7F:
        return "^?"
    return f"<U+{code:04X}>"


def visible(text: str) -> str:
    """``text`` with its control characters spelled out (module docstring); \\n and \\t kept."""
    return _CONTROL.sub(_spelled, text)
