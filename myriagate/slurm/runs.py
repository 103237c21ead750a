"""One usage per job from sacct's lines, every run and every array task counted (pure).

``sacct --allocations --duplicates`` prints one line per *run*: a job that Slurm requeued
(``scontrol requeue``, a node failure) has a line for each earlier run (state ``REQUEUED``,
or ``NODE_FAIL``) before the line of its current run, all under the same job id, oldest first
(checked on the dev cluster: ``tests/data/slurm/sacct_usage_requeued.out``, where the
earlier runs of several jobs come first, then the later runs). Each run held
its own allocation for its own elapsed time and Slurm billed each, so each is charged.

An array job is reported task by task (``123_4``); each task may have runs of its own.

The combined ``JobUsage`` takes its state, exit code and end from the current run (a job
that was requeued and waits to run again is not final, so it is not charged yet) and keeps
every run in ``runs``, which ``services.allocations.charging`` bills run by run.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import replace
from datetime import UTC, datetime

from myriagate.domain.jobs import JobUsage
from myriagate.slurm import arrays

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def by_job(rows: Iterable[JobUsage]) -> dict[str, list[JobUsage]]:
    """sacct's lines grouped by job (or task) id, in the order printed (oldest run first)."""
    grouped: dict[str, list[JobUsage]] = {}
    for row in rows:
        grouped.setdefault(row.slurm_job_id, []).append(row)
    return grouped


def one_job(records: list[JobUsage]) -> JobUsage:
    """The runs of one job id as one usage: the last run's state, every run's time."""
    if len(records) == 1:
        return records[0]
    # sacct prints runs in the order accounting recorded them; a run that has not started
    # (waiting after a requeue: Start=Unknown) is the current one. Stable: ties keep order.
    records = sorted(records, key=lambda r: (r.started_at is None, r.started_at or _EPOCH))
    current = records[-1]
    started = [r.started_at for r in records if r.started_at is not None]
    return replace(
        current,
        elapsed_s=sum(r.elapsed_s for r in records),
        started_at=min(started) if started else None,
        runs=tuple(records),
    )


def combine(slurm_job_ids: Collection[str], rows: Iterable[JobUsage]) -> dict[str, JobUsage]:
    """The usage of each requested id that sacct reported: a job (all its runs) or an array
    (all runs of all its tasks, asked for by the parent id). Ids sacct did not print are left
    out: accounting lags behind the controller, the caller tries again later."""
    # One pass, and no list per id: nearly every job ran once, and a settlement run reads
    # 100,000 lines (a list each would cost more than the rest of this function).
    once: dict[str, JobUsage] = {}
    again: dict[str, list[JobUsage]] = {}
    tasks: dict[str, list[str]] = {}
    for row in rows:
        key = row.slurm_job_id
        if key in again:
            again[key].append(row)
        elif key in once:
            again[key] = [once[key], row]
        else:
            once[key] = row
            if "_" in key:
                tasks.setdefault(key.split("_", 1)[0], []).append(key)

    def usage_of(key: str) -> JobUsage:
        return one_job(again[key]) if key in again else once[key]

    out: dict[str, JobUsage] = {}
    for job_id in slurm_job_ids:
        if job_id in once:
            out[job_id] = usage_of(job_id)
        elif "_" not in job_id and job_id in tasks:
            out[job_id] = array_job(job_id, [usage_of(task) for task in tasks[job_id]])
    return out


def array_job(parent: str, tasks: list[JobUsage]) -> JobUsage:
    """An array's usage: its state combines the tasks' (``arrays.combined_state``), its time
    and runs are all of theirs. One pass: settlement reads thousands of arrays at once."""
    tasks.sort(key=lambda t: arrays.task_index(t.slurm_job_id))
    state = arrays.combined_state([t.state for t in tasks])
    final = state is not None and state.is_final
    every_run: list[JobUsage] = []
    elapsed = cpus = gpus = nodes = mem = 0
    started: datetime | None = None
    ended: datetime | None = None
    code: int | None = None
    widest = tasks[0]
    for task in tasks:
        every_run += task.runs or (task,)
        elapsed += task.elapsed_s
        if task.alloc_cpus > cpus:
            cpus, widest = task.alloc_cpus, task
        gpus, nodes = max(gpus, task.alloc_gpus), max(nodes, task.alloc_nodes)
        mem = max(mem, task.alloc_mem_mb)
        if task.started_at is not None and (started is None or task.started_at < started):
            started = task.started_at
        if task.ended_at is not None and (ended is None or task.ended_at > ended):
            ended = task.ended_at
        if task.exit_code is not None and (code is None or task.exit_code > code):
            code = task.exit_code
    first = tasks[0]
    return JobUsage(
        slurm_job_id=parent,
        state=state,
        elapsed_s=elapsed,
        alloc_cpus=cpus,
        alloc_gpus=gpus,
        alloc_nodes=nodes,
        alloc_mem_mb=mem,
        partition=first.partition,
        account=first.account,
        user=first.user,
        started_at=started,
        ended_at=ended if final else None,
        exit_code=code if final else None,
        tres_alloc=dict(widest.tres_alloc),
        runs=tuple(every_run),
    )
