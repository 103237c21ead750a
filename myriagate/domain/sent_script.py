"""What the gateway sends to sbatch, and how to show it to the researcher who wrote it.

Before a script is sent, its ``#SBATCH``/``#SLURM`` header lines (and any ``#PBS``/``#BSUB``)
are turned into comments sbatch does not read (``HANDLED_PREFIX``): the gateway has already
read them into the job's options, which go on sbatch's command line, so nothing is read twice
and a line the gateway refused cannot slip through. ``--ignore-pbs`` is always added for the
same reason. People are shown what they wrote and what they asked for; the API keeps the
exact script and argv.
"""

from __future__ import annotations

from collections.abc import Sequence

HANDLED_PREFIX = "#MYRIAGATE-HANDLED "
# Flags the gateway adds to every job: not something the researcher asked for.
GATEWAY_FLAGS = frozenset({"--ignore-pbs"})


def as_written(script_text: str) -> str:
    """The script as its author wrote it: each handled header line back to its ``#`` line."""
    lines = script_text.split("\n")
    return "\n".join(
        "#" + line[len(HANDLED_PREFIX) :] if line.startswith(HANDLED_PREFIX) else line for line in lines
    )


def options_asked(sbatch_args: Sequence[str]) -> list[str]:
    """sbatch's options for the job without the flags the gateway adds to every job."""
    return [arg for arg in sbatch_args if arg not in GATEWAY_FLAGS]
