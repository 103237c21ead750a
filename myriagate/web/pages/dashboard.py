"""The dashboard: my running and recent jobs, my projects' balances, notices."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from myriagate.domain.states import FINAL_STATES, JobState
from myriagate.services import dashboard
from myriagate.services.jobs import queries as jobs_query
from myriagate.web.deps import ClockDep, DbSession, GatewayDep, SettingsDep
from myriagate.web.pages import dismissed_notices
from myriagate.web.pages.deps import PageUser
from myriagate.web.pages.forms import form_fields, see_other
from myriagate.web.pages.rendering import render
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, include_in_schema=False)

RECENT_JOBS = 10
UNFINISHED = tuple(s for s in JobState if s not in FINAL_STATES)


@router.get("/")
def show_dashboard(
    request: Request, page: PageUser, db: DbSession, clock: ClockDep, gateway: GatewayDep
) -> Response:
    user = page.user
    now = clock.now()
    mine = jobs_query.JobFilters(owner=user.username)
    running = jobs_query.list_jobs(
        db, user=user, filters=jobs_query.JobFilters(owner=user.username, states=UNFINISHED), limit=50
    ).items
    recent = jobs_query.list_jobs(db, user=user, filters=mine, limit=RECENT_JOBS).items
    balances = dashboard.my_balances(db, user, at=now, ledger=gateway.ledger)
    return render(
        request,
        "dashboard.html",
        running=running,
        recent=[v for v in recent if v.job.state in FINAL_STATES],
        balances=balances,
        notices=dashboard.notices(recent, balances, now=now, dismissed=dismissed_notices.dismissed(request)),
        refresh=bool(running),
    )


@router.post("/notices/dismiss")
async def dismiss_notices(request: Request, page: PageUser, settings: SettingsDep) -> Response:
    """Hide the notices of the posted jobs (space-separated ids) in this browser, then back to
    the dashboard; app.js posts the same form and removes the notice without a reload."""
    fields = await form_fields(request)
    ids = dismissed_notices.parse_ids(fields.get("jobs", "").split()[: dismissed_notices.MAX_IDS])
    response = see_other("/")
    before = dismissed_notices.dismissed(request)
    dismissed_notices.remember(response, before, ids, secure=settings.secure_cookies)
    return response
