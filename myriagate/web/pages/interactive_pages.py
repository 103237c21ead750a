"""``/interactive``: start an interactive app (JupyterLab), follow your sessions, Connect, Stop.

The same use cases as ``/api/v1/interactive/sessions`` (docs/interactive.md): a start is a
submission of the app's job with the form's partition, account, time, cores, memory and GPUs,
the app's own parameters (its Python environment, a module) and the idle timeout the cluster
profile allows. The form shows what the session will hold of the project's hours from the
moment the page opens, as the submit page does (a dry run, ``_estimate.html``; the page's script
asks ``/interactive/estimate`` again as the researcher types). Connect opens
``/interactive/<session id>/`` (the proxy) in a new tab once the session runs; Stop cancels the
job; a session that failed to start says why and links to its job's output. Every form is a
CSRF-checked POST answered by a redirect; a refused start shows the form again with the
problems next to their fields.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response

from myriagate.domain.interactive import IDLE_PARAM, SessionState
from myriagate.errors import FieldError, InvalidRequest, MyriagateError, Text
from myriagate.scripts.interactive_apps import GATEWAY_PARAMS, InteractiveAppMeta, InteractiveApps
from myriagate.services.interactive.sessions import InteractiveSessions, StartRequest
from myriagate.services.interactive.views import SessionView
from myriagate.web.api.allocations import estimate_out
from myriagate.web.api.interactive import InteractiveDep
from myriagate.web.api.submit_schemas import DryRunOut
from myriagate.web.deps import DbSession, GatewayDep
from myriagate.web.pages.deps import PageContext, PageUser
from myriagate.web.pages.forms import errors_by_field, form_fields, see_other
from myriagate.web.pages.rendering import render, translator_for
from myriagate.web.routing import ReleasingRoute
from myriagate.wiring import Gateway

router = APIRouter(route_class=ReleasingRoute, include_in_schema=False)

# The form's fields and the sbatch options they are.
_OPTIONS = {
    "partition": "partition", "account": "account", "time": "time", "cpus_per_task": "cpus-per-task",
    "mem": "mem", "gpus": "gpus",
}  # fmt: skip
PARAM_PREFIX = "param_"  # the app's own parameters (environment, module): param_<name>
DEFAULT_TIME = "1:00:00"
# The sessions' region is read again this often while one waits or starts, and while one runs
# (its time left, and whether it stopped itself).
REFRESH_WAITING_S, REFRESH_RUNNING_S = 3, 30


def _app_fields(meta: InteractiveAppMeta) -> list[Any]:
    """The app's parameters a researcher fills in (not the gateway's, not the idle timeout)."""
    return [p for p in meta.parameters if p.name not in GATEWAY_PARAMS and p.name != IDLE_PARAM]


def _defaults(gateway: Gateway, page: PageContext, sessions: InteractiveSessions, app: str) -> dict[str, str]:
    profile = gateway.profile()
    partition = profile.default_partition
    values = {"app": app, "partition": partition.name if partition else "", "time": DEFAULT_TIME,
              "cpus_per_task": "1", "mem": "", "gpus": "0", "account": ""}  # fmt: skip
    accounts = page.user.accounts_on(profile.name)
    if len(accounts) == 1:
        values["account"] = accounts[0]
    default_idle, _ = sessions.idle_choice(profile.name)
    values[IDLE_PARAM] = str(default_idle)
    catalog = InteractiveApps(gateway.settings)
    if app in catalog.names():
        for param in _app_fields(catalog.get(app)):
            values[PARAM_PREFIX + param.name] = "" if param.default is None else str(param.default)
    return values


def _start_request(values: dict[str, str], gateway: Gateway) -> StartRequest:
    """The form as a start request: the options given, the chosen app's parameters only."""
    overrides: dict[str, str | bool] = {
        opt: values[f].strip() for f, opt in _OPTIONS.items() if values.get(f, "").strip()
    }
    if overrides.get("gpus") == "0":  # no GPU: nothing to ask Slurm
        del overrides["gpus"]
    catalog = InteractiveApps(gateway.settings)
    app = values.get("app", "")
    declared = {p.name for p in catalog.get(app).parameters} if app in catalog.names() else set()
    params: dict[str, str | int] = {
        key.removeprefix(PARAM_PREFIX): value.strip()
        for key, value in values.items()
        if key.startswith(PARAM_PREFIX) and key.removeprefix(PARAM_PREFIX) in declared and value.strip()
    }
    if IDLE_PARAM in declared and values.get(IDLE_PARAM, "").strip():
        params[IDLE_PARAM] = values[IDLE_PARAM].strip()
    return StartRequest(app=app, cluster=gateway.settings.default_cluster, params=params,
                        overrides=overrides, source="web")  # fmt: skip


def _estimate(
    values: dict[str, str], page: PageContext, db: Any, gateway: Gateway, sessions: InteractiveSessions
) -> tuple[DryRunOut | None, MyriagateError | None]:
    """What the session would hold (a dry run), or why the form is not valid yet."""
    try:
        found = sessions.preview(db, page.user, _start_request(values, gateway))
    except MyriagateError as exc:
        return None, exc
    estimate = None if found.estimate is None else estimate_out(found.estimate)
    return DryRunOut(
        cluster=found.cluster, account=found.account, partition=found.partition,
        time_limit_s=found.time_limit_s, sbatch_args=list(found.sbatch_args), script=found.script,
        estimate=estimate,
    ), None  # fmt: skip


def _refresh_s(views: list[SessionView]) -> int | None:
    states = {v.state for v in views}
    if states & {SessionState.QUEUED, SessionState.STARTING} or any(v.stopping for v in views):
        return REFRESH_WAITING_S
    return REFRESH_RUNNING_S if SessionState.RUNNING in states else None


def _page(
    request: Request, page: PageContext, db: Any, gateway: Gateway, sessions: InteractiveSessions,
    values: dict[str, str] | None = None, errors: dict[str, list[str]] | None = None, status: int = 200,
    refused: MyriagateError | None = None,
) -> Response:  # fmt: skip
    views: list[SessionView] = []
    for view in sessions.list(db, page.user):
        # A starting session's connection file is read here, so Connect shows once it answers.
        views.append(sessions.get(db, page.user, view.id) if view.state is SessionState.STARTING else view)
    catalog = InteractiveApps(gateway.settings)
    apps = [(name, catalog.get(name)) for name in catalog.names()]
    if values is None:
        values = _defaults(gateway, page, sessions, apps[0][0] if apps else "")
    preview, problem = _estimate(values, page, db, gateway, sessions)
    profile = gateway.profile()
    chosen = catalog.get(values["app"]) if values.get("app") in catalog.names() else None
    _, max_idle = sessions.idle_choice(profile.name)
    lang = translator_for(request).lang
    return render(
        request, "interactive.html", status=status, sessions=views, apps=apps, values=values,
        errors=errors or {}, preview=preview, plan=None, problem=problem, refused=refused,
        refresh=_refresh_s(views),
        partitions=[(p.name, p.name) for p in profile.partitions],
        accounts=page.user.accounts_on(profile.name),
        app_fields=_app_fields(chosen) if chosen else [], max_idle=max_idle,
        app_titles={name: meta.title.fr if lang == "fr" else meta.title.en for name, meta in apps},
        takes_idle=chosen is not None and any(p.name == IDLE_PARAM for p in chosen.parameters),
    )  # fmt: skip


@router.get("/interactive")
def interactive_page(
    request: Request,
    page: PageUser,
    db: DbSession,
    gateway: GatewayDep,
    sessions: InteractiveDep,
) -> Response:
    return _page(request, page, db, gateway, sessions)


@router.post("/interactive/estimate")
async def interactive_estimate(
    request: Request,
    page: PageUser,
    db: DbSession,
    gateway: GatewayDep,
    sessions: InteractiveDep,
) -> Response:
    """The estimate box alone (HTML fragment), for the page's script as the researcher types."""
    values = await form_fields(request)
    preview, problem = _estimate(values, page, db, gateway, sessions)
    return render(request, "_estimate.html", preview=preview, plan=None, problem=problem)


@router.post("/interactive")
async def interactive_post(
    request: Request,
    page: PageUser,
    db: DbSession,
    gateway: GatewayDep,
    sessions: InteractiveDep,
) -> Response:
    values = await form_fields(request)
    if values.get("action") == "stop":
        try:
            session_id = uuid.UUID(values.get("session", ""))
        except ValueError:
            raise InvalidRequest(
                Text("no interactive session %(session)s", session=values.get("session", ""))
            ) from None
        sessions.stop(db, page.user, session_id, source="web")
        return see_other("/interactive")
    if values.get("action") == "estimate":  # without JavaScript: "Check and estimate"
        return _page(request, page, db, gateway, sessions, values=values)
    try:
        sessions.start(db, page.user, _start_request(values, gateway))
    except InvalidRequest as exc:
        fields = [_form_field(f) for f in exc.fields] or [FieldError(("app",), exc.detail)]
        return _page(request, page, db, gateway, sessions, values=values, errors=errors_by_field(fields),
                     status=422, refused=exc)  # fmt: skip
    except MyriagateError as exc:
        # Not about a field (no hours left, the cluster unreachable): said above the form.
        return _page(request, page, db, gateway, sessions, values=values, status=exc.http_status, refused=exc)
    return see_other("/interactive")


def _form_field(field: FieldError) -> FieldError:
    """A problem with an option (``time``, ``cpus-per-task``) or a parameter shown next to its
    form field; anything else next to the app."""
    if len(field.loc) >= 2 and field.loc[-2] == "params":
        name = str(field.loc[-1])
        return FieldError((name if name == IDLE_PARAM else PARAM_PREFIX + name,), field.message)
    name = str(field.loc[-1]).replace("-", "_") if field.loc else "app"
    return FieldError((name if name in _OPTIONS else "app",), field.message)
