"""Submitting a job: validate, write the intent, run sbatch, record what happened.

The job row is committed in state ``submitting`` *before* sbatch runs (an outbox): if the
gateway dies or the reply is lost, the tag (``--comment=mg:<job id>``) lets the worker find
out whether Slurm got the job. Nothing is ever resubmitted without looking the tag up first.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple

import structlog
from sqlalchemy.orm import Session

from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.db.repos import jobs as jobs_repo
from myriagate.domain import directives, values
from myriagate.domain.jobs import JobSpec, RenderedScript, array_task_count, submission_tag
from myriagate.domain.outputs import DEFAULT_ARRAY_PATTERN, DEFAULT_PATTERN
from myriagate.domain.states import JobState
from myriagate.errors import (
    ConfigError,
    InvalidRequest,
    PermissionDenied,
    ProfileViolation,
    ProjectSuspended,
    Text,
)
from myriagate.ports import Clock, Ledger, SlurmBackendFactory
from myriagate.profiles import validation
from myriagate.profiles.models import ClusterProfile
from myriagate.scripts import render
from myriagate.services.allocations import holds, suspension
from myriagate.services.common import audit
from myriagate.services.jobs import dispatch
from myriagate.services.staging import plan as staging_plan
from myriagate.services.staging.plan import ResidencyContext, StagingPlan, StagingRequest
from myriagate.services.submission import all_problems, dependencies, mail

log = structlog.get_logger(__name__)

HoldLedger = Callable[[Session], Ledger]


@dataclass(frozen=True)
class SubmitRequest:
    """A submission as a researcher makes it: a script, sbatch-style overrides, a cluster."""

    script_text: str
    cluster: str
    # Option name -> value as written; True for a flag given (``exclusive``, ``requeue``).
    overrides: Mapping[str, str | bool] = field(default_factory=dict)
    source: str = "api"
    # The file the script was read from (``job.sh``): sbatch names a job after it when neither
    # the command line nor the script names it, and so does the gateway.
    script_name: str | None = None
    # The template the script was rendered from (``hello``): the job's name when nothing else
    # names it, so a job from a template is never shown nameless.
    template_name: str | None = None


class ValidatedSubmission(NamedTuple):
    """What a valid submission becomes, and the notices for the user: what the gateway
    changed or read differently from what was written (a BOM removed, ``--err`` read as
    ``--error``). A new notice is one more string appended in ``validate_submission``."""

    spec: JobSpec
    script: RenderedScript
    notices: tuple[str, ...] = ()


def validate_submission(
    *, profile: ClusterProfile, user: User, request: SubmitRequest
) -> ValidatedSubmission:
    """Every check of a submission, in order, and what sbatch would be given; writes nothing.

    Used by ``submit_job`` and by dry runs, so a dry run answers exactly what a submission
    would: the script normalised as sbatch can read it (no BOM, Unix line endings), the
    ``#SBATCH`` directives merged with the overrides (overrides win), the profile's limits
    and defaults, the account, and the script with its ``#SBATCH`` lines neutralised and the
    spec as sbatch options.
    """
    if not user.is_active:
        raise PermissionDenied(f"user {user.username} is disabled")
    accounts = user.accounts_on(request.cluster)
    if not accounts:
        raise ProfileViolation(
            Text("you have no Slurm account on cluster %(cluster)s", cluster=request.cluster)
        )
    script_text, notices = directives.normalise_script(request.script_text)
    found = directives.parse_directives(script_text)
    try:
        parsed = directives.merge(found, request.overrides)
    except InvalidRequest as exc:  # with what the profile says of the options that could be read
        raise all_problems.with_profile_problems(
            exc, profile=profile, found=found, overrides=request.overrides, accounts=accounts
        ) from None
    default_name = request.script_name or request.template_name
    if parsed.job_name is None and default_name:
        parsed = _named_after_file(parsed, default_name)
    spec = validation.check_job(profile, parsed, allowed_accounts=accounts)
    # The account must reach sbatch (the researcher's default account may not be the one
    # the gateway knows), so a lone membership fills it in before the script is prepared.
    if spec.account is None and len(accounts) == 1:
        spec = spec.model_copy(update={"account": accounts[0]})
    elif spec.account is None:
        raise ProfileViolation(
            "choose an account with --account: you can use " + ", ".join(accounts),
        )
    spec, mail_notices = mail.only_to_owner(spec, user)
    script = render.prepare_script(script_text, spec)
    return ValidatedSubmission(spec, script, notices + directives.notices_of(found) + mail_notices)


def _named_after_file(spec: JobSpec, script_name: str) -> JobSpec:
    """``spec`` named after the script's file (its last component, as sbatch does); a name
    sbatch could not take as one argv element (a control character) leaves it unnamed."""
    name = script_name.replace("\\", "/").rsplit("/", 1)[-1]
    try:
        return spec.model_copy(update={"job_name": values.job_name(name)}) if name else spec
    except InvalidRequest:
        return spec


def submit_job(
    session: Session,
    *,
    backends: SlurmBackendFactory,
    profile: ClusterProfile,
    user: User,
    request: SubmitRequest,
    clock: Clock,
    ledger: HoldLedger | None = None,
    staging: StagingRequest | None = None,
    residency: ResidencyContext | None = None,
    notices: list[str] | None = None,  # receives the submission's notices for the user, if given
) -> Job:
    """Submit ``request`` as ``user`` and return the job as it stands afterwards.

    With ``staging`` (inputs to copy in, outputs to copy out), the plan is checked first
    (residency included, against ``residency``); a job with inputs is left ``staging_in`` and
    the worker sends it to Slurm once its inputs are in place and verified.

    Invalid input raises (InvalidRequest subclasses) before anything is written. ``ledger``
    is the ledger the job's worst-case cost is held on, in the transaction that writes the
    job (``Allocations.hold_ledger()``: given only when allocations are enforced);
    InsufficientAllocation, and nothing written, when it does not fit. A refusal by Slurm
    marks the job ``failed`` and re-raises SchedulerRejected. An unreachable cluster or a
    lost sbatch reply leaves the job ``submitting`` (returned, not raised): the request is
    durable and the worker finishes it, looking the tag up before any new sbatch.
    """
    job_id = uuid.uuid4()
    validated, plan = _validate_with_plan(
        session, profile=profile, user=user, request=request, job_id=job_id, clock=clock,
        staging=staging, residency=residency, notices=notices,
    )  # fmt: skip
    spec = validated.spec
    suspension.refuse_if_suspended(session, request.cluster, spec.account)  # before any write
    # --dependency ids become Slurm's (the user's own jobs only); a job not in Slurm yet makes it wait.
    script, waiting = dependencies.resolve(session, user=user, cluster=request.cluster, spec=spec,
                                           script=validated.script)  # fmt: skip
    # The worker's stage-in step creates the job's own directory (0700) and copies its inputs.
    own_dir = plan is not None and spec.chdir == staging_plan.job_dir_for(job_id)
    staged_first = plan is not None and (plan.has_inputs or own_dir)
    initial = JobState.STAGING_IN if staged_first else JobState.SUBMITTING
    now = clock.now()
    job = _new_job(job_id, user, request, spec, script, initial, now)
    job.reason = waiting
    _record_intent(session, job, plan, user=user, source=request.source, at=now)
    _refuse_if_closed_now(session, job, cluster=request.cluster, account=spec.account)  # again, locked
    if ledger is not None:  # last, right before the commit (see _hold)
        _hold(session, ledger, profile=profile, job=job, spec=spec, cluster=request.cluster, at=now)
    session.commit()  # the intent is durable before sbatch runs
    if initial is JobState.STAGING_IN:
        files = len(plan.input_paths) if plan else 0
        log.info("job.staging_in", job_id=str(job.id), cluster=job.cluster, files=files)
        return job
    if waiting is not None:  # services.jobs.waiting sends it once its dependencies are in Slurm
        log.info("job.waits_for_dependency", job_id=str(job.id), cluster=job.cluster, reason=waiting)
        return job
    log.info("job.submitting", job_id=str(job.id), cluster=job.cluster, login=job.cluster_login)
    return dispatch.send(
        session, job, script, backends=backends, clock=clock, actor=user.id, source=request.source
    )


def _refuse_if_closed_now(session: Session, job: Job, *, cluster: str, account: str | None) -> None:
    """``submit_job``'s first checks again, in the job's own transaction after its first write
    (a suspension or removal committed since they ran let a job reach Slurm, found attacking
    them): ``suspension.lock_open_membership``. Refused, nothing is written."""
    try:
        suspension.lock_open_membership(session, job.user_id, cluster, account)
    except (ProjectSuspended, PermissionDenied):
        session.rollback()
        session.expunge(job)
        raise


def _hold(
    session: Session, ledger: HoldLedger, *, profile: ClusterProfile, job: Job, spec: JobSpec, cluster: str,
    at: datetime,
) -> None:  # fmt: skip
    """Hold the job's worst-case cost; on any failure nothing is written (job nor hold).

    Last, right before the commit: the hold's conditional UPDATE locks the project's
    allocation row until the commit, and every submission of the project waits on it
    (holding its pooled connection). Nothing else may run inside that window.
    """
    try:
        holds.hold_for_job(session, ledger(session), profile=profile, job_id=job.id, spec=spec,
                           cluster=cluster, at=at, requester_id=job.user_id)  # fmt: skip
    except Exception:
        session.rollback()  # nothing written: neither the job nor a hold
        session.expunge(job)  # and no object stands for a row that was never written
        raise


def _validate_with_plan(
    session: Session,
    *,
    profile: ClusterProfile,
    user: User,
    request: SubmitRequest,
    job_id: uuid.UUID,
    clock: Clock,
    staging: StagingRequest | None,
    residency: ResidencyContext | None,
    notices: list[str] | None = None,
) -> tuple[ValidatedSubmission, StagingPlan | None]:
    """The valid submission and the staging plan (None without staging); writes nothing but
    the audit entry of a refused staging request. ``notices`` receives the submission's."""
    try:
        validated = validate_submission(profile=profile, user=user, request=request)
    except InvalidRequest as exc:
        if staging is None or staging.empty or residency is None:
            raise
        # The staging request's problems too (a refusal audited, as on a valid job).
        check = partial(staging_plan.check, session, profile=profile, user=user, request=staging,
                        residency=residency, at=clock.now())  # fmt: skip
        raise all_problems.with_staging_problems(exc, check) from None
    if notices is not None:
        notices.extend(validated.notices)
    if staging is None or staging.empty:
        return validated, None
    if residency is None:
        raise ConfigError("staging requested but no residency policy was given to the submit service")
    plan = staging_plan.check(
        session, profile=profile, user=user, request=staging, residency=residency, at=clock.now()
    )
    if plan is not None and plan.needs_own_dir and validated.spec.chdir is None:
        # Inputs go to a directory of the job's own, where it then runs and where its
        # result patterns are matched (never a neighbour's files).
        overrides = {**request.overrides, "chdir": staging_plan.job_dir_for(job_id)}
        validated = validate_submission(
            profile=profile, user=user, request=replace(request, overrides=overrides)
        )
    return validated, plan


def _new_job(
    job_id: uuid.UUID,
    user: User,
    request: SubmitRequest,
    spec: JobSpec,
    script: RenderedScript,
    initial: JobState,
    now: datetime,
) -> Job:
    return Job(
        id=job_id,
        user_id=user.id,
        cluster=request.cluster,
        cluster_login=user.cluster_login,
        slurm_account=spec.account,
        partition=spec.partition,
        job_name=spec.job_name,
        tag=submission_tag(job_id),
        state=initial,
        work_dir=spec.chdir,
        # Slurm's own default is stored, so outputs can be found when the script does not say.
        output_pattern=spec.output or (DEFAULT_ARRAY_PATTERN if spec.array else DEFAULT_PATTERN),
        error_pattern=spec.error,
        script_text=script.text,
        sbatch_args=list(script.sbatch_args),
        spec=spec.model_dump(mode="json"),
        array_task_count=array_task_count(spec.array) if spec.array else None,
        created_at=now,
        updated_at=now,
        # Every column is given (jobs_repo.insert_new writes the row as it stands here).
        slurm_job_id=None, slurm_state=None, reason=None, status_fingerprint=None, exit_code=None,
        signal=None, stage_out=False, submitted_at=None, started_at=None, ended_at=None,
        cancel_requested_at=None, reconciled_at=None,
    )  # fmt: skip


def _record_intent(
    session: Session, job: Job, plan: StagingPlan | None, *, user: User, source: str, at: datetime
) -> None:
    """The job row, its first state change, its audit entry and its staging plan, written
    (``job`` is then persistent in ``session``)."""
    detail: dict[str, Any] = {
        "cluster": job.cluster,
        "account": job.slurm_account,
        "partition": job.partition,
        "tag": job.tag,
    }
    if plan is not None:
        staging_plan.attach(session, job, plan)  # sets job.stage_out; its rows follow the job's
        detail["staging"] = {
            "upload_id": str(plan.upload.id) if plan.upload is not None else None,
            "input_datasets": [str(d.id) for d in plan.datasets],
            "output_patterns": plan.patterns,
            "store": plan.store.name if plan.store is not None else None,
        }
    event = audit.event_values(user.id, "job.submit", ("job", job.id), detail, source, at=at)
    jobs_repo.insert_new(session, job, audit_event=event)
    session.flush()  # the staging plan, if any: before the hold, which must come last
