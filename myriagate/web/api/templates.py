"""``/templates``: the job-script templates and their parameters (help in English and French)."""

from __future__ import annotations

from fastapi import APIRouter

from myriagate.services.jobs.templates import TemplateCatalog, TemplateMeta
from myriagate.web.api.schemas import TemplateDetail, TemplateOut, TemplateParameterOut
from myriagate.web.deps import CurrentUser, GatewayDep
from myriagate.web.problems import problem_responses
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, tags=["templates"])


def _template_out(meta: TemplateMeta) -> TemplateOut:
    return TemplateOut(
        name=meta.name, title=meta.title.model_dump(), description=meta.description.model_dump()
    )


@router.get("/templates", response_model=list[TemplateOut], summary="Job-script templates")
def list_templates(_user: CurrentUser, gateway: GatewayDep) -> list[TemplateOut]:
    return [_template_out(meta) for meta in TemplateCatalog(gateway.settings).all()]


@router.get(
    "/templates/{name}",
    response_model=TemplateDetail,
    responses=problem_responses(404),
    summary="A template with its parameters",
)
def show_template(name: str, _user: CurrentUser, gateway: GatewayDep) -> TemplateDetail:
    meta = TemplateCatalog(gateway.settings).get(name)
    parameters = [
        TemplateParameterOut(
            name=p.name,
            type=p.type,
            default=p.default,
            min=p.min,
            max=p.max,
            choices=list(p.choices) or None,
            required=p.required,
            max_length=p.max_length if p.type == "str" else None,
            help=p.help.model_dump(),
        )
        for p in meta.parameters
    ]
    return TemplateDetail(**_template_out(meta).model_dump(), parameters=parameters)
