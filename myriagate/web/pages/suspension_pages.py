"""Suspending a project by hand from the pages (docs/web.md, "Suspending a project").

``/projects/{cluster}/{account}/suspension`` shows whether the project is suspended (to its
members, its institution's admins and platform admins) and, to those who may change it, the
confirmation form: a reason, what a suspension does (every new submission refused) and does not
(its jobs queued or running go on, counted on the page). Everything goes through
``services.allocations.suspension`` (its rules and audit). No JavaScript; CSRF as every form.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response

from myriagate.errors import MyriagateError, NotFound, PermissionDenied, Text
from myriagate.services.allocations import suspension as suspensions
from myriagate.web.deps import ClockDep, DbSession
from myriagate.web.pages.deps import PageContext, PageUser
from myriagate.web.pages.forms import errors_by_field, form_fields, see_other
from myriagate.web.pages.rendering import render
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, include_in_schema=False)

_DONE: dict[str, Text] = {
    "suspended": Text("The project is suspended: new submissions for it are refused."),
    "resumed": Text("The suspension is lifted: submissions for the project are accepted again."),
}


def suspension_url(cluster: str, account: str) -> str:
    return f"/projects/{quote(cluster, safe='')}/{quote(account, safe='')}/suspension"


def _page(request: Request, page: PageContext, db: DbSession, cluster: str, account: str,
          status: int = 200, **context: Any) -> Response:  # fmt: skip
    found = suspensions.status(db, page.user, cluster, account)
    return render(request, "suspension.html", status=status, found=found,
                  action=suspension_url(cluster, account), values=context.get("values", {}),
                  errors=context.get("errors", {}), problem=context.get("problem"),
                  notice=context.get("notice"))  # fmt: skip


@router.get("/projects/{cluster}/{account}/suspension")
def suspension_page(
    request: Request, cluster: str, account: str, page: PageUser, db: DbSession, done: str | None = None
) -> Response:
    """Whether the project is suspended, and the form to suspend or resume it for its admins."""
    return _page(request, page, db, cluster, account, notice=_DONE.get(done or ""))


@router.post("/projects/{cluster}/{account}/suspension")
async def change_suspension(
    request: Request, cluster: str, account: str, page: PageUser, db: DbSession, clock: ClockDep
) -> Response:
    values = await form_fields(request)
    resume = values.get("action") == "resume"
    change = suspensions.resume if resume else suspensions.suspend
    try:
        change(db, page.user, cluster, account, reason=values.get("reason", ""), clock=clock, source="web")
    except MyriagateError as exc:
        if isinstance(exc, (PermissionDenied, NotFound)):
            raise  # the project itself (unknown, or not the reader's): the error page
        db.rollback()
        return _page(request, page, db, cluster, account, exc.http_status, values=values,
                     errors=errors_by_field(exc.fields), problem=exc)  # fmt: skip
    return see_other(f"{suspension_url(cluster, account)}?done={'resumed' if resume else 'suspended'}")
