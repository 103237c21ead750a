"""The tasks of array jobs, one row each: written by tracking, read by the pages, API and CLI.

Slurm reports an array task by task (``123_4``); tracking folds them into the array job's
state (``slurm.arrays``) and hands the tasks here. Cost is bounded: tracking calls this only
for an array whose poll answer changed (its fingerprint covers every task's state and exit
code), and a call is one SELECT of the array's stored rows, then one INSERT and one UPDATE
(each an executemany) for just the tasks that are new or differ. A 1,000-task array with one
task changing costs one small UPDATE, not 1,000.

A task's state moves forward only, like a job's (``domain.states.advance``): a stale answer
never takes a finished task back to waiting.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.jobs import JobArrayTask
from myriagate.domain.array_tasks import TaskCounts, count_tasks, english_summary
from myriagate.domain.jobs import JobStatus
from myriagate.domain.states import JobState, advance
from myriagate.services.jobs.queries import JobDetailRecord

_STORED = ("raw_job_id", "state", "slurm_state", "exit_code", "signal", "started_at", "ended_at")


@dataclass(frozen=True, slots=True)
class ArrayTaskRecord:
    """One task of an array job as the gateway last recorded it."""

    index: int
    slurm_job_id: str  # ``123_4``, as Slurm's tools name it
    raw_job_id: str | None
    state: JobState | None
    slurm_state: str
    exit_code: int | None
    signal: int | None
    started_at: datetime | None
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class ArrayView:
    """An array job's index list as submitted (``0-19%4``), its tasks and their counts."""

    range: str
    tasks: tuple[ArrayTaskRecord, ...]
    counts: TaskCounts

    @property
    def summary(self) -> str:
        return english_summary(self.counts)


def _index(task: JobStatus) -> int | None:
    _, _, index = task.slurm_job_id.partition("_")
    return int(index) if index.isdigit() else None


def _row(task: JobStatus, stored: dict[str, object] | None) -> dict[str, object]:
    """The values to store for ``task`` given its stored row: states only move forward, and
    what Slurm stopped saying (an exit code, a start time) is kept."""
    old_state = stored["state"] if stored else None
    state = task.state
    if isinstance(old_state, JobState):
        state = old_state if state is None else advance(old_state, state)
    values: dict[str, object] = {
        "raw_job_id": task.raw_job_id,
        "state": state,
        # A stale answer left the state as it was: so is its Slurm name.
        "slurm_state": stored["slurm_state"]
        if stored and task.state and state != task.state
        else task.slurm_state,
        "exit_code": task.exit_code,
        "signal": task.signal,
        "started_at": task.started_at,
        "ended_at": task.ended_at,
    }
    if stored:
        for name in _STORED:
            if values[name] is None:
                values[name] = stored[name]
    return values


def record(session: Session, job_id: uuid.UUID, tasks: Iterable[JobStatus], *, now: datetime) -> int:
    """Store the tasks of one array job as Slurm reported them; returns how many rows were
    written. Tasks absent from ``tasks`` keep their rows (never guessed ended)."""
    given = {index: task for task in tasks if (index := _index(task)) is not None}
    if not given:
        return 0
    columns = [getattr(JobArrayTask, name) for name in ("task_index", *_STORED)]
    stored = {
        row.task_index: dict(row._mapping)
        for row in session.execute(sa.select(*columns).where(JobArrayTask.job_id == job_id))
    }
    inserts: list[dict[str, object]] = []
    updates: list[dict[str, object]] = []
    for index, task in given.items():
        old = stored.get(index)
        values = {"job_id": job_id, "task_index": index, "updated_at": now, **_row(task, old)}
        if old is None:
            inserts.append(values)
        elif any(values[name] != old[name] for name in _STORED):
            updates.append(values)
    # Each one executemany (an UPDATE by primary key for the rows that changed).
    if inserts:
        session.execute(sa.insert(JobArrayTask), inserts)
    if updates:
        session.execute(sa.update(JobArrayTask), updates)
    return len(inserts) + len(updates)


def tasks_of(session: Session, job_id: uuid.UUID, slurm_job_id: str | None) -> tuple[ArrayTaskRecord, ...]:
    """The recorded tasks of an array job, by index."""
    rows = session.scalars(
        sa.select(JobArrayTask).where(JobArrayTask.job_id == job_id).order_by(JobArrayTask.task_index)
    )
    parent = (slurm_job_id or "").partition("_")[0]
    return tuple(
        ArrayTaskRecord(
            index=row.task_index,
            slurm_job_id=f"{parent}_{row.task_index}",
            raw_job_id=row.raw_job_id,
            state=row.state,
            slurm_state=row.slurm_state,
            exit_code=row.exit_code,
            signal=row.signal,
            started_at=row.started_at,
            ended_at=row.ended_at,
        )
        for row in rows
    )


def task_raw_id(session: Session, job_id: uuid.UUID, index: int) -> str | None:
    """Slurm's own id of one task, once it started (None before, or for an unknown task)."""
    stmt = sa.select(JobArrayTask.raw_job_id).where(
        JobArrayTask.job_id == job_id, JobArrayTask.task_index == index
    )
    return session.scalar(stmt)


def view(session: Session, job: JobDetailRecord) -> ArrayView | None:
    """An array job as its page, the API and the CLI show it: range, tasks and counts (tasks
    Slurm has not shown yet count as waiting); None for a job that is not an array."""
    spec = job.spec.get("array")
    if not isinstance(spec, str) or job.array_task_count is None:
        return None
    tasks = tasks_of(session, job.id, job.slurm_job_id)
    return ArrayView(
        range=spec, tasks=tasks, counts=count_tasks((t.state for t in tasks), job.array_task_count)
    )
