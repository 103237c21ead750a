"""How `myriagate jobs show` prints an array job: its range, the summary and its tasks."""

from __future__ import annotations

from datetime import datetime

from myriagate.cli.job_script import at_with_zone
from myriagate.cli.output import console, print_table
from myriagate.cli.tables import Col
from myriagate.web.api.array_schemas import ArrayOut, ArrayTaskOut

# Past this many tasks the table keeps those that did not simply finish well (`--json` has all).
MAX_ROWS = 100


def _when(at: datetime | None) -> str:
    return at_with_zone(at)  # the zone named, as every time jobs show prints (issue #15)


def _end(task: ArrayTaskOut) -> str:
    if task.signal:
        return f"signal {task.signal}"
    return "" if task.exit_code is None else str(task.exit_code)


def print_array(array: ArrayOut) -> None:
    """``array: 0-19%4 (20 tasks): 12 done, 2 failed, 6 waiting``, then a table of the tasks."""
    out = console()
    out.print(
        f"{'array':>13}: {array.range} ({array.task_count} tasks): {array.summary.text or 'none seen yet'}",
        markup=False,
        highlight=False,
    )
    tasks = array.tasks
    note = None
    if len(tasks) > MAX_ROWS:
        tasks = [t for t in tasks if t.state is None or t.state.value != "completed"][:MAX_ROWS]
        note = f"(tasks that did not complete, first {len(tasks)}; --json lists all {len(array.tasks)})"
    if tasks:
        _print_tasks(tasks)
    if note:
        out.print(note, markup=False, highlight=False)


def _print_tasks(tasks: list[ArrayTaskOut]) -> None:
    print_table(
        # Ids, exit codes and times stay whole; on a narrow terminal the tasks' Slurm ids (the
        # array's id and the task number, both shown already) give way first, then start times.
        (
            Col("task", whole=True),
            Col("slurm id", whole=True, priority=2),
            "state",
            Col("exit", whole=True),
            Col("started", whole=True, priority=1),
            Col("ended", whole=True),
        ),
        [
            (
                t.index,
                t.slurm_job_id,
                t.state.value if t.state else t.slurm_state,
                _end(t),
                _when(t.started_at),
                _when(t.ended_at),
            )
            for t in tasks
        ],
        title="Tasks",
    )
