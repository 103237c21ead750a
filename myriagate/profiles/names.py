"""Names a profile lists for Slurm: node features (--constraint), GRES types (a100,
a100_1g.10gb), QOS and licenses. Plain names that cannot carry Slurm's own operators
(& | , * [ ] : =) or reach a shell as more than one word; each list without repeats.
Raises ValueError, which pydantic reports with the profile's file and key."""

from __future__ import annotations

import re

FEATURE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
QOS = re.compile(r"[a-z0-9_][a-z0-9_.-]{0,63}")
# name[@server], as sbatch --licenses reads it
LICENSE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}(?:@[A-Za-z0-9_][A-Za-z0-9_.-]{0,63})?")


def unique(values: tuple[str, ...], pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
    """``values`` when each matches ``pattern`` entirely and none repeats."""
    for name in values:
        if not pattern.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid {what} name")
    duplicates = sorted({n for n in values if values.count(n) > 1})
    if duplicates:
        raise ValueError(f"{what} names must be unique: {', '.join(duplicates)}")
    return values


def gpu_types(values: tuple[str, ...]) -> tuple[str, ...]:
    return unique(values, FEATURE, "GPU type")


def features(values: tuple[str, ...]) -> tuple[str, ...]:
    return unique(values, FEATURE, "node feature")


def qos(values: tuple[str, ...]) -> tuple[str, ...]:
    return unique(values, QOS, "QOS")


def licenses(values: tuple[str, ...]) -> tuple[str, ...]:
    return unique(values, LICENSE, "license")


__all__ = ["FEATURE", "LICENSE", "QOS", "features", "gpu_types", "licenses", "qos", "unique"]
