"""Every failure of a request in one normal form, and that form as RFC 9457 problem details.

``normalise()`` turns any exception into an ``ErrorReport``: our own errors (``MyriagateError``)
through ``errors.report`` with their stable code, status, field list and headers; FastAPI's
request validation as ``invalid_request`` with the fields; routing's 404/405 and any other
HTTP error in the same shape; a database pool with no free connection as a transient 503;
anything else as a generic 500, logged with its traceback. ``problem_response()`` renders a
report as ``application/problem+json``; ``web.error_responses`` chooses between it and the
HTML error page. The OpenAPI document is post-processed so that every error response says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from myriagate.domain.field_messages import field_message
from myriagate.errors import (
    ConfigError,
    ErrorReport,
    FieldError,
    MyriagateError,
    NotAuthenticated,
    Text,
    report,
)
from myriagate.web import i18n
from myriagate.web.api.schemas import Problem, ProblemFieldOut

log = structlog.get_logger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://myriagate.criann.fr/problems/"

# Routing and HTTP-level errors that do not come from our error tree.
_HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    401: NotAuthenticated.code,
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}

SERVICE_BUSY = ErrorReport(
    status=503,
    code="service_busy",
    title="Service busy",
    detail=Text("the gateway is overloaded (no database connection was free in time); retry shortly"),
    headers={"Retry-After": "5"},
)
NOT_SET_UP = Text(
    "the gateway is not set up for this: its administrators have the details; "
    "quote the request id to the support team"
)
_SETTING_NAME = re.compile(r"\bMYRIAGATE_[A-Z0-9_]+")
INTERNAL_ERROR = ErrorReport(
    status=500,
    code="internal_error",
    title="Internal error",
    detail=Text("the gateway failed to answer; quote the request id to the support team"),
)


def for_callers(detail: str | None, title: str | None = None) -> str | None:
    """A failure's ``detail`` as a caller may read it: one naming a setting of the gateway
    (``MYRIAGATE_…``) says only that the gateway is not set up, after ``title`` if given."""
    if detail is None or not _SETTING_NAME.search(detail):
        return detail
    return f"{title}: {NOT_SET_UP}" if title else NOT_SET_UP


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def request_id_of(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def problem_response(request: Request, failure: ErrorReport) -> ProblemResponse:
    """``failure`` as problem details, with its headers and the request id."""
    request_id = request_id_of(request)
    # The words in the language the caller asked for (the pages' scripts show ``detail``; a
    # client that asks nothing gets English); codes, statuses and fields stay as they are.
    t = i18n.Translator(
        i18n.choose_language(
            request.cookies.get(i18n.LANGUAGE_COOKIE), request.headers.get("accept-language")
        )
    )
    body = Problem(
        type=PROBLEM_TYPE_BASE + failure.code,
        title=t.gettext(failure.title),
        status=failure.status,
        detail=str(t.text(failure.detail)),
        code=failure.code,
        request_id=request_id,
        errors=[ProblemFieldOut(loc=list(f.loc), message=str(t.text(f.message))) for f in failure.fields],
    )
    headers = dict(failure.headers)
    headers["Content-Language"] = t.lang
    if request_id is not None:
        headers.setdefault("X-Request-ID", request_id)
    # Extension members (an ambiguous id's candidates) beside the standard ones, never over them.
    content = {**failure.extensions, **body.model_dump(mode="json")}
    return ProblemResponse(content, status_code=failure.status, headers=headers)


def normalise(request: Request, exc: BaseException) -> ErrorReport:
    """Any exception raised while answering ``request``, in the normal form.

    Server-side failures are logged here, once, whichever way the report is then rendered.
    One exception is not a bug: no database connection freed up in time (the server is
    overloaded). That is a transient 503 the client may retry, not an internal error.
    """
    if isinstance(exc, MyriagateError):
        failure = report(exc)
        if failure.status >= 500:
            log.warning("http.error", code=failure.code, status=failure.status, detail=failure.detail)
        if isinstance(exc, ConfigError) or _SETTING_NAME.search(failure.detail):
            # The gateway's own set-up (setting names, key files) is for its operators, who
            # have it in the log line above: the caller is told it is not theirs to fix.
            failure = replace(failure, detail=NOT_SET_UP)
        return failure
    if isinstance(exc, RequestValidationError):
        return _validation_report(exc)
    if isinstance(exc, StarletteHTTPException):
        return _http_report(request, exc)
    where = {"method": request.method, "path": request.url.path, "request_id": request_id_of(request)}
    if isinstance(exc, sa_exc.TimeoutError):
        log.warning("http.database_busy", **where)
        return SERVICE_BUSY
    log.error("http.unhandled", **where, exc_info=exc)
    return INTERNAL_ERROR


def _validation_fields(errors: Sequence[Any]) -> list[FieldError]:
    fields: list[FieldError] = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        # A body field is named from the body's root (["options", "time"]), as in docs/api.md;
        # query, path and header parameters keep their prefix so the client knows where.
        if loc and loc[0] == "body":
            loc = loc[1:]
        fields.append(FieldError(loc, field_message(error)))
    return fields


def _validation_report(exc: RequestValidationError) -> ErrorReport:
    fields = _validation_fields(exc.errors())
    names = ", ".join(".".join(str(p) for p in f.loc) or "body" for f in fields)
    return ErrorReport(
        status=422,
        code="invalid_request",
        title="Invalid request",
        detail=Text("%(count)s invalid field(s): %(names)s", count=len(fields), names=names),
        fields=tuple(fields),
    )


def _http_report(request: Request, exc: StarletteHTTPException) -> ErrorReport:
    status = exc.status_code
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else ""
    if not detail:
        detail = {
            404: Text("nothing is here; see /api/v1/docs for the routes"),
            405: Text("%(method)s is not allowed here", method=request.method),
        }.get(status, phrase)
    return ErrorReport(
        status=status,
        code=_HTTP_CODES.get(status, f"http_{status}"),
        title=phrase,
        detail=detail,
        headers=dict(exc.headers or {}),
    )


# --- OpenAPI ---------------------------------------------------------------------------
def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the errors it may answer (content is filled in later)."""
    return {status: {"description": HTTPStatus(status).phrase} for status in statuses}


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Every error response of every API route documented as ``application/problem+json``.

    Adds 401 (every API route may refuse an unauthenticated caller) and 500 everywhere, and
    replaces FastAPI's own validation-error schema, which this API never sends.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem_schema.pop("$defs", {}))
    components["Problem"] = problem_schema
    for schema_name in ("HTTPValidationError", "ValidationError"):
        components.pop(schema_name, None)
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: dict[str, Any] = operation["responses"]
            if path.startswith("/api/v1/"):
                responses.setdefault("401", {"description": "Unauthorized"})
            responses.setdefault("500", {"description": "Internal Server Error"})
            for status, response in responses.items():
                if status == "default" or status.startswith(("4", "5")):
                    response["content"] = _problem_content()
    return schema
