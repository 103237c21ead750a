"""API models of an array job's tasks (``JobDetail.array``): range, summary and each task.

Kept apart from ``schemas`` (which re-exports them, so the CLI reads every API model there).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from myriagate.domain.states import JobState
from myriagate.web.api.api_model import ApiModel


class ArrayTaskOut(ApiModel):
    """One task of an array job as Slurm last reported it."""

    index: int
    slurm_job_id: str = Field(description="The task as Slurm's tools name it: <array id>_<index>")
    state: JobState | None = Field(description="null: a Slurm state the gateway does not know")
    slurm_state: str
    exit_code: int | None
    signal: int | None
    started_at: datetime | None
    ended_at: datetime | None


class ArraySummaryOut(ApiModel):
    done: int
    failed: int = Field(description="Ended unsuccessfully (failed, timed out, out of memory…), cancel aside")
    cancelled: int
    running: int
    waiting: int = Field(description="Waiting, or not shown by Slurm yet")
    text: str = Field(description="The counts in words: '12 done, 2 failed, 6 waiting'")


class ArrayOut(ApiModel):
    range: str = Field(description="The --array index list as submitted, e.g. 0-19%4")
    task_count: int
    summary: ArraySummaryOut
    tasks: list[ArrayTaskOut] = Field(description="The tasks Slurm has reported, by index")
