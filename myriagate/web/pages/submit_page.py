"""The submit page: a template and its parameters, or a pasted script; sbatch options; a live
cost estimate; validation errors next to their fields.

The form is turned into the API's own request model (``JobSubmit``) and handed to the API's
own submit function, so a page submission is validated exactly as ``POST /api/v1/jobs``
(a dry run for the estimate). Problems come back with their field location and are shown next
to the form field they name.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from myriagate.errors import FieldError, InvalidRequest, MyriagateError
from myriagate.services.templates import TemplateCatalog, TemplateMeta
from myriagate.web.api import jobs as jobs_api
from myriagate.web.api.schemas import DryRunOut, JobOut, JobSubmit
from myriagate.web.deps import ClockDep, DbSession, GatewayDep
from myriagate.web.pages.deps import PageContext, PageUser
from myriagate.web.pages.forms import (
    blank_to_none,
    errors_by_field,
    form_fields,
    pydantic_fields,
    see_other,
)
from myriagate.web.pages.rendering import render
from myriagate.wiring import Gateway

router = APIRouter(include_in_schema=False)

OPTION_FIELDS = (
    "partition",
    "time",
    "nodes",
    "ntasks",
    "cpus_per_task",
    "mem",
    "gres",
    "account",
    "job_name",
)
PARAM_PREFIX = "param_"


def _template(gateway: Gateway, name: str) -> TemplateMeta | None:
    catalog = TemplateCatalog(gateway.settings)
    return catalog.get(name) if name in catalog.names() else None


def _body(values: dict[str, str], *, dry_run: bool) -> JobSubmit:
    """The API request for the form; a value of the wrong type is a 422 naming the field."""
    mode = values.get("mode", "template")
    data: dict[str, Any] = {"options": blank_to_none(values, OPTION_FIELDS), "dry_run": dry_run}
    if mode == "script":
        data["script"] = values.get("script", "").replace("\r\n", "\n")
    else:
        data["template"] = values.get("template", "")
        data["params"] = {
            key.removeprefix(PARAM_PREFIX): value
            for key, value in values.items()
            if key.startswith(PARAM_PREFIX)
        }
    try:
        return JobSubmit.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest("some fields are not valid", fields=pydantic_fields(exc)) from None


def _run(
    values: dict[str, str], page: PageContext, db: DbSession, gateway: Gateway, clock: Any, *, dry_run: bool
) -> JobOut | DryRunOut:
    body = _body(values, dry_run=dry_run)
    return jobs_api.submit(
        body=body, response=Response(), user=page.user, session=db, gateway=gateway, clock=clock
    )


def _form(
    request: Request,
    page: PageContext,
    gateway: Gateway,
    values: dict[str, str],
    *,
    errors: dict[str, list[str]] | None = None,
    problem: MyriagateError | None = None,
    preview: DryRunOut | None = None,
    status: int = 200,
) -> Response:
    catalog = TemplateCatalog(gateway.settings)
    profile = gateway.profile(gateway.settings.default_cluster)
    template = _template(gateway, values.get("template", ""))
    return render(
        request,
        "submit.html",
        status=status,
        templates=catalog.all(),
        template=template,
        partitions=profile.partitions,
        accounts=page.user.accounts_on(profile.name),
        values=values,
        errors=errors or {},
        problem=problem,
        preview=preview,
    )


@router.get("/submit")
def submit_form(request: Request, page: PageUser, gateway: GatewayDep, template: str = "hello") -> Response:
    values = {"mode": "template", "template": template}
    meta = _template(gateway, template)
    if meta is not None:
        for param in meta.parameters:
            values[PARAM_PREFIX + param.name] = "" if param.default is None else str(param.default)
    accounts = page.user.accounts_on(gateway.settings.default_cluster)
    if len(accounts) == 1:
        values["account"] = accounts[0]
    return _form(request, page, gateway, values)


@router.post("/submit")
async def submit(
    request: Request, page: PageUser, db: DbSession, gateway: GatewayDep, clock: ClockDep
) -> Response:
    values = await form_fields(request)
    dry_run = values.get("action") == "estimate"
    try:
        result = _run(values, page, db, gateway, clock, dry_run=dry_run)
    except InvalidRequest as exc:
        return _form(
            request, page, gateway, values, errors=errors_by_field(exc.fields), problem=exc, status=422
        )
    except MyriagateError as exc:
        # Not about a field (no allocation left, cluster unreachable): shown above the form.
        return _form(request, page, gateway, values, problem=exc, status=exc.http_status)
    if isinstance(result, DryRunOut):
        return _form(request, page, gateway, values, preview=result)
    return see_other(f"/jobs/{result.id}")


@router.post("/submit/estimate")
async def estimate(
    request: Request, page: PageUser, db: DbSession, gateway: GatewayDep, clock: ClockDep
) -> Response:
    """The estimate box alone (HTML fragment), for the page's script as the user types."""
    values = await form_fields(request)
    problem: MyriagateError | None = None
    preview: DryRunOut | None = None
    fields: list[FieldError] = []
    try:
        result = _run(values, page, db, gateway, clock, dry_run=True)
        assert isinstance(result, DryRunOut)
        preview = result
    except MyriagateError as exc:
        problem, fields = exc, list(exc.fields)
    return render(request, "_estimate.html", preview=preview, problem=problem, field_errors=fields)
