"""Why a job waits or how it ended, as the API says it (``web.explanations`` fills it)."""

from __future__ import annotations

from pydantic import Field

from myriagate.web.api.api_model import ApiModel


class ExplanationOut(ApiModel):
    """Why a job waits or how it ended, in plain words (the job page and the CLI say the same)."""

    code: str = Field(
        description="Stable: resources, priority, project_limit, project_budget, user_limit, over_job_limit, "
        "dependency, begin_time, held_by_user, held_by_admin, nodes_unavailable, partition_down, "
        "reservation, licenses, other (a reason shown as Slurm wrote it)…; completed, exit_code, "
        "killed_by_signal, out_of_memory, timeout, cancelled, node_fail, preempted, boot_fail, deadline, "
        "failed"
    )
    text: dict[str, str] = Field(description="By language: en, fr")
    hint: dict[str, str] | None = Field(
        default=None, description="What to do about it, by language; null when nothing is to be done"
    )
    slurm_code: str | None = Field(
        default=None,
        description="Slurm's own word for it (a reason code, a state, an ExitCode) when the text lacks it",
    )
