"""An array job on its page: range, summary, tasks one by one, and one task's output at a time.

The output viewer shows the task asked for (``?task=N``, from the picker or a row's link),
else the first task that failed, else the first running, else the lowest index: the task a
researcher most likely came to read. Its files are read as the job's login, like a plain job's.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from myriagate.domain.array_tasks import TaskCounts, first_index, has_index, summary_parts
from myriagate.domain.states import JobState
from myriagate.errors import MyriagateError
from myriagate.services.jobs import array_tasks
from myriagate.services.jobs.outputs import Stream, output_path, read_output
from myriagate.services.jobs.queries import JobDetailRecord
from myriagate.services.people.auth import User
from myriagate.web.i18n import Translator
from myriagate.wiring import Gateway

# A select of more tasks than this is no help: the page offers a number field instead.
PICKER_MAX = 500
# Rows of the task table; a larger array shows the tasks worth a look first (the CLI and API
# list them all).
TABLE_MAX = 200


def localized_summary(t: Translator, counts: TaskCounts) -> str:
    """``12 done, 2 failed, 6 waiting`` / « 12 terminées, 2 en échec, 6 en attente »."""
    return ", ".join(t(msgid, n=t.number(n)) for msgid, n in summary_parts(counts))


def default_task(array: array_tasks.ArrayView) -> int | None:
    """The task whose output the page shows when none was asked for."""
    tasks = array.tasks
    failed = [
        t for t in tasks if t.state is not None and t.state.is_final and t.state is not JobState.COMPLETED
    ]
    running = [t for t in tasks if t.state in (JobState.RUNNING, JobState.SUSPENDED)]
    for group in (failed, running, tasks):
        if group:
            return group[0].index
    return first_index(array.range) if array.range else None


def _table_rows(array: array_tasks.ArrayView) -> list[array_tasks.ArrayTaskRecord]:
    if len(array.tasks) <= TABLE_MAX:
        return list(array.tasks)

    # Failed, then running, then the rest: what a researcher looks for in a large array.
    def rank(task: array_tasks.ArrayTaskRecord) -> int:
        if task.state is None or task.state is JobState.COMPLETED:
            return 2
        return 0 if task.state.is_final else 1

    return sorted(array.tasks, key=lambda task: (rank(task), task.index))[:TABLE_MAX]


def _task_tails(
    gateway: Gateway, db: Session, job: JobDetailRecord, user: User, task: int, max_bytes: int
) -> tuple[dict[str, str], bool]:
    """The end of one task's output (and error file when separate); a cluster problem is shown."""
    task_job_id = array_tasks.task_raw_id(db, job.id, task)
    separate = output_path(job, "error", task, task_job_id) != output_path(job, "output", task, task_job_id)
    streams: tuple[Stream, ...] = ("output", "error") if separate else ("output",)
    tails: dict[str, str] = {}
    for stream in streams:
        try:
            data = read_output(
                db, job_id=job.id, user=user, backends=gateway.backends(job.cluster), stream=stream,
                max_bytes=max_bytes, array_task_id=task,
            )  # fmt: skip
        except MyriagateError as exc:
            tails[stream + "_problem"] = exc.detail
        else:
            tails[stream] = data.decode("utf-8", "replace")
    return tails, separate


def array_context(
    gateway: Gateway,
    db: Session,
    *,
    job: JobDetailRecord,
    user: User,
    can_act: bool,
    task: int | None,
    max_bytes: int,
) -> dict[str, Any]:
    """What ``_array_tasks.html`` needs; ``{"array": None}`` for a job that is not an array."""
    array = array_tasks.view(db, job)
    if array is None:
        return {"array": None}
    unknown_task = task is not None and not has_index(array.range, task)
    shown = default_task(array) if task is None or unknown_task else task
    tails: dict[str, str] = {}
    separate = False
    if can_act and job.slurm_job_id is not None and shown is not None:
        tails, separate = _task_tails(gateway, db, job, user, shown, max_bytes)
    return {
        "array": array,
        "array_rows": _table_rows(array),
        "array_picker": len(array.tasks) <= PICKER_MAX,
        "task_shown": shown,
        "unknown_task": task if unknown_task else None,
        "task_tails": tails,
        "task_separate_error": separate,
    }
