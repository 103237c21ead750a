"""A dry run of a submission: every check ``submit_job`` makes, and nothing written or sent.

It runs ``services.submission.submit.validate_submission``, the very step a submission runs (user
active, a membership on the cluster, directives merged with the overrides, profile limits,
account choice, script preparation), and returns what sbatch would be given. With a session
and a ledger it also says what the job would hold and what its allocation would have left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from myriagate.clock import SystemClock
from myriagate.db.models.users import User
from myriagate.errors import ConfigError
from myriagate.ports import Clock, Ledger
from myriagate.services.allocations import holds
from myriagate.services.allocations.holds import Estimate
from myriagate.services.staging import plan as staging_plan
from myriagate.services.staging.plan import ResidencyContext, StagingRequest
from myriagate.services.submission.submit import SubmitRequest, validate_submission


@dataclass(frozen=True)
class SubmitPreview:
    cluster: str
    account: str | None
    partition: str | None
    time_limit_s: int | None
    sbatch_args: tuple[str, ...]
    script: str
    estimate: Estimate | None = None
    # Files that would be staged in before sbatch, and where results would be stored.
    input_paths: tuple[str, ...] = ()
    output_patterns: tuple[str, ...] = ()
    store: str | None = None
    store_location: str | None = None


def preview_job(
    *,
    profile: Any,
    user: User,
    request: SubmitRequest,
    session: Session | None = None,
    ledger: Callable[[Session], Ledger] | None = None,
    clock: Clock | None = None,
    staging: StagingRequest | None = None,
    residency: ResidencyContext | None = None,
) -> SubmitPreview:
    """What ``submit_job`` would send for ``request``; raises exactly what it would raise first.

    ``estimate`` is filled in when a session and a ledger factory are given (allocations
    enforced); it never raises for a project without allocation, it reports it.
    """
    spec, script = validate_submission(profile=profile, user=user, request=request)
    plan = None
    if staging is not None and not staging.empty:
        if session is None or residency is None:
            raise ConfigError("a dry run with staging needs a session and the residency policy")
        # Same checks as a submission, residency included (a refusal is audited there too).
        plan = staging_plan.check(
            session, profile=profile, user=user, request=staging, residency=residency,
            at=(clock or SystemClock()).now(),
        )  # fmt: skip
    estimate = None
    if session is not None and ledger is not None:
        now = (clock or SystemClock()).now()
        estimate = holds.estimate(
            session, ledger(session), profile=profile, spec=spec, cluster=request.cluster, at=now
        )
    return SubmitPreview(
        cluster=request.cluster,
        account=spec.account,
        partition=spec.partition,
        time_limit_s=spec.time_limit_s,
        sbatch_args=script.sbatch_args,
        script=script.text,
        estimate=estimate,
        input_paths=tuple(plan.input_paths) if plan is not None else (),
        output_patterns=tuple(plan.patterns) if plan is not None else (),
        store=plan.store.name if plan is not None and plan.store is not None else None,
        store_location=(
            f"{plan.store.site}, {plan.store.region}" if plan is not None and plan.store is not None else None
        ),
    )
