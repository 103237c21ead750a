"""Progress on stderr for people at a terminal: transfer bars, and a bar for several jobs.

Shown only when stderr is a terminal and the command is not asked for ``--json`` (or
``--parsable``): stdout stays for results, and a log file or a pipe never fills with
redraws. rich's progress module is imported only when a bar is drawn, so commands start fast.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Self

from myriagate.web.api.schemas import JobOut

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, ProgressColumn, TaskID


def wanted(*, quiet: bool = False) -> bool:
    """Whether to draw progress: not asked to be quiet, and stderr is a terminal."""
    return not quiet and sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, no_color=bool(os.environ.get("NO_COLOR")))


class _Bar:
    """A rich Progress on stderr, started on enter when enabled, silent otherwise."""

    def __init__(self, *, enabled: bool, console: Console | None = None) -> None:
        self.enabled = enabled
        self._console = console
        self._progress: Progress | None = None

    def _columns(self) -> tuple[ProgressColumn, ...]:
        raise NotImplementedError

    def __enter__(self) -> Self:
        if self.enabled:
            from rich.progress import Progress

            console = self._console or stderr_console()
            self._progress = Progress(*self._columns(), console=console, transient=True)
            self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()


class TransferBar(_Bar):
    """``myriagate.client.TransferProgress`` drawn as a bar with bytes and speed."""

    _task: TaskID | None = None

    def _columns(self) -> tuple[ProgressColumn, ...]:
        from rich.progress import BarColumn, DownloadColumn, TextColumn, TransferSpeedColumn

        return (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())

    def start(self, label: str, total_bytes: int) -> None:
        if self._progress is None:
            return
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(label, total=total_bytes)

    def advance(self, nbytes: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, nbytes)


def summary(jobs: Sequence[JobOut]) -> str:
    """``2 completed, 1 failed, 3 running`` — final states first, in a stable order."""
    counts = Counter(job.state.value for job in jobs)
    finals = sorted({j.state.value for j in jobs if j.state.is_final})
    others = sorted(set(counts) - set(finals))
    return ", ".join(f"{counts[name]} {name}" for name in finals + others)


class JobsBar(_Bar):
    """How many of several jobs have ended, and the count per state."""

    _task: TaskID | None = None

    def _columns(self) -> tuple[ProgressColumn, ...]:
        from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn

        return (SpinnerColumn(), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"))

    def update(self, jobs: Sequence[JobOut]) -> None:
        if self._progress is None:
            return
        ended = sum(1 for job in jobs if job.state.is_final)
        if self._task is None:
            self._task = self._progress.add_task("", total=len(jobs))
        self._progress.update(self._task, completed=ended, description=summary(jobs))


class TasksBar(_Bar):
    """An array job's tasks: how many have ended, and Slurm's counts in words."""

    _task: TaskID | None = None

    def _columns(self) -> tuple[ProgressColumn, ...]:
        from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn

        return (SpinnerColumn(), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"))

    def update(self, job: JobOut) -> None:
        array = getattr(job, "array", None)  # JobDetail's; None until Slurm reported the tasks
        if self._progress is None or array is None:
            return
        ended = array.summary.done + array.summary.failed + array.summary.cancelled
        text = f"{job.state.value}: {array.summary.text}"
        if self._task is None:
            self._task = self._progress.add_task(text, total=array.task_count)
        self._progress.update(self._task, completed=ended, total=array.task_count, description=text)
