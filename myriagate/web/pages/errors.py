"""The HTML error page: one ``ErrorReport`` shown in the reader's language, and the way to login.

The page shows the same data as the API's problem details (status, code, title, detail, field
list, request id) and carries the same headers; the title and the labels are translated.
``web.error_responses`` decides when a failure is answered with this page.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from myriagate.errors import ErrorReport
from myriagate.web.auth import session_cookie
from myriagate.web.pages.rendering import render


def login_redirect(request: Request) -> RedirectResponse:
    """To the login page, which sends the reader back to this page afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def error_page(request: Request, failure: ErrorReport, *, back: str | None = None) -> Response:
    """The error page; ``back`` (a path of this site) is where the refused form was, offered
    before the way to the dashboard."""
    page = render(
        request,
        "error.html",
        status=failure.status,
        status_code=failure.status,
        code=failure.code,
        title=failure.title,
        detail=failure.detail,
        fields=[(".".join(str(p) for p in f.loc), f.message) for f in failure.fields],
        back=back,
        # No credential at all (no session cookie, no Authorization): a page shown only to its
        # owner is offered a way to log in. Whether it exists is not told (the same 404).
        carries_no_credential=_carries_no_credential(request),
    )
    page.headers.update(failure.headers)
    return page


def _carries_no_credential(request: Request) -> bool:
    settings = getattr(getattr(request.app.state, "gateway", None), "settings", None)
    if settings is None or request.headers.get("authorization"):
        return False
    return session_cookie(request, settings) is None
