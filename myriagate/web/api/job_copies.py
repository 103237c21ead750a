"""``GET /jobs/{job_id}/resubmission``: one of your jobs as a new submission ("Submit again").

Only a request body comes back (``services.submission.resubmission``): the CLI posts it, with
the researcher's changes, to ``POST /jobs``, and the submit form is filled in with it; so a
copy is checked, held and sent exactly as a first submission, and a GET never submits.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from myriagate.services.submission.resubmission import JobCopy, copy_of
from myriagate.web import i18n
from myriagate.web.api.job_refs import JobIdRef
from myriagate.web.api.staging_schemas import StagingIn
from myriagate.web.api.submit_schemas import JobCopyOut
from myriagate.web.deps import CurrentUser, DbSession, GatewayDep
from myriagate.web.problems import problem_responses
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, tags=["jobs"])


def staging_of(copy: JobCopy) -> StagingIn | None:
    """The copy's ``staging`` request, or None when the job staged nothing that can be copied."""
    if not (copy.input_datasets or copy.output_patterns):
        return None
    return StagingIn(
        input_datasets=list(copy.input_datasets), output_patterns=list(copy.output_patterns), store=copy.store
    )


@router.get(
    "/jobs/{job_id}/resubmission",
    response_model=JobCopyOut,
    responses=problem_responses(404, 409, 422),
    summary="One of your jobs as a new submission (nothing is submitted)",
)
def resubmission(
    job_id: JobIdRef, request: Request, user: CurrentUser, session: DbSession, gateway: GatewayDep
) -> JobCopyOut:
    """Your job's script as written, the options it was sent with and its staging settings,
    ready for ``POST /jobs`` (a job that timed out gets twice its time limit, capped by its
    partition's maximum). Another user's job, or an interactive session's, answers 404 as a
    missing one."""
    profiles = gateway.profiles
    copy = copy_of(
        session,
        job_id=job_id,
        user=user,
        profile=lambda name: gateway.profile(name) if name in profiles else None,
    )
    t = i18n.Translator(
        i18n.choose_language(
            request.cookies.get(i18n.LANGUAGE_COOKIE), request.headers.get("accept-language")
        )
    )
    return JobCopyOut(
        job_id=copy.job_id,
        cluster=copy.cluster,
        script=copy.script,
        options=copy.options,
        staging=staging_of(copy),
        suggested_time=copy.suggested_time,
        notices=[str(t.text(n)) for n in copy.notices],
        had_uploaded_files=copy.had_uploads,
    )
