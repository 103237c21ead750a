"""Errors of page routes as an HTML page, from the same data as the API's problem details.

The JSON API's handlers stay as they are; each is wrapped so that a request for a page (any
path outside ``/api/``, ``/static/`` and ``/healthz``) gets the error page instead, with the
same status, code, title, detail, field list and request id. Someone not signed in who asks
for a page is sent to the login page, and comes back after logging in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from myriagate.errors import FieldError, MyriagateError, NotAuthenticated, RateLimited
from myriagate.web.pages.rendering import render
from myriagate.web.problems import unhandled_problem

_NOT_PAGES = ("/api/", "/static/", "/healthz")
Handler = Callable[[Request, Exception], Awaitable[Response]]


def is_page_request(request: Request) -> bool:
    """A request answered with HTML pages: not the API, and not a client asking for JSON only."""
    if request.url.path.startswith(_NOT_PAGES):
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept or "json" not in accept


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def error_page(
    request: Request, *, status: int, code: str, title: str, detail: str, fields: tuple[FieldError, ...] = ()
) -> Response:
    return render(
        request,
        "error.html",
        status=status,
        status_code=status,
        code=code,
        title=title,
        detail=detail,
        fields=[(".".join(str(p) for p in f.loc), f.message) for f in fields],
    )


def _page_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, NotAuthenticated) and request.method in ("GET", "HEAD"):
        return login_redirect(request)
    if isinstance(exc, MyriagateError):
        page = error_page(
            request,
            status=exc.http_status,
            code=exc.code,
            title=exc.title,
            detail=exc.detail,
            fields=exc.fields,
        )
        if isinstance(exc, RateLimited):
            page.headers["Retry-After"] = str(exc.retry_after_s)
        return page
    if isinstance(exc, RequestValidationError):
        fields = tuple(FieldError(tuple(e.get("loc", ())), str(e.get("msg", ""))) for e in exc.errors())
        return error_page(
            request, status=422, code="invalid_request", title="Invalid request", detail="", fields=fields
        )
    if isinstance(exc, StarletteHTTPException):
        status = exc.status_code
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        return error_page(request, status=status, code=f"http_{status}", title=phrase, detail="")
    return error_page(
        request,
        status=500,
        code="internal_error",
        title="Internal error",
        detail="the gateway failed to answer; quote the request id to the support team",
    )


def _html_or(original: Handler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        if is_page_request(request):
            return _page_error(request, exc)
        return await original(request, exc)

    return handle


def unhandled_response(request: Request, exc: BaseException) -> Response:
    """A bug (called by the request-id middleware): logged once, then HTML or problem+json."""
    problem = unhandled_problem(request, exc)  # logs the traceback with the request id
    if is_page_request(request) and hasattr(request.app.state, "page_env"):
        return _page_error(request, Exception("unhandled"))
    return problem


def install_html_errors(app: FastAPI) -> None:
    """Wrap the API's problem handlers (installed first) so page routes answer HTML."""
    handlers: dict[Any, Handler] = dict(app.exception_handlers)
    for exc_class in (MyriagateError, RequestValidationError, StarletteHTTPException, Exception):
        original = handlers.get(exc_class)
        if original is not None:
            app.add_exception_handler(exc_class, _html_or(original))
