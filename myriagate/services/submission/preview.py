"""A dry run of a submission: every check ``submit_job`` makes, and nothing written or sent.

It checks the staging request first (residency included: a refusal is audited, as it would be
for a submission), then runs ``services.submission.submit.validate_submission``, the very step a
submission runs (user active, a membership on the cluster, directives merged with the
overrides, profile limits, account choice, script preparation), and returns what sbatch would
be given. With a ledger it also says what the job would hold and what its allocation would
have left.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from myriagate.db.models.users import User
from myriagate.errors import ConfigError
from myriagate.ports import Clock
from myriagate.profiles.models import ClusterProfile
from myriagate.services.allocations import holds, suspension
from myriagate.services.allocations.holds import Estimate
from myriagate.services.staging import plan as staging_plan
from myriagate.services.staging.plan import ResidencyContext, StagingRequest
from myriagate.services.submission import dependencies
from myriagate.services.submission.submit import HoldLedger, SubmitRequest, validate_submission


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
    # What the gateway changed or read differently from what was written (submit.py).
    notices: tuple[str, ...] = ()


def preview_job(
    session: Session,
    *,
    profile: ClusterProfile,
    user: User,
    request: SubmitRequest,
    clock: Clock,
    ledger: HoldLedger | None = None,
    staging: StagingRequest | None = None,
    residency: ResidencyContext | None = None,
) -> SubmitPreview:
    """What ``submit_job`` would send for ``request``; raises what it would raise.

    ``estimate`` is filled in when a ledger is given (allocations enforced); it never raises
    for a project without allocation, it reports it.
    """
    plan = None
    if staging is not None and not staging.empty:
        if residency is None:
            raise ConfigError("a dry run with staging needs the residency policy")
        # Same checks as a submission, residency included (a refusal is audited there too).
        plan = staging_plan.check(
            session, profile=profile, user=user, request=staging, residency=residency, at=clock.now()
        )
    validated = validate_submission(profile=profile, user=user, request=request)
    spec, script = validated.spec, validated.script
    suspension.refuse_if_suspended(session, request.cluster, spec.account)  # as a submission would
    # The same --dependency lookup as a submission: Slurm's ids in the argv, others' jobs refused.
    script = dependencies.resolve(
        session, user=user, cluster=request.cluster, spec=spec, script=script
    ).script
    estimate = None
    if ledger is not None:
        estimate = holds.estimate(
            session, ledger(session), profile=profile, spec=spec, cluster=request.cluster, at=clock.now()
        )
    store = plan.store if plan is not None else None
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
        store=store.name if store is not None else None,
        store_location=f"{store.site}, {store.region}" if store is not None else None,
        notices=validated.notices,
    )
