"""Combining what Slurm reports piecewise into one status (pure, shared by both backends).

Slurm reports array jobs task by task (``123_4``); the gateway tracks the array as one job
whose status lists its tasks. And a job is seen twice, by the controller (squeue) and by
accounting (sacct): ``fresher`` picks which view of it to believe.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace

from myriagate.domain.jobs import JobStatus, JobUsage
from myriagate.domain.states import JobState
from myriagate.slurm.states import state_name

# A final state an array parent reports when its tasks ended differently: the worst wins.
WORST_FIRST: tuple[JobState, ...] = (
    JobState.NODE_FAIL, JobState.BOOT_FAIL, JobState.OUT_OF_MEMORY, JobState.TIMEOUT,
    JobState.DEADLINE, JobState.PREEMPTED, JobState.FAILED, JobState.CANCELLED,
    JobState.COMPLETED,
)  # fmt: skip


def parent_id(slurm_job_id: str) -> str:
    """``123_4`` -> ``123``; a plain id is its own parent."""
    return slurm_job_id.split("_", 1)[0]


def task_index(slurm_job_id: str) -> int:
    _, _, index = slurm_job_id.partition("_")
    return int(index) if index.isdigit() else -1


def tasks_by_parent(rows: Iterable[str]) -> dict[str, list[str]]:
    """Array task ids among ``rows`` grouped by parent id, in one pass (polls hold thousands)."""
    grouped: dict[str, list[str]] = {}
    for row in rows:
        if "_" in row:
            grouped.setdefault(parent_id(row), []).append(row)
    return grouped


def combined_state(states: list[JobState | None]) -> JobState | None:
    """Any task running -> running; else any waiting -> pending; all ended -> completed only
    when all completed, else the worst. A task in a state we do not know, with none
    running, leaves the whole unknown (``None``) rather than guessed."""
    if any(s in (JobState.RUNNING, JobState.SUSPENDED) for s in states):
        return JobState.RUNNING
    if not states or None in states:
        return None
    if any(s is not None and not s.is_final for s in states):
        return JobState.PENDING
    return next(s for s in WORST_FIRST if s in states)


def aggregate_array(parent: str, tasks: Iterable[JobStatus]) -> JobStatus:
    """The array job's JobStatus; ``array_tasks`` sorted by task index."""
    ordered = tuple(sorted(tasks, key=lambda t: task_index(t.slurm_job_id)))
    state = combined_state([t.state for t in ordered])
    final = state is not None and state.is_final
    lead = next((t for t in ordered if t.state == state), ordered[0] if ordered else None)
    started = [t.started_at for t in ordered if t.started_at is not None]
    ended = [t.ended_at for t in ordered if t.ended_at is not None]
    submitted = [t.submitted_at for t in ordered if t.submitted_at is not None]
    codes = [t.exit_code for t in ordered if t.exit_code is not None]
    if lead is not None and (state is None or lead.state == state):
        raw = state_name(lead.slurm_state)
    else:
        raw = state.name if state is not None else "UNKNOWN"
    return JobStatus(
        slurm_job_id=parent,
        state=state,
        slurm_state=raw,
        reason=lead.reason if lead else None,
        exit_code=max(codes) if final and codes else None,
        signal=lead.signal if final and lead else None,
        work_dir=lead.work_dir if lead else None,
        submitted_at=min(submitted) if submitted else None,
        started_at=min(started) if started else None,
        ended_at=max(ended) if final and ended else None,
        array_tasks=ordered,
    )


def aggregate_usage(parent: str, tasks: Iterable[JobUsage]) -> JobUsage:
    """The array job's usage: ``elapsed_s`` is the sum over tasks and the allocation that of
    one task (all tasks ask the same), so elapsed_s * alloc_cpus is the core-seconds used."""
    rows = sorted(tasks, key=lambda t: task_index(t.slurm_job_id))
    state = combined_state([t.state for t in rows])
    codes = [t.exit_code for t in rows if t.exit_code is not None]
    started = [t.started_at for t in rows if t.started_at is not None]
    ended = [t.ended_at for t in rows if t.ended_at is not None]
    first = rows[0]
    return JobUsage(
        slurm_job_id=parent,
        state=state,
        elapsed_s=sum(t.elapsed_s for t in rows),
        alloc_cpus=max(t.alloc_cpus for t in rows),
        alloc_gpus=max(t.alloc_gpus for t in rows),
        alloc_nodes=max(t.alloc_nodes for t in rows),
        alloc_mem_mb=max(t.alloc_mem_mb for t in rows),
        partition=first.partition,
        account=first.account,
        user=first.user,
        started_at=min(started) if started else None,
        ended_at=max(ended) if state is not None and state.is_final and ended else None,
        exit_code=max(codes) if state is not None and state.is_final and codes else None,
        tres_alloc=dict(max(rows, key=lambda t: t.alloc_cpus).tres_alloc),
    )


def is_final(status: JobStatus) -> bool:
    return status.state is not None and status.state.is_final


def needing_accounting(ids: Collection[str], queued: Mapping[str, JobStatus]) -> list[str]:
    """Which of ``ids`` accounting must be asked about after the controller answered
    ``queued``: arrays (their ended tasks left the queue), jobs it no longer holds, and jobs it
    shows as ended (only accounting has their exit code)."""
    parents = {parent_id(j) for j in queued if "_" in j}
    return [i for i in ids if i in parents or i not in queued or is_final(queued[i])]


def fresher(queued: JobStatus | None, accounted: JobStatus) -> JobStatus:
    """The controller's view is fresher for live jobs; accounting has the exit code of ended
    ones, unless its record still lags behind an end the controller already shows."""
    if queued is None:
        return accounted
    if not is_final(queued):
        return queued
    if not is_final(accounted):
        return queued
    if accounted.ended_at is None and queued.ended_at is not None:
        # slurmdbd may record the final state a moment before the end time (sacct prints
        # End=Unknown for a COMPLETED job); the controller already knows when it ended.
        return replace(accounted, ended_at=queued.ended_at)
    return accounted


def combine_views(
    ids: Collection[str],
    queued: Mapping[str, JobStatus],
    accounted: Mapping[str, JobStatus] | None,
) -> dict[str, JobStatus]:
    """The status of each requested id from the controller's and accounting's rows (per job
    or array task); ``accounted`` is None when accounting could not be asked.

    A job the controller shows as ended but accounting does not yet (slurmdbd lags a second
    or so; measured) is left out, and so is an array with such a task: recorded now, it would
    be final for good without its exit code. The next poll resolves it. Ids neither side
    knows are left out too: the caller keeps their state.
    """
    views: dict[str, JobStatus] = {}
    unresolved: set[str] = set()
    for job_id, row in queued.items():
        seen = (accounted or {}).get(job_id)
        if is_final(row) and not (seen is not None and is_final(seen)):
            unresolved.add(job_id)
        else:
            views[job_id] = fresher(row, seen) if seen is not None else row
    for job_id, row in (accounted or {}).items():
        if job_id not in queued:
            views[job_id] = row
    result: dict[str, JobStatus] = {}
    unresolved_parents = set(tasks_by_parent(unresolved))
    views_by_parent = tasks_by_parent(views)
    for job_id in ids:
        if "_" not in job_id:
            if job_id in unresolved_parents:
                continue
            tasks = views_by_parent.get(job_id)
            if tasks:
                result[job_id] = aggregate_array(job_id, [views[t] for t in tasks])
                continue
        if job_id in views:
            result[job_id] = views[job_id]
    return result
