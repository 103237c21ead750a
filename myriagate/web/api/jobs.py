"""``/jobs``: submit (script or template), list, show, history, cancel, output.

Who may see and do what is decided in the services (``authz``, ``jobs_repo.visible_to``): a
job the caller may not see answers 404 like a missing one; one they see but may not act on
answers 403.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import PlainTextResponse

from myriagate.domain.states import JobState
from myriagate.errors import FieldError, InvalidRequest, JobSpecInvalid, ProfileViolation, Text
from myriagate.services.common import authz
from myriagate.services.jobs import array_tasks, lookup
from myriagate.services.jobs import queries as jobs_query
from myriagate.services.jobs.cancel import cancel_job
from myriagate.services.jobs.outputs import output_path, read_output
from myriagate.services.jobs.templates import TemplateCatalog, TemplateMeta
from myriagate.services.staging.plan import StagingRequest
from myriagate.services.submission.all_problems import combined
from myriagate.services.submission.submit import SubmitRequest
from myriagate.web import explanations
from myriagate.web.api import job_copies
from myriagate.web.api.allocations import estimate_out
from myriagate.web.api.array_schemas import ArrayOut, ArraySummaryOut, ArrayTaskOut
from myriagate.web.api.explanation_schemas import ExplanationOut
from myriagate.web.api.job_refs import JobIdRef
from myriagate.web.api.schemas import JobDetail, JobOut, JobPage, JobSubmitted, StateChangeOut
from myriagate.web.api.submit_schemas import DryRunOut, JobSubmit
from myriagate.web.deps import ClockDep, CurrentUser, DbSession, GatewayDep, SubmissionDep
from myriagate.web.downloads import attachment_headers
from myriagate.web.problems import problem_responses
from myriagate.web.routing import ReleasingRoute
from myriagate.wiring import Gateway

router = APIRouter(route_class=ReleasingRoute, tags=["jobs"])

MAX_OUTPUT_BYTES = 1024 * 1024
STATE_HEADER = "X-Myriagate-Job-State"

_SUBMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": DryRunOut, "description": "Dry run: what would be sent"},
    **problem_responses(403, 422, 502, 503),
}
_OUTPUT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/plain": {}}, "description": "The end of the file"},
    **problem_responses(403, 404, 409, 422, 502, 503),
}


def job_out(view: jobs_query.JobView, short_id: str | None = None) -> JobOut:
    """The API view of a job (``account`` is the Slurm account, ``owner`` a username)."""
    job = view.job
    return JobOut(
        id=job.id,
        short_id=short_id,
        cluster=job.cluster,
        owner=view.owner,
        cluster_login=job.cluster_login,
        account=job.slurm_account,
        partition=job.partition,
        job_name=job.job_name,
        state=job.state,
        slurm_job_id=job.slurm_job_id,
        slurm_state=job.slurm_state,
        reason=job.reason,
        exit_code=job.exit_code,
        array_task_count=job.array_task_count,
        work_dir=job.work_dir,
        submitted_at=job.submitted_at,
        started_at=job.started_at,
        ended_at=job.ended_at,
        created_at=job.created_at,
        updated_at=job.updated_at,
        cancel_requested_at=job.cancel_requested_at,
        signal=job.signal,
        explanation=explanation_out(job),
    )


def explanation_out(job: jobs_query.JobRecord) -> ExplanationOut | None:
    """The job's explanation in every language (``web.explanations``, as the pages say it)."""
    said = explanations.in_every_language(job)
    if not said:
        return None
    first = next(iter(said.values()))
    hints = {lang: s.hint for lang, s in said.items() if s.hint is not None}
    return ExplanationOut(
        code=first.code,
        text={lang: s.text for lang, s in said.items()},
        hint=hints or None,
        slurm_code=first.slurm_code,
    )


def state_change_out(change: jobs_query.StateChange) -> StateChangeOut:
    return StateChangeOut(
        from_state=change.from_state,
        to_state=change.to_state,
        slurm_state=change.slurm_state,
        reason=change.reason,
        at=change.at,
    )


# --- submit ----------------------------------------------------------------------------
def _script_text(body: JobSubmit, gateway: Gateway) -> str:
    if (body.script is None) == (body.template is None):
        raise InvalidRequest(
            "give either a script or a template, not both or neither",
            fields=[FieldError((name,), "give a script or a template") for name in ("script", "template")],
        )
    if body.script is not None:
        if body.params:
            raise InvalidRequest(
                "params go with a template; a script takes options",
                fields=[FieldError(("params",), "only with a template")],
            )
        return body.script
    assert body.template is not None
    catalog = TemplateCatalog(gateway.settings)
    text = catalog.render(body.template, body.params)
    _check_required_options(catalog.get(body.template), body)
    return text


def _check_required_options(template: TemplateMeta, body: JobSubmit) -> None:
    """A template whose script cannot run without an option (the array template without
    --array) is refused before anything is held or sent, naming the option and an example."""
    given = {name.replace("_", "-") for name in body.options.model_dump(exclude_none=True)}
    missing = [name for name in template.requires if name not in given]
    if not missing:
        return
    examples = [f"--{n}={template.sbatch[n]}" if n in template.sbatch else f"--{n}" for n in missing]
    options = ", ".join(examples)
    needs = Text("the %(template)s template needs %(options)s", template=repr(template.name), options=options)
    required = Text("required by this template")
    fields = [FieldError(("options", n.replace("-", "_")), required) for n in missing]
    raise JobSpecInvalid(needs, fields=fields)


def _staging(body: JobSubmit) -> StagingRequest | None:
    if body.staging is None:
        return None
    given = body.staging
    return StagingRequest(upload_id=given.upload_id, input_dataset_ids=tuple(given.input_datasets),
                          output_patterns=tuple(given.output_patterns), store=given.store)  # fmt: skip


def _overrides(body: JobSubmit) -> dict[str, str | bool]:
    """The options as sbatch's long option names (``cpus_per_task`` -> ``cpus-per-task``); a
    flag set to true stays True (merge reads it as the bare option), false leaves it out."""
    chosen = body.options.model_dump(exclude_none=True)
    return {
        name.replace("_", "-"): value if value is True else str(value)
        for name, value in chosen.items()
        if value is not False
    }


def _point_at_options(exc: InvalidRequest, overrides: dict[str, str | bool]) -> InvalidRequest:
    """Name the request field (``["options", "time"]``) when a problem is about a given option."""
    given = {name.replace("-", "_") for name in overrides}
    fields: list[FieldError] = []
    for field in exc.fields:
        name = str(field.loc[0]).replace("-", "_") if len(field.loc) == 1 else None
        fields.append(FieldError(("options", name), field.message) if name in given else field)
    exc.fields = tuple(fields)
    return exc


@router.post(
    "/jobs",
    status_code=202,
    response_model=JobSubmitted | DryRunOut,
    responses=_SUBMIT_RESPONSES,
    summary="Submit a job (script + options, or template + params)",
)
def submit(
    body: JobSubmit,
    response: Response,
    user: CurrentUser,
    session: DbSession,
    gateway: GatewayDep,
    submission: SubmissionDep,
) -> JobSubmitted | DryRunOut:
    """Validate and submit; 202 with ``Location`` at once (the Slurm id follows as it is tracked).

    A cluster that cannot be reached leaves the job ``submitting`` (still 202, with the reason):
    the gateway finishes the submission later. ``dry_run`` checks everything and returns what
    sbatch would get (200), with nothing written or sent.
    """
    cluster = body.cluster or gateway.settings.default_cluster
    _require_known(cluster, gateway)
    overrides = _overrides(body)
    try:
        script_text = _script_text(body, gateway)
    except InvalidRequest as exc:  # a template's parameters: its options' problems too, at once
        raise _with_option_problems(exc, body, cluster, overrides, user, session, submission) from None
    script_name = body.script_name if body.script is not None else None
    submit_request = SubmitRequest(
        script_text=script_text,
        cluster=cluster,
        overrides=overrides,
        script_name=script_name,
        template_name=body.template,
    )
    staging = _staging(body)
    try:
        if body.dry_run:
            preview = submission.preview(session, user, submit_request, staging)
        else:
            submitted = submission.submit(session, user, submit_request, staging)
    except InvalidRequest as exc:
        raise _point_at_options(exc, overrides) from None
    if body.dry_run:
        response.status_code = 200
        return DryRunOut(
            cluster=preview.cluster,
            account=preview.account,
            partition=preview.partition,
            time_limit_s=preview.time_limit_s,
            sbatch_args=list(preview.sbatch_args),
            script=preview.script,
            estimate=None if preview.estimate is None else estimate_out(preview.estimate),
            notices=list(preview.notices),
        )
    response.headers["Location"] = f"/api/v1/jobs/{submitted.job.id}"
    # The short id as lists show it: what the researcher types next (`jobs show 3f1c2a9b`).
    short = lookup.short_ids(session, user=user, job_ids=[submitted.job.id])[submitted.job.id]
    job = job_out(jobs_query.view_of(submitted.job, user.username), short)
    return JobSubmitted(**dict(job), notices=list(submitted.notices))


def _with_option_problems(
    exc: InvalidRequest,
    body: JobSubmit,
    cluster: str,
    overrides: dict[str, str | bool],
    user: CurrentUser,
    session: DbSession,
    submission: SubmissionDep,
) -> InvalidRequest:
    """``exc`` (a template's parameters refused) with what a dry run of the options alone says."""
    if body.template is None or body.script is not None:
        return exc
    alone = SubmitRequest(script_text="#!/bin/sh\n", cluster=cluster, overrides=overrides)
    try:
        submission.preview(session, user, alone, None)
    except InvalidRequest as more:
        return combined(exc, _point_at_options(more, overrides).fields)
    return exc


def _require_known(cluster: str, gateway: GatewayDep) -> None:
    """One rule for submitting to and listing by a cluster: it must be one of the profiles'."""
    if cluster not in gateway.profiles:
        raise ProfileViolation(
            f"unknown cluster {cluster!r}; known: {', '.join(sorted(gateway.profiles))}",
            fields=[FieldError(("cluster",), "unknown cluster")],
        )


# --- read ------------------------------------------------------------------------------
@router.get("/jobs", response_model=JobPage, responses=problem_responses(422), summary="List jobs I may see")
def list_jobs(
    user: CurrentUser,
    session: DbSession,
    gateway: GatewayDep,
    state: Annotated[list[JobState] | None, Query(description="Repeat for several states")] = None,
    cluster: Annotated[str | None, Query(max_length=64)] = None,
    account: Annotated[str | None, Query(max_length=64)] = None,
    owner: Annotated[str | None, Query(max_length=255, description="Username")] = None,
    since: Annotated[datetime | None, Query(description="Created at or after (with a time zone)")] = None,
    until: Annotated[datetime | None, Query(description="Created before (with a time zone)")] = None,
    limit: Annotated[int, Query(ge=1, le=jobs_query.MAX_LIMIT)] = jobs_query.DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512, description="The previous next_cursor")] = None,
) -> JobPage:
    """Newest first; pages follow ``next_cursor`` and stay stable while jobs are added. An
    unknown ``cluster`` is refused (422), as a submission to it is."""
    if cluster is not None:
        _require_known(cluster, gateway)
    filters = jobs_query.JobFilters(
        states=tuple(state or ()), cluster=cluster, account=account, owner=owner, since=since, until=until
    )
    page = jobs_query.list_jobs(session, user=user, filters=filters, limit=limit, cursor=cursor)
    short = lookup.short_ids(session, user=user, job_ids=[v.job.id for v in page.items])
    items = [job_out(v, short[v.job.id]) for v in page.items]
    return JobPage(items=items, next_cursor=page.next_cursor)


@router.get(
    "/jobs/{job_id}", response_model=JobDetail, responses=problem_responses(404, 409, 422), summary="One job"
)
def show(job_id: JobIdRef, user: CurrentUser, session: DbSession) -> JobDetail:
    """The job, its script and sbatch options as sent, and its state history."""
    view = jobs_query.get_job_detail(session, job_id=job_id, user=user)
    summary = jobs_query.JobView(job=view.job, owner=view.owner)
    return JobDetail(
        **job_out(summary, lookup.short_ids(session, user=user, job_ids=[job_id])[job_id]).model_dump(),
        sbatch_args=list(view.job.sbatch_args),
        script=view.job.script_text,
        history=[state_change_out(change) for change in view.history],
        array=array_out(array_tasks.view(session, view.job)),
    )


def array_out(array: array_tasks.ArrayView | None) -> ArrayOut | None:
    """An array job's range, counts and tasks, field by field from the read model."""
    if array is None:
        return None
    counts = array.counts
    return ArrayOut(
        range=array.range,
        task_count=counts.total,
        summary=ArraySummaryOut(
            done=counts.done,
            failed=counts.failed,
            cancelled=counts.cancelled,
            running=counts.running,
            waiting=counts.waiting,
            text=array.summary,
        ),
        tasks=[
            ArrayTaskOut(
                index=t.index,
                slurm_job_id=t.slurm_job_id,
                state=t.state,
                slurm_state=t.slurm_state,
                exit_code=t.exit_code,
                signal=t.signal,
                started_at=t.started_at,
                ended_at=t.ended_at,
            )
            for t in array.tasks
        ],
    )


@router.get(
    "/jobs/{job_id}/history",
    response_model=list[StateChangeOut],
    responses=problem_responses(404, 409, 422),
    summary="A job's state changes",
)
def history(job_id: JobIdRef, user: CurrentUser, session: DbSession) -> list[StateChangeOut]:
    view = jobs_query.get_job_detail(session, job_id=job_id, user=user)
    return [state_change_out(change) for change in view.history]


# --- act -------------------------------------------------------------------------------
@router.post(
    "/jobs/{job_id}/cancel",
    status_code=202,
    response_model=JobOut,
    responses=problem_responses(403, 404, 409, 422, 502, 503),
    summary="Cancel a job",
)
def cancel(
    job_id: JobIdRef, user: CurrentUser, session: DbSession, gateway: GatewayDep, clock: ClockDep
) -> JobOut:
    """Ask Slurm to cancel; idempotent. The state turns ``cancelled`` once Slurm confirms it."""
    view = jobs_query.get_job(session, job_id=job_id, user=user)
    job = cancel_job(
        session,
        job_id=job_id,
        user=user,
        backends=gateway.backends(view.job.cluster),
        clock=clock,
    )
    return job_out(
        jobs_query.view_of(job, view.owner), lookup.short_ids(session, user=user, job_ids=[job_id])[job_id]
    )


@router.get(
    "/jobs/{job_id}/output",
    response_class=PlainTextResponse,
    responses=_OUTPUT_RESPONSES,
    summary="The end of a job's output or error file",
)
def output(
    job_id: JobIdRef,
    user: CurrentUser,
    session: DbSession,
    gateway: GatewayDep,
    stream: Literal["output", "error"] = "output",
    max_bytes: Annotated[int, Query(ge=1, le=MAX_OUTPUT_BYTES)] = 65536,
    task: Annotated[int | None, Query(ge=0, description="Array task index (array jobs only)")] = None,
) -> PlainTextResponse:
    """The bytes as the job wrote them (invalid UTF-8 and control characters included: the
    client decides how to show them); the job's state is in ``X-Myriagate-Job-State``."""
    job = jobs_query.get_job(session, job_id=job_id, user=user).job
    authz.require_act_on_job(user, job)
    if job.array_task_count is None and task is not None:
        raise InvalidRequest(
            Text("this job is not an array: it has no tasks to choose"),
            fields=[FieldError(("query", "task"), "not an array job")],
        )
    if job.array_task_count is not None and task is None:
        raise InvalidRequest(
            Text(
                "this is an array job of %(count)s tasks: choose one "
                "(--task N in the CLI, task=N in the API)",
                count=job.array_task_count,
            ),
            fields=[FieldError(("query", "task"), "required for an array job")],
        )
    data = read_output(
        session,
        job_id=job_id,
        user=user,
        backends=gateway.backends(job.cluster),
        stream=stream,
        max_bytes=max_bytes,
        array_task_id=task,
    )
    # Read again: reading may have learnt the job's directory, which the file name is made of.
    job = jobs_query.get_job(session, job_id=job_id, user=user).job
    # The job wrote these bytes: served as a file (attachment, never sniffed or rendered).
    task_job_id = None if task is None else array_tasks.task_raw_id(session, job_id, task)
    name = output_path(job, stream, task, task_job_id) or f"{job_id}.{stream}"
    return PlainTextResponse(
        data,  # as written, never re-encoded (the CLI's --raw); charset=utf-8 is added to the type
        headers={**attachment_headers(name), STATE_HEADER: job.state.value},
    )


# GET /jobs/{job_id}/resubmission (job_copies.py): mounted with the other job routes.
router.include_router(job_copies.router)
