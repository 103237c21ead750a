"""Who is looking at a page: the same authentication as the API (``web.auth``), from the
session cookie (or the trusted proxy), with the CSRF token checked on every form post. A user
signed in by the trusted proxy gets a web session opened on their first page view, so their
forms carry a CSRF token like everyone else's.

``PageUser`` is the dependency of every page that needs someone signed in. A visitor without
a session gets NotAuthenticated, which the page error handler turns into a redirect to the
login page (for GET) — the JSON API keeps answering 401 problem details.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from myriagate.errors import PermissionDenied, Text, joined
from myriagate.services.common import authz
from myriagate.services.people.auth import User
from myriagate.web import auth
from myriagate.web.deps import DbSession, SettingsDep


@dataclass(frozen=True)
class PageContext:
    """The signed-in user of a page, their roles and the CSRF token their forms carry."""

    user: User
    roles: list[authz.Role]
    csrf_token: str | None

    def has(self, *roles: authz.Role) -> bool:
        return any(role in self.roles for role in roles)

    @property
    def is_admin(self) -> bool:
        return self.has("university_admin", "platform_admin")


async def page_context(request: Request, db: DbSession, settings: SettingsDep) -> PageContext:
    identity = await auth.authenticate(request, db, settings)
    csrf = identity.web_session.csrf_token if identity.web_session is not None else None
    if identity.method == "proxy":
        # Single sign-on: no login form ran, so the first page opens the web session whose
        # CSRF token the forms carry; ``render`` sets its cookie on the response.
        csrf, opened = await run_in_threadpool(
            auth.web_session_for_proxy, db, request, settings, identity.user
        )
        if opened is not None:
            request.state.opened_web_session = opened
    context = PageContext(user=identity.user, roles=authz.roles_of(identity.user), csrf_token=csrf)
    request.state.page = context  # the layout shows who is signed in, even on error pages
    return context


PageUser = Annotated[PageContext, Depends(page_context)]


# Who a page is for, said on the refusal in the reader's language.
ROLE_NAMES: dict[str, Text] = {
    "researcher": Text("researchers"),
    "project_lead": Text("project leads"),
    "university_admin": Text("university admins"),
    "platform_admin": Text("platform admins"),
}


def require_roles(page: PageContext, *roles: authz.Role) -> None:
    """PermissionDenied (403) unless the user has one of ``roles`` (the API's rule for the page)."""
    if not page.has(*roles):
        raise PermissionDenied(
            Text("this page is for %(roles)s", roles=joined([ROLE_NAMES[r] for r in roles], " / "))
        )
