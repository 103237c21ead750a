"""What every runner does with a command before and after it runs.

Both runners refuse the same argv, bound output the same way and turn an exit status into the
same result or error, so the Slurm backend sees one behaviour whichever runner it is given.
"""

from __future__ import annotations

from collections.abc import Sequence

from myriagate.errors import BackendError, SchedulerRejected, SubmissionUncertain, UnsafeValue
from myriagate.ports import CommandResult

DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024 * 1024
# Slurm's messages are short; a longer stderr is kept in the result, not in the error text.
_MAX_MESSAGE_CHARS = 2000


def checked_argv(argv: Sequence[str]) -> tuple[str, ...]:
    """The argv as a tuple, refusing what no exec can carry verbatim.

    A NUL byte cannot travel in an argv element (the kernel ends the string there), so
    accepting it would silently run a different command: it is refused instead.
    """
    if isinstance(argv, str | bytes):
        raise TypeError("a runner takes an argv sequence, never a shell string")
    items = tuple(argv)
    if not items:
        raise UnsafeValue("empty command")
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"argv elements must be str, not {type(item).__name__}")
        if "\x00" in item:
            raise UnsafeValue("a command argument contains a NUL byte")
    return items


def command_failed_message(argv: Sequence[str], returncode: int, stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace").strip()
    if not text:
        return f"{argv[0]} exited with status {returncode}"
    if len(text) > _MAX_MESSAGE_CHARS:
        text = text[:_MAX_MESSAGE_CHARS] + "…"
    return text


def finish(
    argv: tuple[str, ...], returncode: int, stdout: bytes, stderr: bytes, *, check: bool
) -> CommandResult:
    """The result, or SchedulerRejected (message = trimmed stderr) when check and rc != 0."""
    if check and returncode != 0:
        raise SchedulerRejected(command_failed_message(argv, returncode, stderr))
    return CommandResult(argv=argv, returncode=returncode, stdout=stdout, stderr=stderr)


def output_too_large(argv: Sequence[str], stream: str, limit: int) -> BackendError:
    """Not transient: the same command would print as much again."""
    return BackendError(
        f"{argv[0]} wrote more than {limit} bytes on {stream}; it was stopped and its output dropped"
    )


def outcome_unknown(argv: Sequence[str], reason: str) -> SubmissionUncertain:
    """The command was sent and may have run (and, for sbatch, created a job)."""
    return SubmissionUncertain(f"{argv[0]}: {reason}; the command may have run")
