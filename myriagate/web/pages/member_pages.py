"""A project's members: the list (its leads, its institution's admins, platform admins), adding
by username and removing with a confirmation (docs/web.md, "Project members").

Everything goes through ``services.people.members`` (the memberships API's rules and audit).
Removing always goes through a confirmation page; a member whose jobs are still queued or running
in the project is removed only when that page, which lists those jobs and says they keep running
and are charged to the project, is posted with ``confirm``. Nothing is cancelled. No JavaScript.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Request, Response

from myriagate.errors import MemberHasActiveJobs, MyriagateError, NotFound, Number, PermissionDenied, Text
from myriagate.services.people import members as members_service
from myriagate.services.people import users as people
from myriagate.web.deps import ClockDep, DbSession
from myriagate.web.pages.deps import PageContext, PageUser
from myriagate.web.pages.forms import errors_by_field, form_fields, see_other
from myriagate.web.pages.rendering import render
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, include_in_schema=False)


def members_url(cluster: str, account: str) -> str:
    return f"/projects/{quote(cluster, safe='')}/{quote(account, safe='')}/members"


def _username(db: DbSession, page: PageContext, raw: str | None) -> str | None:
    try:
        return people.get_user(db, page.user, UUID(raw or "")).username
    except (ValueError, NotFound):
        return None


def _notice(
    db: DbSession, page: PageContext, added: str | None, removed: str | None, kept: str | None
) -> Text | None:
    """What the last change did, from the redirect's ids (looked up: no text is reflected)."""
    if (name := _username(db, page, added)) is not None:
        return Text("%(username)s is now a member.", username=name)
    if (name := _username(db, page, removed)) is None:
        return None
    jobs = int(kept) if kept and kept.isascii() and kept.isdigit() and len(kept) < 7 else 0
    if jobs:
        return Text("%(username)s is no longer a member; their %(n)s job(s) queued or running keep running, "
                    "charged to the project unless cancelled.", username=name, n=Number(jobs))  # fmt: skip
    return Text("%(username)s is no longer a member.", username=name)


def _list_page(request: Request, page: PageContext, db: DbSession, cluster: str, account: str,
               status: int = 200, **context: Any) -> Response:  # fmt: skip
    found = members_service.list_members(db, page.user, cluster, account)
    return render(request, "members.html", status=status, found=found, action=members_url(cluster, account),
                  values=context.pop("values", {}), errors=context.pop("errors", {}),
                  problem=context.pop("problem", None), notice=context.pop("notice", None))  # fmt: skip


@router.get("/projects/{cluster}/{account}/members")
def members_page(
    request: Request, cluster: str, account: str, page: PageUser, db: DbSession,
    added: str | None = None, removed: str | None = None, kept: str | None = None,
) -> Response:  # fmt: skip
    """The members, their roles and logins, their jobs queued or running; add and remove forms
    for those who may."""
    return _list_page(request, page, db, cluster, account, notice=_notice(db, page, added, removed, kept))


@router.post("/projects/{cluster}/{account}/members")
async def add_member(
    request: Request, cluster: str, account: str, page: PageUser, db: DbSession, clock: ClockDep
) -> Response:
    values = await form_fields(request)
    try:
        username, role = values.get("username", ""), values.get("role", "researcher")
        membership = members_service.add_member(
            db, page.user, cluster, account, username=username, role=role, clock=clock, source="web"
        )
    except MyriagateError as exc:
        if isinstance(exc, (PermissionDenied, NotFound)) and not exc.fields:
            raise  # the project itself (unknown, or not the reader's): the error page
        db.rollback()
        return _list_page(request, page, db, cluster, account, exc.http_status, values=values,
                          errors=errors_by_field(exc.fields), problem=exc)  # fmt: skip
    return see_other(f"{members_url(cluster, account)}?added={membership.user_id}")


def _member(db: DbSession, page: PageContext, cluster: str, account: str, user_id: UUID) -> Any:
    """The member the reader may remove: 404 if not a member (or not visible), 403 if not theirs."""
    found = members_service.list_members(db, page.user, cluster, account)
    member = next((m for m in found.members if m.user_id == user_id), None)
    if member is None:
        raise NotFound(Text("no such member of %(account)s", account=account))
    if not member.removable:
        raise PermissionDenied(
            Text("only the project's institution's admins and platform admins remove members")
        )
    return member


def _confirm_page(
    request: Request, page: PageContext, db: DbSession, cluster: str, account: str, user_id: UUID,
    status: int = 200, problem: MyriagateError | None = None,
) -> Response:  # fmt: skip
    member = _member(db, page, cluster, account, user_id)
    back = members_url(cluster, account)
    action = f"{back}/{member.user_id}/remove"
    return render(request, "member_remove.html", status=status, member=member, account=account,
                  cluster=cluster, back=back, problem=problem, action=action)  # fmt: skip


@router.get("/projects/{cluster}/{account}/members/{user_id}/remove")
def remove_page(
    request: Request, cluster: str, account: str, user_id: UUID, page: PageUser, db: DbSession
) -> Response:
    """What removing the member means: their jobs queued or running, which keep running."""
    return _confirm_page(request, page, db, cluster, account, user_id)


@router.post("/projects/{cluster}/{account}/members/{user_id}/remove")
async def remove_member(
    request: Request,
    cluster: str,
    account: str,
    user_id: UUID,
    page: PageUser,
    db: DbSession,
    clock: ClockDep,
) -> Response:
    values = await form_fields(request)
    try:
        confirm = values.get("confirm") == "1"
        kept = members_service.remove_member(
            db, page.user, cluster, account, user_id, confirm=confirm, clock=clock, source="web"
        )
    except MemberHasActiveJobs as exc:  # jobs appeared since the page was shown: show them
        db.rollback()
        return _confirm_page(request, page, db, cluster, account, user_id, exc.http_status, exc)
    return see_other(f"{members_url(cluster, account)}?removed={user_id}&kept={len(kept)}")
