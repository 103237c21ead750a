"""Hostile strings for every field that may reach a shell or a Slurm command line.

Each must either be refused with a clear error or arrive verbatim; nothing is executed.
``CANARY`` is the file the command-injection payloads try to create.
"""

from __future__ import annotations

CANARY = "/tmp/myriagate-pwned"

HOSTILE_STRINGS: list[str] = [
    "it's",
    'say "hi"',
    f"$(touch {CANARY})",
    f"`touch {CANARY}`",
    f"; touch {CANARY}",
    f"&& touch {CANARY}",
    f"| touch {CANARY}",
    f"x\ntouch {CANARY}",
    "--uid=0",
    "-J evil",
    "a,b,c",
    "a b  c",
    "${HOME}",
    "$HOME",
    "*",
    "~root",
    "\\",
    "'; rm -rf / #",
    "100%",
    "%j%x%u",
    "é à ü — Ω",
    "\x1f\x1e",
    "tab\there",
    "\x00nul",
]

# Not UTF-8: must be refused cleanly where text is expected.
HOSTILE_BYTES: list[bytes] = [b"\xff\xfe\xfd", b"caf\xe9"]

# Markup that must be shown as text on every page, never run (the pages escape everything).
XSS_STRINGS: list[str] = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "</textarea><script>alert(2)</script>",
    "javascript:alert(3)",
]
