"""Interactive sessions (issue #18): start an app as a job, follow it, stop it.

``POST /interactive/sessions`` submits the app's job (held and charged like any job) and
answers 202 with ``Location``; ``GET`` on the session reads the app's connection file once the
job runs (state ``running``: Connect at ``url``); ``DELETE`` cancels the job. Another user's
session is the same 404 as one that does not exist.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from myriagate.errors import InvalidRequest
from myriagate.scripts.interactive_apps import InteractiveApps
from myriagate.services.interactive.sessions import InteractiveSessions, StartRequest
from myriagate.services.interactive.views import SessionView
from myriagate.web import i18n
from myriagate.web.api.interactive_refs import SessionIdRef
from myriagate.web.api.interactive_schemas import AppOut, SessionOut, SessionStart
from myriagate.web.api.jobs import _point_at_options, _require_known
from myriagate.web.deps import ClockDep, CurrentUser, DbSession, GatewayDep, SubmissionDep
from myriagate.web.problems import problem_responses
from myriagate.web.routing import ReleasingRoute
from myriagate.wiring_interactive import interactive_sessions

router = APIRouter(route_class=ReleasingRoute, tags=["interactive"])


async def get_interactive(
    gateway: GatewayDep, submission: SubmissionDep, clock: ClockDep
) -> InteractiveSessions:
    """The use cases on the app's gateway and clock (tests swap the clock)."""
    return replace(interactive_sessions(gateway), submission=submission, clock=clock)


InteractiveDep = Annotated[InteractiveSessions, Depends(get_interactive)]


def session_out(view: SessionView) -> SessionOut:
    return SessionOut(
        id=view.id, short_id=view.short_id, app=view.app, cluster=view.cluster, state=view.state.value,
        job_id=view.job_id, job_short_id=view.job_short_id, slurm_job_id=view.slurm_job_id,
        job_state=view.job_state.value, exit_code=view.exit_code, reason=view.reason,
        problem=None if view.trouble is None else str(view.trouble), created_at=view.created_at,
        started_at=view.started_at, ended_at=view.ended_at, time_limit_s=view.time_limit_s,
        remaining_s=view.remaining_s, idle_timeout_s=view.idle_timeout_s, stopping=view.stopping,
        url=view.url,
    )  # fmt: skip


@router.get("/interactive/apps", response_model=list[AppOut], summary="The interactive apps one can start")
def apps(request: Request, user: CurrentUser, gateway: GatewayDep) -> list[AppOut]:
    lang = i18n.choose_language(
        request.cookies.get(i18n.LANGUAGE_COOKIE), request.headers.get("accept-language")
    )
    catalog = InteractiveApps(gateway.settings)
    out = []
    for name in catalog.names():
        meta = catalog.get(name)
        title, description = (
            (meta.title.fr, meta.description.fr) if lang == "fr" else (meta.title.en, meta.description.en)
        )
        out.append(AppOut(name=name, title=title, description=description))
    return out


@router.post(
    "/interactive/sessions",
    status_code=202,
    response_model=SessionOut,
    responses=problem_responses(401, 403, 422, 502, 503),
    summary="Start an interactive session (the app runs as a job)",
)
def start(
    body: SessionStart, response: Response, user: CurrentUser, session: DbSession, gateway: GatewayDep,
    sessions: InteractiveDep,
) -> SessionOut:  # fmt: skip
    """Submit the app's job; 202 with ``Location``; the session is ``queued`` until it runs."""
    cluster = body.cluster or gateway.settings.default_cluster
    _require_known(cluster, gateway)
    # sbatch's long names, as a job's options (a flag set to false left out).
    chosen = body.options.model_dump(exclude_none=True)
    overrides: dict[str, str | bool] = {
        k.replace("_", "-"): v if v is True else str(v) for k, v in chosen.items() if v is not False
    }
    request = StartRequest(app=body.app, cluster=cluster, params=body.params, overrides=overrides)
    try:
        view = sessions.start(session, user, request)
    except InvalidRequest as exc:
        raise _point_at_options(exc, overrides) from None
    response.headers["Location"] = f"/api/v1/interactive/sessions/{view.id}"
    return session_out(view)


@router.get("/interactive/sessions", response_model=list[SessionOut], summary="Your interactive sessions")
def list_sessions(user: CurrentUser, session: DbSession, sessions: InteractiveDep) -> list[SessionOut]:
    return [session_out(view) for view in sessions.list(session, user)]


@router.get(
    "/interactive/sessions/{session_id}",
    response_model=SessionOut,
    responses=problem_responses(401, 404, 409, 422, 502, 503),
    summary="One of your interactive sessions, as it stands",
)
def show(
    session_id: SessionIdRef, user: CurrentUser, session: DbSession, sessions: InteractiveDep
) -> SessionOut:
    return session_out(sessions.get(session, user, session_id))


@router.delete(
    "/interactive/sessions/{session_id}",
    response_model=SessionOut,
    responses=problem_responses(401, 404, 409, 422, 502, 503),
    summary="Stop an interactive session (cancels its job)",
)
def stop(
    session_id: SessionIdRef, user: CurrentUser, session: DbSession, sessions: InteractiveDep
) -> SessionOut:
    return session_out(sessions.stop(session, user, session_id))
