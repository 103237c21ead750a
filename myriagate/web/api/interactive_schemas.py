"""The API models of interactive sessions (docs/interactive.md)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from myriagate.web.api.api_model import ApiIn, ApiModel
from myriagate.web.api.submit_schemas import SbatchOptions


class SessionStart(ApiIn):
    """An app to start, its parameters, and the job's resources as sbatch options."""

    app: str = Field(max_length=64, description="The interactive app (GET /interactive/apps): jupyter")
    cluster: str | None = Field(default=None, description="Default: the gateway's default cluster")
    params: dict[str, str | int] = Field(default_factory=dict, description="The app's own parameters")
    options: SbatchOptions = Field(default_factory=SbatchOptions)


class SessionOut(ApiModel):
    id: UUID
    short_id: str = Field(description="The shortest unique prefix of the id among yours (8+ characters)")
    app: str
    cluster: str
    state: str = Field(description="queued, starting, running or ended")
    job_id: UUID
    job_short_id: str = Field(description="The job's short id (`myriagate jobs logs` takes it)")
    slurm_job_id: str | None
    job_state: str
    exit_code: int | None
    reason: str | None = Field(description="Why it waits (Slurm's pending reason), while queued")
    problem: str | None = Field(
        description="Why it failed to start, stopped by itself, or is slow to start (its job's output "
        "says more)"
    )
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    time_limit_s: int | None
    remaining_s: int | None = Field(description="Seconds before Slurm ends it, once started")
    idle_timeout_s: int | None = Field(
        description="The app stops itself after this long idle (the cluster profile's default, or the one "
        "asked for in params.idle_minutes); null: only when its time is up"
    )
    stopping: bool = Field(default=False, description="Stop was asked; it ends once Slurm confirms")
    url: str = Field(description="Where to connect once running (the gateway's proxy)")


class AppOut(ApiModel):
    name: str
    title: str
    description: str
