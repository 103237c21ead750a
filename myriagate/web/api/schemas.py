"""Pydantic models at the API edge: what clients send and receive (never the tables).

The CLI uses these same models to read responses, so the contract lives in one place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from myriagate.domain.states import JobState
from myriagate.web.api.api_model import ApiIn, ApiModel, ApiOut
from myriagate.web.api.array_schemas import ArrayOut
from myriagate.web.api.explanation_schemas import ExplanationOut

_In = ApiIn
_Out = ApiOut


# --- jobs ------------------------------------------------------------------------------------
class StateChangeOut(_Out):
    from_state: JobState | None
    to_state: JobState
    slurm_state: str | None
    reason: str | None
    at: datetime


class JobOut(_Out):
    id: UUID
    short_id: str | None = Field(
        default=None,
        description="The shortest start of id (8 hex digits or more) that names this job alone among "
        "the jobs you may see; accepted wherever a job id is. In lists, one job's view and the answers to a "
        "submission and a cancellation",
    )
    cluster: str
    owner: str = Field(description="Username of the job's owner")
    cluster_login: str
    account: str | None
    partition: str | None
    job_name: str | None
    state: JobState
    slurm_job_id: str | None
    slurm_state: str | None
    reason: str | None
    exit_code: int | None
    array_task_count: int | None
    work_dir: str | None
    submitted_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    created_at: datetime
    updated_at: datetime
    cancel_requested_at: datetime | None = None
    signal: int | None = Field(
        default=None, description="The signal that ended the job (sacct's ExitCode <code>:<signal>)"
    )
    explanation: ExplanationOut | None = Field(
        default=None, description="Why it waits or how it ended; null while it runs or is being sent"
    )


NOTICES_DESCRIPTION = (
    "What the gateway changed or read differently from what was written (a byte-order mark "
    "removed, an abbreviated option read in full…): the job is accepted; worth a look"
)


class JobSubmitted(JobOut):
    """The answer to a submission: the job, and the notices about how it was read."""

    notices: list[str] = Field(default_factory=list, description=NOTICES_DESCRIPTION)


class JobDetail(JobOut):
    sbatch_args: list[str]
    script: str
    history: list[StateChangeOut]
    array: ArrayOut | None = Field(default=None, description="Array jobs only: their tasks one by one")


class JobPage(ApiModel):
    items: list[JobOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at the end")


# --- templates ---------------------------------------------------------------------------
class TemplateParameterOut(ApiModel):
    name: str
    type: str
    default: str | int | None = None
    min: int | None = None
    max: int | None = None
    choices: list[str] | None = None
    required: bool = False
    max_length: int | None = Field(default=None, description="Longest accepted text (str parameters)")
    help: dict[str, str] = Field(default_factory=dict, description="By language: en, fr")


class TemplateOut(ApiModel):
    name: str
    title: dict[str, str]
    description: dict[str, str]


class TemplateDetail(TemplateOut):
    parameters: list[TemplateParameterOut]


# --- clusters ----------------------------------------------------------------------------
class PartitionOut(ApiModel):
    name: str
    description: str | None
    description_fr: str | None = Field(
        default=None, description="The description in French, when the profile has one"
    )
    max_walltime: str
    default_walltime: str | None
    max_nodes: int | None
    cpus_per_node: int | None
    mem_per_node_mb: int | None
    gpus_per_node: int
    default: bool


class ClusterOut(ApiModel):
    name: str
    display_name: str | None
    slurm_version: str
    is_default: bool
    # How the gateway drives this cluster's Slurm (docs/backends.md); older gateways omit it.
    backend: Literal["cli", "pyslurm", "rest"] = "cli"
    partitions: list[PartitionOut]


class ClusterHealthOut(ApiModel):
    reachable: bool
    slurm_version: str | None
    partitions: dict[str, str]
    latency_ms: float | None
    detail: str | None
    # Health is cached (MYRIAGATE_CLUSTER_HEALTH_TTL_S): when it was checked, and how long ago.
    checked_at: datetime | None = None
    age_s: float | None = None


class ClusterDetail(ClusterOut):
    health: ClusterHealthOut


# --- people ------------------------------------------------------------------------------
Role = Literal["researcher", "project_lead", "university_admin", "platform_admin"]


class MembershipOut(_Out):
    cluster: str
    slurm_account: str
    role: Literal["researcher", "project_lead"]


class MembershipIn(_In):
    cluster: str
    slurm_account: str
    role: Literal["researcher", "project_lead"] = "researcher"


class MemberIn(_In):
    username: str = Field(max_length=255, description="The username of the person to add")
    role: Literal["researcher", "project_lead"] = "researcher"


class ActiveJobOut(_Out):
    """A member's job still queued or running in the project (it runs on after a removal)."""

    id: UUID
    short_id: str = Field(description="Accepted wherever a job id is (`myriagate jobs cancel <short_id>`)")
    slurm_job_id: str | None
    name: str | None
    state: JobState
    submitted_at: datetime | None


class ProjectMemberOut(_Out):
    user_id: UUID
    username: str
    display_name: str
    cluster_login: str
    role: Literal["researcher", "project_lead"]
    is_active: bool
    queued_jobs: int
    running_jobs: int
    jobs: list[ActiveJobOut] = Field(description="Their jobs queued or running in this project")
    removable: bool = Field(description="Whether you may remove this member")


class ProjectMembersOut(_Out):
    cluster: str
    account: str
    name: str
    institution: str
    can_add: bool = Field(description="Whether you may add members (and remove the removable ones)")
    members: list[ProjectMemberOut]


class UserOut(_Out):
    id: UUID
    username: str
    display_name: str
    email: str | None
    cluster_login: str
    institution: str | None
    roles: list[Role]
    is_active: bool
    memberships: list[MembershipOut]


class UserIn(_In):
    username: str = Field(min_length=1, max_length=255)
    display_name: str = ""
    email: str | None = None
    cluster_login: str
    institution: str | None = None
    password: str | None = Field(default=None, min_length=12, description="Local password (no SSO)")
    is_platform_admin: bool = False
    university_admin_of: str | None = Field(default=None, description="Institution this user administers")


class UserPatch(_In):
    display_name: str | None = None
    email: str | None = None
    is_active: bool | None = None
    password: str | None = Field(default=None, min_length=12)
    is_platform_admin: bool | None = None
    university_admin_of: str | None = None


# --- tokens and sessions -----------------------------------------------------------------
class TokenIn(_In):
    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int = Field(default=90, ge=1, le=365)


class TokenOut(_Out):
    id: UUID
    name: str
    prefix: str = Field(description="First characters of the token, to recognise it")
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="The secret: shown once, store it now")


class LoginIn(_In):
    username: str
    password: str


class SessionOut(ApiModel):
    username: str
    csrf_token: str
    expires_at: datetime


# --- errors ------------------------------------------------------------------------------
class ProblemFieldOut(ApiModel):
    loc: list[str | int] = Field(description='Where the problem is, e.g. ["options", "time"]')
    message: str


class Problem(ApiModel):
    """An error as RFC 9457 problem details (``application/problem+json``)."""

    type: str
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable error code (myriagate/errors.py)")
    request_id: str | None = None
    errors: list[ProblemFieldOut] = Field(default_factory=list)
