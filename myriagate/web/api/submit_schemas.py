"""What a submission sends and what a dry run answers (``POST /api/v1/jobs``).

Apart from the other API models (``schemas.py``) because ``SbatchOptions`` is built from the
sbatch option table when this module is imported: only the submission paths (the API's jobs
routes, the form, ``myriagate submit``) pay for it, not ``myriagate jobs list``
(bench/cli_start.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from pydantic import Field

from myriagate.web.api.allocation_schemas import EstimateOut
from myriagate.web.api.api_model import ApiIn, ApiModel
from myriagate.web.api.sbatch_schema import SbatchOptionsBase, build_sbatch_options
from myriagate.web.api.schemas import NOTICES_DESCRIPTION
from myriagate.web.api.staging_schemas import StagingIn

# Built from the sbatch option table (sbatch_schema.py): one field per option the API takes.
if TYPE_CHECKING:
    SbatchOptions = SbatchOptionsBase
else:
    SbatchOptions = build_sbatch_options()


class JobSubmit(ApiIn):
    """Either ``script`` (with #SBATCH directives) or ``template`` + ``params``."""

    cluster: str | None = Field(default=None, description="Default: the gateway's default cluster")
    script: str | None = Field(default=None, max_length=1_000_000)
    script_name: str | None = Field(
        default=None,
        max_length=255,
        description="The file name the script was read from (job.sh): names the job, as sbatch does, "
        "when neither the options nor the script's #SBATCH lines do",
    )
    template: str | None = None
    params: dict[str, str | int] = Field(default_factory=dict)
    options: SbatchOptions = Field(default_factory=SbatchOptions)
    dry_run: bool = Field(default=False, description="Validate and show what would be sent; submit nothing")
    staging: StagingIn | None = Field(
        default=None, description="Inputs to stage in, outputs to store (docs/staging.md)"
    )


class DryRunOut(ApiModel):
    cluster: str
    account: str | None
    partition: str | None
    time_limit_s: int | None
    sbatch_args: list[str]
    script: str
    estimate: EstimateOut | None = Field(
        default=None, description="What the job would hold (null when allocations are not enforced)"
    )
    notices: list[str] = Field(default_factory=list, description=NOTICES_DESCRIPTION)


class JobCopyOut(ApiModel):
    """One of your jobs as a new submission (``GET /api/v1/jobs/{job_id}/resubmission``):
    nothing is submitted; post ``cluster``, ``script``, ``options`` and ``staging``, changed as
    you like, to ``POST /api/v1/jobs``, which checks, holds and sends it as any submission."""

    job_id: UUID = Field(description="The job copied")
    cluster: str
    script: str = Field(description="The script as written: its #SBATCH lines as they were")
    options: dict[str, str | bool] = Field(
        description="The options the job was sent with (its account, partition and time limit "
        "included), by the API's names; a longer time limit for a job that timed out"
    )
    staging: StagingIn | None = Field(
        default=None, description="Its input datasets, result patterns and endpoint (uploads are not copied)"
    )
    suggested_time: str | None = Field(
        default=None, description="The longer time limit put in options.time for a job that timed out"
    )
    notices: list[str] = Field(
        default_factory=list, description="What the copy changed, in the caller's language"
    )
    had_uploaded_files: bool = Field(
        default=False,
        description="Files were uploaded for the job: they are not copied; upload them again "
        "(staging.upload_id) or submit without them",
    )
