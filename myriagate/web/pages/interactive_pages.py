"""``/interactive``: start an interactive app (JupyterLab), follow your sessions, Connect, Stop.

The same use cases as ``/api/v1/interactive/sessions`` (docs/interactive.md): a start is a
submission of the app's job with the form's partition, time, cores and memory; Connect opens
``/interactive/<session id>/`` (the proxy) in a new tab once the session runs; Stop cancels the
job. Every form is a CSRF-checked POST answered by a redirect; a refused start shows the form
again with the problems next to their fields.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request, Response

from myriagate.domain.interactive import SessionState
from myriagate.errors import FieldError, InvalidRequest, Text
from myriagate.scripts.interactive_apps import InteractiveApps
from myriagate.services.interactive.sessions import InteractiveSessions, SessionView, StartRequest
from myriagate.web.deps import ClockDep, DbSession, GatewayDep, SubmissionDep
from myriagate.web.pages.deps import PageUser
from myriagate.web.pages.forms import errors_by_field, form_fields, see_other
from myriagate.web.pages.rendering import render
from myriagate.web.routing import ReleasingRoute
from myriagate.wiring import Gateway
from myriagate.wiring_interactive import interactive_sessions

router = APIRouter(route_class=ReleasingRoute, include_in_schema=False)

# The form's fields and the sbatch options they are.
_OPTIONS = {"partition": "partition", "time": "time", "cpus_per_task": "cpus-per-task", "mem": "mem"}


def _sessions(gateway: Gateway, submission: Any, clock: Any) -> InteractiveSessions:
    return replace(interactive_sessions(gateway), submission=submission, clock=clock)


def _page(
    request: Request, page: PageUser, db: Any, gateway: Gateway, sessions: InteractiveSessions, **context: Any
) -> Response:
    views: list[SessionView] = []
    for view in sessions.list(db, page.user):
        # A starting session's connection file is read here, so Connect shows once it answers.
        views.append(sessions.get(db, page.user, view.id) if view.state is SessionState.STARTING else view)
    catalog = InteractiveApps(gateway.settings)
    apps = [(name, catalog.get(name)) for name in catalog.names()]
    profile = gateway.profile()
    context.setdefault("values", {"app": "jupyter", "partition": profile.slurm.default_partition or "",
                                  "time": "1:00:00", "cpus_per_task": "1", "mem": ""})  # fmt: skip
    context.setdefault("errors", {})
    partitions = [(p.name, p.name) for p in profile.partitions]
    return render(request, "interactive.html", sessions=views, apps=apps, partitions=partitions, **context)


@router.get("/interactive")
def interactive_page(
    request: Request,
    page: PageUser,
    db: DbSession,
    gateway: GatewayDep,
    submission: SubmissionDep,
    clock: ClockDep,
) -> Response:
    return _page(request, page, db, gateway, _sessions(gateway, submission, clock))


@router.post("/interactive")
async def interactive_post(
    request: Request,
    page: PageUser,
    db: DbSession,
    gateway: GatewayDep,
    submission: SubmissionDep,
    clock: ClockDep,
) -> Response:
    values = await form_fields(request)
    sessions = _sessions(gateway, submission, clock)
    if values.get("action") == "stop":
        try:
            session_id = uuid.UUID(values.get("session", ""))
        except ValueError:
            raise InvalidRequest(
                Text("no interactive session %(session)s", session=values.get("session", ""))
            ) from None
        sessions.stop(db, page.user, session_id, source="web")
        return see_other("/interactive")
    overrides: dict[str, str | bool] = {
        opt: values[f].strip() for f, opt in _OPTIONS.items() if values.get(f, "").strip()
    }
    start = StartRequest(app=values.get("app", ""), cluster=gateway.settings.default_cluster, params={},
                         overrides=overrides, source="web")  # fmt: skip
    try:
        sessions.start(db, page.user, start)
    except InvalidRequest as exc:
        fields = [_form_field(f) for f in exc.fields] or [FieldError(("app",), exc.detail)]
        return _page(request, page, db, gateway, sessions, values=values, errors=errors_by_field(fields))
    return see_other("/interactive")


def _form_field(field: FieldError) -> FieldError:
    """A problem with an option (``time``, ``cpus-per-task``) shown next to its form field."""
    name = str(field.loc[-1]).replace("-", "_") if field.loc else "app"
    return FieldError((name if name in _OPTIONS else "app",), field.message)
