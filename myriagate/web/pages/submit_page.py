"""The submit page: a template and its parameters, or a pasted script; sbatch options; a cost
estimate from the moment the page opens; validation errors next to their fields.

The cluster and the template are chosen in the form itself, so the choice travels with the
rest: without JavaScript, "Show its parameters" (and "Check and estimate") redraws the form for
the template chosen, and a Submit posted with another template's fields shows the chosen
template's fields instead of sending the previous one (``submit_values``); the page's script
redraws the same way at once (``action=refresh``).

The form is turned into the API's own request model (``JobSubmit``) and handed to the API's
own submit function, so a page submission is validated exactly as ``POST /api/v1/jobs``
(a dry run for the estimate). Problems come back with their field location and are shown next
to the form field they name; a residency refusal is shown next to the storage endpoint.

Input files arrive either as an upload id (the page's script sent them through the API's
upload endpoints) or as parts of the multipart form (no JavaScript): see ``staging_forms``.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from myriagate.errors import FieldError, InvalidRequest, MyriagateError, ResidencyViolation, Text
from myriagate.profiles.models import ClusterProfile
from myriagate.services.jobs import lookup
from myriagate.services.jobs.templates import TemplateCatalog, TemplateMeta
from myriagate.services.submission.all_problems import combined
from myriagate.services.submission.resubmission import copy_of
from myriagate.services.submission.submission import Submission
from myriagate.web.api import jobs as jobs_api
from myriagate.web.api.schemas import JobOut, JobSubmitted
from myriagate.web.api.submit_schemas import DryRunOut, JobSubmit
from myriagate.web.deps import ClockDep, DbSession, GatewayDep, SubmissionDep
from myriagate.web.pages import submit_notices
from myriagate.web.pages.deps import PageContext, PageUser
from myriagate.web.pages.forms import errors_by_field, form_fields, pydantic_fields, see_other
from myriagate.web.pages.rendering import render, translator_for
from myriagate.web.pages.staging_forms import (
    PlannedFile,
    StagingPreview,
    listed_names,
    output_patterns,
    posted_files,
    save_posted_files,
    staging_preview,
    store_choices,
)
from myriagate.web.pages.submit_copy import copied_from, copy_notices, copy_values, input_datasets
from myriagate.web.pages.submit_fields import listed_values, option_fields, posted_options
from myriagate.web.pages.submit_values import (
    PARAM_PREFIX,
    SHOWN_TEMPLATE,
    cluster_switched,
    fit_cluster,
    switch_template,
    template_switched,
)
from myriagate.web.routing import ReleasingRoute
from myriagate.wiring import Gateway

router = APIRouter(route_class=ReleasingRoute, include_in_schema=False)

REFRESH = "refresh"  # redraw the form for the cluster and template chosen; nothing is sent
FIRST_TEMPLATE = "hello"
OWN_SCRIPT_NAME = "script"  # the job name of a script typed in the form (it has no file name)


def _template(gateway: Gateway, name: str) -> TemplateMeta | None:
    catalog = TemplateCatalog(gateway.settings)
    return catalog.get(name) if name in catalog.names() else None


def _follow_choices(values: dict[str, str], page: PageContext, gateway: Gateway) -> bool:
    """Redraw ``values`` for the cluster and template chosen if the form's fields were drawn
    for others (``submit_values``); True when the template changed."""
    cluster = values.get("cluster", "")
    if cluster_switched(values) and cluster in gateway.profiles:
        fit_cluster(values, gateway.profile(cluster), page.user.accounts_on(cluster),
                    gateway.settings.allowed_regions)  # fmt: skip
    if not template_switched(values):
        return False
    old = _template(gateway, values.get(SHOWN_TEMPLATE, ""))
    switch_template(values, old, _template(gateway, values.get("template", "")))
    return True


def _cluster(gateway: Gateway, values: dict[str, str]) -> str:
    """The cluster the form is for: the one chosen, else the gateway's default."""
    chosen = values.get("cluster", "")
    return chosen if chosen in gateway.profiles else gateway.settings.default_cluster


def _body(values: dict[str, str], *, dry_run: bool, problems: list[FieldError]) -> JobSubmit:
    """The API request for the form; a value of the wrong type is a 422 naming the field. A
    problem only the form has (result patterns and no endpoint) goes to ``problems``, and the
    request leaves that part out, so the API still says what else is wrong."""
    mode = values.get("mode", "template")
    data: dict[str, Any] = {"options": posted_options(values), "dry_run": dry_run}
    if values.get("cluster"):
        data["cluster"] = values["cluster"]
    if mode == "script":
        data["script"] = values.get("script", "").replace("\r\n", "\n")
        # A script typed in the form has no file name: its job is named "script" unless
        # -J/--job-name (a field or an #SBATCH line) names it.
        data["script_name"] = OWN_SCRIPT_NAME
    else:
        data["template"] = values.get("template", "")
        data["params"] = {
            key.removeprefix(PARAM_PREFIX): value
            for key, value in values.items()
            if key.startswith(PARAM_PREFIX)
        }
    staging = _staging(values, problems)
    if staging:
        data["staging"] = staging
    if problems:
        data["dry_run"] = True  # only to find the form's other problems: nothing is sent
    try:
        return JobSubmit.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(Text("some fields are not valid"), fields=pydantic_fields(exc)) from None


def _staging(values: dict[str, str], problems: list[FieldError]) -> dict[str, Any]:
    """The API's ``staging`` object of the form (empty when the job stages nothing)."""
    staging: dict[str, Any] = {}
    upload_id = values.get("upload_id", "").strip()
    if upload_id:
        staging["upload_id"] = upload_id
    if input_datasets(values):  # a copy's ("Submit again")
        staging["input_datasets"] = input_datasets(values)
    patterns = output_patterns(values.get("output_patterns", ""))
    if patterns:
        store = values.get("store", "").strip()
        if not store:
            problems.append(FieldError(("store",), Text("choose where the results go")))
        else:
            staging.update(output_patterns=patterns, store=store)
    return staging


def _plan(
    values: dict[str, str], page: PageContext, db: DbSession, gateway: Gateway, listed: list[PlannedFile]
) -> StagingPreview:
    cluster = _cluster(gateway, values)
    return staging_preview(
        db,
        user=page.user,
        profile=gateway.profile(cluster),
        allowed_regions=gateway.settings.allowed_regions,
        upload_id=values.get("upload_id", "").strip(),
        patterns=output_patterns(values.get("output_patterns", "")),
        store=values.get("store", "").strip(),
        listed=listed,
    )


def _run(
    values: dict[str, str],
    page: PageContext,
    db: DbSession,
    gateway: Gateway,
    submission: Submission,
    *,
    dry_run: bool,
) -> JobOut | DryRunOut:
    problems: list[FieldError] = []
    body = _body(values, dry_run=dry_run, problems=problems)
    try:
        result = jobs_api.submit(
            body=body, response=Response(), user=page.user, session=db, gateway=gateway, submission=submission
        )
    except InvalidRequest as exc:  # the form's own problem and the API's, all at once
        if not problems:
            raise
        raise combined(_store_missing(problems), exc.fields) from None
    if problems:
        raise _store_missing(problems)
    return result


def _store_missing(problems: list[FieldError]) -> InvalidRequest:
    return InvalidRequest(Text("output patterns need a storage endpoint"), fields=problems)


def _estimate(
    values: dict[str, str],
    page: PageContext,
    db: DbSession,
    gateway: Gateway,
    submission: Submission,
    listed: list[PlannedFile] | None = None,
) -> tuple[DryRunOut | None, StagingPreview | None, MyriagateError | None]:
    """The form's estimate (a dry run) and staging plan, or why the form is not valid yet."""
    try:
        result = _run(values, page, db, gateway, submission, dry_run=True)
        assert isinstance(result, DryRunOut)
        return result, _plan(values, page, db, gateway, listed or []), None
    except MyriagateError as exc:
        return None, None, exc


def _form(
    request: Request,
    page: PageContext,
    gateway: Gateway,
    values: dict[str, str],
    *,
    errors: dict[str, list[str]] | None = None,
    problem: MyriagateError | None = None,
    preview: DryRunOut | None = None,
    plan: StagingPreview | None = None,
    estimate_problem: MyriagateError | None = None,
    switched: bool = False,
    db: DbSession | None = None,
    status: int = 200,
    notices_above: list[Text] | None = None,
) -> Response:
    catalog = TemplateCatalog(gateway.settings)
    profile = gateway.profile(_cluster(gateway, values))
    template = _template(gateway, values.get("template", ""))
    # Files already sent (a plain form posted them, or the script before a refusal): the
    # user need not choose them again.
    sent = _plan(values, page, db, gateway, []).inputs if db is not None and values.get("upload_id") else []
    t = translator_for(request)
    choices = {
        "partition": ([p.name for p in profile.partitions], t("default")),
        "account": (page.user.accounts_on(profile.name), t("choose…")),
    }
    return render(
        request,
        "submit.html",
        status=status,
        templates=catalog.all(),
        template=template,
        cluster=profile.name,
        clusters=[(name, gateway.profile(name).display_name or name) for name in sorted(gateway.profiles)],
        options=option_fields(t.lang, values, errors or {}, choices),
        values=values,
        errors=errors or {},
        problem=problem,
        preview=preview,
        plan=plan,
        estimate_problem=estimate_problem,
        switched=switched,
        stores=store_choices(profile, gateway.settings.allowed_regions),
        sent_files=sent,
        copy_notices=notices_above or [],
        copied_from=copied_from(values),
    )


@router.get("/submit")
def submit_form(
    request: Request,
    page: PageUser,
    db: DbSession,
    gateway: GatewayDep,
    submission: SubmissionDep,
    template: str = FIRST_TEMPLATE,
    cluster: str = "",
    copy: Annotated[str | None, Query(max_length=lookup.MAX_REF_LENGTH)] = None,
) -> Response:
    """The form for ``template`` on ``cluster``, its defaults filled in and estimated at once;
    with ``copy``, filled in with a copy of that job of yours ("Submit again": nothing sent),
    named as everywhere else: its full id, its short id or its Slurm id."""
    names = TemplateCatalog(gateway.settings).names()
    if template not in names and names:  # the dropdown must show the template the fields are for
        template = FIRST_TEMPLATE if FIRST_TEMPLATE in names else names[0]
    notices: list[Text] = []
    if copy is not None:  # another user's job: the same 404 as a missing one
        job_id = lookup.find_job_id(db, user=page.user, text=copy)
        copied = copy_of(db, job_id=job_id, user=page.user, profile=lambda name: _profile(gateway, name))
        values, notices = copy_values(copied, template), copy_notices(copied)
    else:
        values = {"mode": "template", "template": template, "cluster": cluster}
    values["cluster"] = _cluster(gateway, values)
    fit_cluster(values, gateway.profile(values["cluster"]), page.user.accounts_on(values["cluster"]),
                gateway.settings.allowed_regions)  # fmt: skip
    if copy is None:
        switch_template(values, None, _template(gateway, template))
    preview, plan, problem = _estimate(values, page, db, gateway, submission)
    return _form(request, page, gateway, values, preview=preview, plan=plan, estimate_problem=problem, db=db,
                 notices_above=notices)  # fmt: skip


def _profile(gateway: Gateway, name: str) -> ClusterProfile | None:
    return gateway.profile(name) if name in gateway.profiles else None


@router.get("/submit/submitted/{job_id}")
def submitted(job_id: UUID, request: Request, page: PageUser, gateway: GatewayDep) -> Response:
    """The notices of a job just submitted from the form, once; then its own page."""
    notices = submit_notices.recall(request, job_id)
    if not notices:
        return see_other(f"/jobs/{job_id}")
    response = render(request, "submitted.html", job_id=job_id, notices=notices)
    submit_notices.forget(response, secure=gateway.settings.secure_cookies)
    return response


@router.post("/submit")
async def submit(
    request: Request,
    page: PageUser,
    db: DbSession,
    gateway: GatewayDep,
    clock: ClockDep,
    submission: SubmissionDep,
) -> Response:
    values = await form_fields(request) | listed_values(await request.form())
    switched = _follow_choices(values, page, gateway)
    parts = posted_files(await request.form())
    action = values.get("action", "submit")
    dry_run = action == "estimate"
    settings = gateway.settings
    try:
        if parts:  # no JavaScript: the files came with the form
            values["upload_id"] = await run_in_threadpool(
                lambda: save_posted_files(
                    db, parts=parts, upload_id=values.get("upload_id", "").strip(), user=page.user,
                    spool_dir=settings.spool_dir, max_bytes=settings.upload_max_bytes, at=clock.now(),
                )
            )  # fmt: skip
        if action == REFRESH or (switched and action == "submit" and values.get("mode") != "script"):
            # A new choice, or a Submit whose fields were another template's: show the
            # chosen template's fields (with its estimate) rather than send the old one.
            preview, plan, problem = _estimate(values, page, db, gateway, submission)
            return _form(request, page, gateway, values, preview=preview, plan=plan, estimate_problem=problem,
                         switched=switched and action != REFRESH, db=db)  # fmt: skip
        result = _run(values, page, db, gateway, submission, dry_run=dry_run)
    except ResidencyViolation as exc:
        # Refused (and audited) by the API's rule: said next to the storage endpoint.
        return _form(request, page, gateway, values, errors={"store": [exc.detail]}, problem=exc,
                     db=db, status=exc.http_status)  # fmt: skip
    except InvalidRequest as exc:
        return _form(request, page, gateway, values, errors=errors_by_field(exc.fields), problem=exc,
                     db=db, status=422)  # fmt: skip
    except MyriagateError as exc:
        # Not about a field (no allocation left, cluster unreachable): shown above the form.
        return _form(request, page, gateway, values, problem=exc, db=db, status=exc.http_status)
    if isinstance(result, DryRunOut):
        plan = _plan(values, page, db, gateway, [])
        return _form(request, page, gateway, values, preview=result, plan=plan, db=db)
    if isinstance(result, JobSubmitted) and result.notices:
        response = see_other(submit_notices.page_of(result.id))
        submit_notices.remember(response, result.id, result.notices, secure=settings.secure_cookies)
        return response
    return see_other(f"/jobs/{result.id}")


@router.post("/submit/estimate")
async def estimate(
    request: Request, page: PageUser, db: DbSession, gateway: GatewayDep, submission: SubmissionDep
) -> Response:
    """The estimate box alone (HTML fragment), for the page's script as the user types; the
    files chosen but not sent yet are listed by name (``input_name``, ``input_size``)."""
    values = await form_fields(request) | listed_values(await request.form())
    _follow_choices(values, page, gateway)  # the template chosen, even before its fields are shown
    preview, plan, problem = _estimate(values, page, db, gateway, submission, await listed_names(request))
    fields: list[FieldError] = list(problem.fields) if problem is not None else []
    return render(request, "_estimate.html", preview=preview, plan=plan, problem=problem, field_errors=fields)
