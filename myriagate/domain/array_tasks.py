"""Array jobs task by task: which indexes an ``--array`` list holds, and how its tasks stand.

Pure rules shared by the job page, the API and the CLI: the summary a person reads
("12 done, 2 failed, 6 waiting") is counted here once, in English msgids the page catalogs
translate (a singular msgid of its own where French inflects: « 1 terminée », « 2 terminées »).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from myriagate.domain.states import JobState

# (count name, msgid for one task, msgid for several), in the order a summary says them.
SUMMARY_WORDS: tuple[tuple[str, str, str], ...] = (
    ("done", "1 done", "%(n)s done"),
    ("failed", "1 failed", "%(n)s failed"),
    ("cancelled", "1 cancelled", "%(n)s cancelled"),
    ("running", "1 running", "%(n)s running"),
    ("waiting", "1 waiting", "%(n)s waiting"),
)


@dataclass(frozen=True)
class TaskCounts:
    """How many tasks of an array are done, failed, cancelled, running or still waiting."""

    done: int = 0
    failed: int = 0
    cancelled: int = 0
    running: int = 0
    waiting: int = 0

    @property
    def total(self) -> int:
        return self.done + self.failed + self.cancelled + self.running + self.waiting


def count_tasks(states: Iterable[JobState | None], total: int) -> TaskCounts:
    """Counts over the tasks' states; tasks Slurm has not shown yet (``total`` minus those
    given) are waiting, as are tasks in a state the gateway does not know (``None``)."""
    done = failed = cancelled = running = seen = 0
    for state in states:
        seen += 1
        if state is JobState.COMPLETED:
            done += 1
        elif state is JobState.CANCELLED:
            cancelled += 1
        elif state is not None and state.is_final:
            failed += 1  # timed out, out of memory, node failure… each an unsuccessful end
        elif state in (JobState.RUNNING, JobState.SUSPENDED):
            running += 1
    waiting = max(total, seen) - done - failed - cancelled - running
    return TaskCounts(done=done, failed=failed, cancelled=cancelled, running=running, waiting=waiting)


def summary_parts(counts: TaskCounts) -> list[tuple[str, int]]:
    """(msgid, n) of each non-zero count, to be said with ``n`` filled in and joined by ", "."""
    parts: list[tuple[str, int]] = []
    for name, one, several in SUMMARY_WORDS:
        n = getattr(counts, name)
        if n:
            parts.append((one if n == 1 else several, n))
    return parts


def english_summary(counts: TaskCounts) -> str:
    """``12 done, 2 failed, 6 waiting`` (the API's and the CLI's words)."""
    return ", ".join(msgid % {"n": n} if "%" in msgid else msgid for msgid, n in summary_parts(counts))


def _parts(spec: str) -> Iterable[tuple[int, int, int]]:
    for part in spec.split("%", 1)[0].split(","):
        bounds, _, step = part.partition(":")
        low, _, high = bounds.partition("-")
        yield int(low), int(high or low), int(step or 1)


def has_index(spec: str, index: int) -> bool:
    """Whether the ``--array`` list ``spec`` (already validated) holds task ``index``, without
    expanding it (a list may name millions of indexes)."""
    return any(low <= index <= high and (index - low) % step == 0 for low, high, step in _parts(spec))


def first_index(spec: str) -> int:
    """The lowest index of a validated ``--array`` list."""
    return min(low for low, _, _ in _parts(spec))
