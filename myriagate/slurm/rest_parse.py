"""slurmrestd's v0.0.38 / dbv0.0.38 answers read into the gateway's terms (pure functions).

Two views of a job, as with squeue and sacct: the controller's (``GET /slurm/v0.0.38/jobs``)
and accounting's (``GET /slurmdb/v0.0.38/jobs``). What their JSON looks like was captured from
the dev cluster's slurmrestd 22.05.8 (``tests/data/slurm/rest/``), including two quirks:

- accounting (dbv0.0.38) loses a normal exit's status: ``exit_code`` reads ``SUCCESS`` with
  ``return_code`` 0 for a job that ran ``exit 3`` (its ``_dump_job_exit_code`` sets 0 for every
  ``WIFEXITED`` status). Only signals survive. So an ended job that did not complete has no
  known exit code from accounting (None, never a made-up 0); the controller's ``exit_code``, a
  raw wait status (768 for ``exit 3``), gives it while the job is still there (MinJobAge).
- accounting folds an array's waiting tasks into ``array.task``, a hex bitmap (``0x7`` is
  tasks 0, 1 and 2); the controller into ``array_task_string`` (``0-2``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from myriagate.domain import values
from myriagate.domain.jobs import JobStatus, JobUsage
from myriagate.domain.states import JobState
from myriagate.errors import UnsafeValue
from myriagate.slurm import parse
from myriagate.slurm.states import to_job_state

Json = Mapping[str, Any]


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int) and value > 0 else None


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _text(value: Any) -> str | None:
    return parse.optional(value) if isinstance(value, str) else None


def bitmap_tasks(parent: str, bitmap: str) -> list[str]:
    """``0x7`` -> ``[p_0, p_1, p_2]``: accounting's folded waiting tasks of array ``parent``."""
    try:
        bits = int(bitmap, 16) if bitmap.lower().startswith("0x") else -1
    except ValueError:
        return []
    if bits < 0 or bits.bit_length() > 1_000_001:  # as parse.expand_array_range bounds it
        return []
    return [f"{parent}_{i}" for i in range(bits.bit_length()) if bits >> i & 1]


# --- the controller's view ------------------------------------------------------------------
def controller_ids(record: Json) -> list[str]:
    """The ids a controller record stands for: a job, one array task, or waiting tasks folded."""
    job_id, array_id = str(_int(record.get("job_id"))), _int(record.get("array_job_id"))
    if not array_id:
        return [job_id]
    task = record.get("array_task_id")
    if isinstance(task, int):
        return [f"{array_id}_{task}"]
    waiting = record.get("array_task_string") or ""
    return parse.expand_array_range(str(array_id), str(waiting)) if waiting else []


def controller_parent(record: Json) -> str:
    return str(_int(record.get("array_job_id")) or _int(record.get("job_id")))


def _wait_status(raw: int) -> tuple[int, int]:
    """(exit code, signal) of a raw wait status: 768 -> (3, 0), 9 -> (0, 9)."""
    return (raw >> 8) & 0xFF, raw & 0x7F


def controller_statuses(record: Json) -> Iterator[JobStatus]:
    raw_state = str(record.get("job_state") or "")
    state = to_job_state(raw_state)
    final = state is not None and state.is_final
    started = state is not None and state.rank >= JobState.RUNNING.rank
    code, signal = _wait_status(_int(record.get("exit_code")))
    is_array = bool(_int(record.get("array_job_id")))
    for job_id in controller_ids(record):
        yield JobStatus(
            slurm_job_id=job_id,
            state=state,
            slurm_state=raw_state,
            reason=_text(record.get("state_reason")),
            exit_code=code if final else None,
            signal=signal if final else None,
            work_dir=_text(record.get("current_working_directory")),
            nodes=_text(record.get("nodes")) if started else None,
            submitted_at=_time(record.get("submit_time")),
            started_at=_time(record.get("start_time")) if started else None,
            ended_at=_time(record.get("end_time")) if final else None,
            raw_job_id=str(_int(record.get("job_id"))) if started or not is_array else None,
        )


# --- accounting's view ----------------------------------------------------------------------
def accounted_ids(record: Json) -> list[str]:
    job_id = str(_int(record.get("job_id")))
    array = record.get("array") or {}
    parent = _int(array.get("job_id"))
    if not parent:
        return [job_id]
    task = array.get("task_id")
    if isinstance(task, int):
        return [f"{parent}_{task}"]
    folded = array.get("task")
    return bitmap_tasks(str(parent), folded) if isinstance(folded, str) else []


def accounted_state(record: Json) -> tuple[str, JobState | None]:
    raw = str((record.get("state") or {}).get("current") or "")
    return raw, to_job_state(raw)


def exit_of(record: Json, state: JobState | None) -> tuple[int | None, int | None]:
    """(exit code, signal) accounting can vouch for (see the module's note): a completed job
    exited 0; a signal is kept; a failed job's own exit code is unknown (None)."""
    if state is None or not state.is_final:
        return None, None
    exit_code = record.get("exit_code") or {}
    signal = _int((exit_code.get("signal") or {}).get("signal_id"))
    if exit_code.get("status") == "SIGNALED" and signal:
        return 0, signal
    if exit_code.get("status") == "ERROR" and isinstance(exit_code.get("return_code"), int):
        return int(exit_code["return_code"]), 0
    if state is JobState.COMPLETED:
        return 0, 0
    return None, 0


def endings_of(record: Json) -> dict[str, Any]:
    """How an ended job ended (domain.job_explanations), as far as accounting's record tells
    without its steps: the memory and time asked and who cancelled it. The peak memory lives
    on the steps, which the status query leaves out (``skip_steps``): it stays None."""
    limit = (record.get("time") or {}).get("limit")
    asked = tres((record.get("tres") or {}).get("requested")).get("mem")
    who = record.get("kill_request_user")
    try:
        named = values.login(who) if isinstance(who, str) and who else None
    except UnsafeValue:
        named = None
    return {
        "mem_requested_bytes": asked * 2**20 if asked else None,
        "time_limit_s": limit * 60 if isinstance(limit, int) and limit > 0 else None,
        "cancelled_by": named,
    }


def accounted_statuses(record: Json) -> Iterator[JobStatus]:
    raw_state, state = accounted_state(record)
    times = record.get("time") or {}
    started = state is not None and state.rank >= JobState.RUNNING.rank
    final = state is not None and state.is_final
    code, signal = exit_of(record, state)
    is_array = bool(_int((record.get("array") or {}).get("job_id")))
    ended = endings_of(record) if final and not is_array else {}
    for job_id in accounted_ids(record):
        yield JobStatus(
            slurm_job_id=job_id,
            state=state,
            slurm_state=raw_state,
            reason=_text((record.get("state") or {}).get("reason")),
            exit_code=code,
            signal=signal,
            work_dir=_text(record.get("working_directory")),
            nodes=_text(record.get("nodes")) if started else None,
            submitted_at=_time(times.get("submission")),
            started_at=_time(times.get("start")) if started else None,
            ended_at=_time(times.get("end")) if final else None,
            raw_job_id=str(_int(record.get("job_id"))) if started or not is_array else None,
            **ended,
        )


def tres(items: Any) -> dict[str, int]:
    """``[{type: cpu, count: 2}, {type: gres, name: gpu, count: 1}]`` -> ``{cpu: 2, gres/gpu: 1}``
    (memory in MB, as sacct's parse_tres gives it)."""
    found: dict[str, int] = {}
    for item in items if isinstance(items, list) else []:
        count = item.get("count") if isinstance(item, Mapping) else None
        if not isinstance(count, int) or isinstance(count, bool):
            continue
        name = item.get("name")
        found[f"{item.get('type')}/{name}" if name else str(item.get("type"))] = count
    return found


def usage_of(record: Json) -> JobUsage | None:
    """What one accounting record used; None for folded waiting tasks, or a job whose end is
    recorded before its allocation (slurmdbd does so for a moment: asked again next pass)."""
    ids = accounted_ids(record)
    if len(ids) != 1:
        return None
    _, state = accounted_state(record)
    allocated = tres((record.get("tres") or {}).get("allocated"))
    if state is not None and state.is_final and not allocated.get("mem"):
        return None
    times = record.get("time") or {}
    final = state is not None and state.is_final
    return JobUsage(
        slurm_job_id=ids[0],
        state=state,
        elapsed_s=_int(times.get("elapsed")),
        alloc_cpus=allocated.get("cpu", 0),
        alloc_gpus=parse.gpus_in(allocated),
        alloc_nodes=allocated.get("node", _int(record.get("allocation_nodes"), 1)),
        alloc_mem_mb=allocated.get("mem", 0),
        partition=_text(record.get("partition")),
        account=_text(record.get("account")),
        user=_text(record.get("user")),
        started_at=_time(times.get("start")),
        ended_at=_time(times.get("end")) if final else None,
        exit_code=exit_of(record, state)[0],
        tres_alloc=allocated,
    )


def comment_of(record: Json) -> str | None:
    """The job's ``--comment``: a string in the controller's view, ``comment.job`` in
    accounting's (None when accounting keeps none)."""
    comment = record.get("comment")
    if isinstance(comment, Mapping):
        comment = comment.get("job")
    return comment if isinstance(comment, str) else None


def partitions(answer: Json) -> dict[str, str]:
    return {
        str(p["name"]): str(p.get("state") or "").lower()
        for p in answer.get("partitions") or []
        if isinstance(p, Mapping) and p.get("name")
    }


def slurm_release(answer: Json) -> str | None:
    release = ((answer.get("meta") or {}).get("Slurm") or {}).get("release")
    return str(release) if release else None
