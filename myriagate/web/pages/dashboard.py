"""The dashboard: my running and recent jobs, my projects' balances, notices."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from myriagate.domain.states import FINAL_STATES, JobState
from myriagate.services import dashboard
from myriagate.services.jobs import queries as jobs_query
from myriagate.web.deps import ClockDep, DbSession, GatewayDep
from myriagate.web.pages.deps import PageUser
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
        notices=dashboard.notices(recent, balances, now=now),
        refresh=bool(running),
    )
