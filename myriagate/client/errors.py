"""Problem details (RFC 9457) coming back from the API, as our ``MyriagateError`` subclasses.

A refusal is raised as the class its stable ``code`` names (``InsufficientAllocation``,
``NotFound``, …), so a script catches exactly what the server meant and the CLI exits with the
documented code. The problem body itself stays on the error as ``problem`` (its
``request_id`` is what an operator asks for), its extension members as ``extensions`` and
the HTTP status as ``http_status``.
"""

from __future__ import annotations

from typing import Any

import httpx

from myriagate.errors import (
    ALL_ERRORS,
    BackendError,
    Conflict,
    FieldError,
    InvalidRequest,
    MyriagateError,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RateLimited,
    SchedulerUnavailable,
)

_BY_CODE: dict[str, type[MyriagateError]] = {cls.code: cls for cls in ALL_ERRORS}
# When a server (or a proxy in front of it) answers without a known code.
_BY_STATUS: dict[int, type[MyriagateError]] = {
    400: InvalidRequest,
    401: NotAuthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: InvalidRequest,
    429: RateLimited,  # the gateway's budget, or nginx's limit_req in front of it
    502: BackendError,
    503: SchedulerUnavailable,
    504: SchedulerUnavailable,
}


_STANDARD_MEMBERS = frozenset(
    {"type", "title", "status", "detail", "instance", "code", "request_id", "errors"}
)


class GatewayUnreachable(SchedulerUnavailable):
    """The gateway itself did not answer (DNS, refused connection, timeout, TLS)."""

    code = "gateway_unreachable"
    title = "Gateway unreachable"


def error_from_response(response: httpx.Response) -> MyriagateError:
    """The MyriagateError a non-2xx answer stands for (problem+json when the server sent one)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    problem: dict[str, Any] = body if isinstance(body, dict) else {}
    code = problem.get("code")
    cls = _BY_CODE.get(code) if isinstance(code, str) else None
    if cls is None:
        cls = _BY_STATUS.get(
            response.status_code, BackendError if response.status_code >= 500 else MyriagateError
        )
    fallback = f"HTTP {response.status_code} {response.reason_phrase} (not from the myriagate API)"
    detail = problem.get("detail") or problem.get("title") or fallback
    fields = [
        FieldError(tuple(item.get("loc") or ()), str(item.get("message", "")))
        for item in problem.get("errors") or ()
        if isinstance(item, dict)
    ]
    exc = cls(str(detail), fields=fields)
    if isinstance(problem.get("title"), str):
        exc.title = problem["title"]  # the server's wording wins over the class default
    exc.http_status = response.status_code
    exc.problem = problem or None
    # Members beyond RFC 9457's and ours (an ambiguous job's "candidates"), as the server set them.
    exc.extensions = {k: v for k, v in problem.items() if k not in _STANDARD_MEMBERS}
    if isinstance(exc, RateLimited):
        retry_after = response.headers.get("retry-after", "")
        exc.retry_after_s = max(1, int(retry_after)) if retry_after.isdigit() else 1
        if "retry in" not in exc.detail:  # say how long to wait, whoever refused
            exc.detail = f"{exc.detail}; retry in {exc.retry_after_s} s"
    return exc
