"""Job list (filters and pages), job page (timeline, output tails, cost, staged data, cancel)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response

from myriagate.domain.job_explanations import exit_code_shown
from myriagate.domain.states import JobState
from myriagate.errors import FieldError, InvalidRequest, MyriagateError, Text
from myriagate.services import dashboard
from myriagate.services.common import authz
from myriagate.services.jobs import lookup
from myriagate.services.jobs import queries as jobs_query
from myriagate.services.jobs.cancel import cancel_job
from myriagate.services.jobs.outputs import Stream, output_path, read_output
from myriagate.services.people.auth import User
from myriagate.services.submission import resubmission
from myriagate.web import explanations
from myriagate.web.deps import ClockDep, DbSession, GatewayDep
from myriagate.web.i18n import Translator
from myriagate.web.pages import job_arrays
from myriagate.web.pages.deps import PageUser
from myriagate.web.pages.file_links import job_directory_link
from myriagate.web.pages.forms import see_other
from myriagate.web.pages.job_page_refs import page_job_id
from myriagate.web.pages.rendering import render, translator_for
from myriagate.web.pages.staging_view import job_staging_page
from myriagate.web.pages.wording import STATE_EXPLANATIONS, reason_words, said_words
from myriagate.web.routing import ReleasingRoute
from myriagate.wiring import Gateway

router = APIRouter(route_class=ReleasingRoute, include_in_schema=False)

PAGE_SIZE = 25
TAIL_BYTES = 8192
ARRAY_INDEX_MAX = 4_000_000  # Slurm's largest MaxArraySize is 4000001


def _day(value: str, name: str, *, end: bool = False) -> datetime | None:
    """A date field (YYYY-MM-DD) as the UTC midnight it starts (or the next one, for ``end``)."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(
            Text("%(name)s must be a date like 2026-01-31", name=name),
            fields=[FieldError((name,), Text("not a date"))],
        ) from None
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start + timedelta(days=1) if end else start


@router.get("/jobs")
def list_jobs(
    request: Request,
    page: PageUser,
    db: DbSession,
    state: str = "",
    project: str = "",
    since: str = "",
    until: str = "",
    cursor: str = "",
) -> Response:
    states: tuple[JobState, ...] = ()
    if state:
        try:
            states = (JobState(state),)
        except ValueError:
            unknown = Text("unknown state")
            raise InvalidRequest(unknown, fields=[FieldError(("state",), unknown)]) from None
    filters = jobs_query.JobFilters(
        states=states,
        account=project[:64] or None,
        since=_day(since, "since"),
        until=_day(until, "until", end=True),
    )
    result = jobs_query.list_jobs(db, user=page.user, filters=filters, limit=PAGE_SIZE, cursor=cursor or None)
    t = translator_for(request)
    reasons = {v.job.id: explanations.said(v.job, t) for v in result.items}
    projects = sorted({m.slurm_account for m in page.user.memberships})
    return render(
        request,
        "jobs.html",
        jobs=result.items,
        reasons=reasons,
        next_cursor=result.next_cursor,
        paged=bool(cursor),
        states=[s.value for s in JobState],
        projects=projects,
        values={"state": state, "project": project, "since": since, "until": until},
    )


def _tails(
    gateway: Gateway, db: DbSession, job_id: UUID, user: User, cluster: str, streams: tuple[Stream, ...]
) -> dict[str, str]:
    """The end of the output and error files; a cluster problem is shown, not raised."""
    tails: dict[str, str] = {}
    for stream in streams:
        try:
            data = read_output(
                db, job_id=job_id, user=user, backends=gateway.backends(cluster), stream=stream,
                max_bytes=TAIL_BYTES,
            )  # fmt: skip
        except MyriagateError as exc:
            tails[stream + "_problem"] = exc.detail
        else:
            tails[stream] = data.decode("utf-8", "replace")
    return tails


def _why(job: jobs_query.JobDetailRecord, t: Translator) -> dict[str, Any]:
    """Why the job waits or how it ended (``_job_reason.html``) and its exit code or signal:
    Slurm's reasons and endings in plain words, as the API and the CLI say them; the gateway's
    own reasons (staging, a submission looked up again) keep their wording."""
    explained = explanations.said(job, t)
    return {
        "explanation": explained,
        "current_reason": None if explained else said_words(reason_words(job.reason), t),
        "exit_code_shown": exit_code_shown(job.state, job.exit_code, job.signal),
        "ended_by": explanations.ended_by(job, t),
    }


@router.get("/jobs/{job_id}")
def show_job(
    job_id: Annotated[str, Path(max_length=lookup.MAX_REF_LENGTH)],
    request: Request,
    page: PageUser,
    db: DbSession,
    gateway: GatewayDep,
    task: Annotated[int | None, Query(ge=0, le=ARRAY_INDEX_MAX)] = None,
) -> Response:
    found = page_job_id(db, page.user, job_id, task)  # a short or Slurm id: sent to the full id
    if isinstance(found, Response):
        return found
    view = jobs_query.get_job_detail(db, job_id=found, user=page.user)
    job = view.job
    can_act = authz.can_act_on_job(page.user, job)
    tails: dict[str, str] = {}
    # Without --error, Slurm writes errors into the output file: show that file once.
    separate_error = output_path(job, "error") != output_path(job, "output")
    if can_act and job.array_task_count is None and job.slurm_job_id is not None:
        streams: tuple[Stream, ...] = ("output", "error") if separate_error else ("output",)
        tails = _tails(gateway, db, found, page.user, job.cluster, streams)
        # Read again: reading the files may have learnt the job's directory, which the page shows.
        view = jobs_query.get_job_detail(db, job_id=found, user=page.user)
        job = view.job
    arrays = job_arrays.array_context(
        gateway, db, job=job, user=page.user, can_act=can_act, task=task, max_bytes=TAIL_BYTES
    )
    t = translator_for(request)
    if arrays["array"] is not None:
        arrays["array_summary"] = job_arrays.localized_summary(t, arrays["array"].counts)
    history = [
        (
            change,
            said_words(reason_words(_said_reason(change.reason, change.to_state)), t),
            STATE_EXPLANATIONS.get(change.to_state.value),
        )
        for change in view.history
    ]
    staging = job_staging_page(
        db, job=job, user=page.user, profile=gateway.profile(job.cluster),
        allowed_regions=gateway.settings.allowed_regions,
    )  # fmt: skip
    return render(
        request,
        "job.html",
        view=view,
        job=job,
        history=history,
        **_why(job, translator_for(request)),
        staging=staging,
        can_act=can_act,
        cancellable=can_act and not job.state.is_final and job.cancel_requested_at is None,
        resubmittable=resubmission.can_copy(db, job_id=found, user=page.user),
        tails=tails,
        separate_error=separate_error,
        charges=dashboard.job_charges(db, job.id),
        refresh=not job.state.is_final,
        files_link=job_directory_link(gateway, page.user, job.cluster, job.cluster_login, job.work_dir),
        **arrays,
    )


@router.post("/jobs/{job_id}/cancel")
def cancel(job_id: UUID, page: PageUser, db: DbSession, gateway: GatewayDep, clock: ClockDep) -> Response:
    """The same cancel as the API; the page then shows the job with its cancel requested."""
    view = jobs_query.get_job(db, job_id=job_id, user=page.user)
    cancel_job(db, job_id=job_id, user=page.user, backends=gateway.backends(view.job.cluster), clock=clock)
    return see_other(f"/jobs/{job_id}")


def _said_reason(reason: str | None, state: JobState) -> str | None:
    """Slurm's reason ``None`` means "waiting for the scheduler" only for a waiting job; squeue
    prints it for every running job too, where it says nothing (issue #15: "running — waiting
    for the scheduler (None)" on a job page)."""
    return None if reason == "None" and state is not JobState.PENDING else reason
