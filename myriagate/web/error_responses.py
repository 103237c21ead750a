"""Every failed request answered one way: normalised once, then rendered by route kind.

``error_response()`` turns an exception into an ``ErrorReport`` (``problems.normalise``) and
renders it for the kind of route asked for: the API, the probes (``/healthz``, ``/readyz``),
``/metrics``, static assets and clients asking for JSON only get ``application/problem+json``;
page routes get the HTML error page in the reader's language, and someone not signed in who
asks for a page is sent to the login page (and back afterwards). It is the application's
handler for our errors, request validation, HTTP errors and anything else, and the request-id
middleware calls it for an exception that escapes them.
"""

from __future__ import annotations

from dataclasses import replace

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from myriagate.errors import MyriagateError, NotAuthenticated
from myriagate.web.pages.errors import error_page, login_redirect
from myriagate.web.problems import normalise, problem_response

# Routes read by programs: they answer problem details whatever the Accept header says.
_NOT_PAGES = ("/api/", "/static/", "/healthz", "/readyz", "/metrics")


def is_page_request(request: Request) -> bool:
    """A request answered with HTML pages: not a program's route, not a client asking for JSON only."""
    if request.url.path.startswith(_NOT_PAGES):
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept or "json" not in accept


def error_response(request: Request, exc: BaseException) -> Response:
    """``exc`` as problem details or as the HTML error page, whichever the route calls for."""
    failure = normalise(request, exc)
    # An application without pages (or a failure before they were set up) has only JSON.
    if not is_page_request(request) or not hasattr(request.app.state, "page_env"):
        return problem_response(request, failure)
    if isinstance(exc, NotAuthenticated) and request.method in ("GET", "HEAD"):
        return login_redirect(request)
    if isinstance(exc, StarletteHTTPException):
        # Routing errors (no such page, wrong method): the API's detail points programs at
        # /api/v1/docs, which means nothing to a reader; the page's translated title says it.
        failure = replace(failure, detail="")
    return error_page(request, failure)


async def _handle(request: Request, exc: Exception) -> Response:
    return error_response(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every exception a route raises through ``error_response``."""
    for exc_class in (MyriagateError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(exc_class, _handle)
