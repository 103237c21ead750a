"""A dry run of a submission: every check ``submit_job`` makes, and nothing written or sent.

It runs ``services.submit.validate_submission``, the very step a submission runs (user
active, a membership on the cluster, directives merged with the overrides, profile limits,
account choice, script preparation), and returns what sbatch would be given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from myriagate.db.models.users import User
from myriagate.services.submit import SubmitRequest, validate_submission


@dataclass(frozen=True)
class SubmitPreview:
    cluster: str
    account: str | None
    partition: str | None
    time_limit_s: int | None
    sbatch_args: tuple[str, ...]
    script: str


def preview_job(*, profile: Any, user: User, request: SubmitRequest) -> SubmitPreview:
    """What ``submit_job`` would send for ``request``; raises exactly what it would raise first."""
    spec, script = validate_submission(profile=profile, user=user, request=request)
    return SubmitPreview(
        cluster=request.cluster,
        account=spec.account,
        partition=spec.partition,
        time_limit_s=spec.time_limit_s,
        sbatch_args=script.sbatch_args,
        script=script.text,
    )
