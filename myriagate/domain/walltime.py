"""Slurm time strings <-> seconds.

Slurm accepts "minutes", "minutes:seconds", "hours:minutes:seconds", "days-hours",
"days-hours:minutes" and "days-hours:minutes:seconds" (sbatch(1), --time).
"""

from __future__ import annotations

import re

from myriagate.errors import JobSpecInvalid, Text

_DAYS = re.compile(r"^(\d+)-(\d+)(?::(\d+))?(?::(\d+))?\Z")
_PLAIN = re.compile(r"^(\d+)(?::(\d+))?(?::(\d+))?\Z")

UNLIMITED = frozenset({"UNLIMITED", "INFINITE", "Partition_Limit"})


def parse_walltime(text: str) -> int:
    """Seconds in a Slurm time string; raises JobSpecInvalid with the accepted forms."""
    value = text.strip()
    if m := _DAYS.match(value):
        days, hours, minutes, seconds = (int(g) if g else 0 for g in m.groups())
        total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    elif m := _PLAIN.match(value):
        parts = [int(g) for g in m.groups() if g is not None]
        if len(parts) == 1:
            total = parts[0] * 60
        elif len(parts) == 2:
            total = parts[0] * 60 + parts[1]
        else:
            total = (parts[0] * 60 + parts[1]) * 60 + parts[2]
    else:
        raise JobSpecInvalid(
            Text(
                "%(text)s is not a Slurm time: use minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS",
                text=repr(text),
            )
        )
    if total <= 0:
        raise JobSpecInvalid(Text("time limit %(text)s must be longer than zero", text=repr(text)))
    return total


def format_walltime(seconds: int) -> str:
    """The canonical Slurm form of ``seconds`` (D-HH:MM:SS, or HH:MM:SS under a day)."""
    if seconds < 0:
        raise ValueError("negative duration")
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}-{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"
