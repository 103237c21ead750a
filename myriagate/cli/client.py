"""An httpx client of the gateway's REST API (``/api/v1``), typed with the API's own schemas.

Problem details (RFC 9457) coming back are turned into our ``MyriagateError`` subclasses by
their stable ``code``, so the CLI reports a server-side refusal exactly as the server meant
it, with the same exit code. The rules themselves live on the server only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from myriagate import __version__
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
from myriagate.web.api.schemas import (
    ClusterDetail,
    ClusterOut,
    DryRunOut,
    JobDetail,
    JobOut,
    JobPage,
    JobSubmit,
    JobSubmitted,
    TemplateDetail,
    TemplateOut,
    TokenCreated,
    TokenIn,
    TokenOut,
    UserOut,
)

API = "/api/v1"
M = TypeVar("M", bound=BaseModel)
Stream = Literal["output", "error"]

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
    if isinstance(exc, RateLimited):
        retry_after = response.headers.get("retry-after", "")
        exc.retry_after_s = max(1, int(retry_after)) if retry_after.isdigit() else 1
        if "retry in" not in exc.detail:  # say how long to wait, whoever refused
            exc.detail = f"{exc.detail}; retry in {exc.retry_after_s} s"
    return exc


class GatewayClient:
    """Typed calls to one gateway. Pass ``http`` to reuse a client (tests pass the app's)."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        http: httpx.Client | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._owns_http = http is None
        self._http = http or httpx.Client(timeout=timeout_s, follow_redirects=False)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- transport --------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
    ) -> httpx.Response:
        headers = {"User-Agent": f"myriagate-cli/{__version__}", "Accept": "application/json"}
        if auth is None:
            if not self.token:
                raise NotAuthenticated("not logged in: run `myriagate login` or set MYRIAGATE_TOKEN")
            headers["Authorization"] = f"Bearer {self.token}"
        url = f"{self.base_url}{API}{path}"
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(
                method, url, json=json, params=clean, headers=headers, auth=auth or httpx.USE_CLIENT_DEFAULT
            )
        except httpx.TimeoutException as exc:
            raise GatewayUnreachable(
                f"{self.base_url} did not answer in time ({type(exc).__name__})"
            ) from exc
        except httpx.TransportError as exc:
            raise GatewayUnreachable(f"cannot reach {self.base_url}: {exc}") from exc
        if response.is_error:
            raise error_from_response(response)
        return response

    def _model(self, model: type[M], response: httpx.Response) -> M:
        try:
            return model.model_validate(response.json())
        except (ValueError, ValidationError) as exc:
            raise BackendError(
                f"{self.base_url} answered {response.request.url.path} with something that is not "
                f"the myriagate API (is the URL right?): {str(exc).splitlines()[0]}"
            ) from exc

    def _list(self, model: type[M], response: httpx.Response) -> list[M]:
        try:
            data = response.json()
            if isinstance(data, dict) and "items" in data:
                data = data["items"]  # a page object; list endpoints without cursors return a list
            return TypeAdapter(list[model]).validate_python(data)  # type: ignore[valid-type]
        except (ValueError, ValidationError) as exc:
            raise BackendError(f"unexpected answer from {response.request.url.path}: {exc}") from exc

    # --- who am I, tokens -----------------------------------------------------------------
    def me(self) -> UserOut:
        return self._model(UserOut, self.request("GET", "/me"))

    def create_token(self, request: TokenIn, *, basic: tuple[str, str] | None = None) -> TokenCreated:
        """A new personal token: with HTTP Basic (username, password) or the current token."""
        auth = httpx.BasicAuth(*basic) if basic is not None else None
        response = self.request("POST", "/tokens", json=request.model_dump(mode="json"), auth=auth)
        return self._model(TokenCreated, response)

    def tokens(self) -> list[TokenOut]:
        return self._list(TokenOut, self.request("GET", "/tokens"))

    def find_token_id(self, secret: str) -> uuid.UUID | None:
        """The id of the listed token whose prefix the secret starts with (None if unsure)."""
        body = secret.partition("_")[2]  # the prefix shown may leave out the `mgt_` marker
        matches = [
            t.id
            for t in self.tokens()
            if t.revoked_at is None and (secret.startswith(t.prefix) or body.startswith(t.prefix))
        ]
        return matches[0] if len(matches) == 1 else None

    def revoke_token(self, token_id: uuid.UUID | str) -> None:
        self.request("DELETE", f"/tokens/{token_id}")

    # --- clusters and templates -------------------------------------------------------------
    def clusters(self) -> list[ClusterOut]:
        return self._list(ClusterOut, self.request("GET", "/clusters"))

    def cluster(self, name: str) -> ClusterDetail:
        return self._model(ClusterDetail, self.request("GET", f"/clusters/{_segment(name)}"))

    def templates(self) -> list[TemplateOut]:
        return self._list(TemplateOut, self.request("GET", "/templates"))

    def template(self, name: str) -> TemplateDetail:
        return self._model(TemplateDetail, self.request("GET", f"/templates/{_segment(name)}"))

    # --- jobs -----------------------------------------------------------------------------
    def submit(self, request: JobSubmit) -> JobSubmitted | DryRunOut:
        response = self.request("POST", "/jobs", json=request.model_dump(mode="json", exclude_none=True))
        if request.dry_run:
            return self._model(DryRunOut, response)
        return self._model(JobSubmitted, response)

    def jobs_page(self, filters: Mapping[str, Any], *, limit: int, cursor: str | None = None) -> JobPage:
        params = {**filters, "limit": limit, "cursor": cursor}
        return self._model(JobPage, self.request("GET", "/jobs", params=params))

    def iter_jobs(
        self, filters: Mapping[str, Any], *, limit: int | None, page_size: int = 200
    ) -> Iterator[JobOut]:
        """Jobs across pages (following ``next_cursor``), at most ``limit`` of them."""
        cursor: str | None = None
        seen = 0
        while True:
            size = page_size if limit is None else min(page_size, limit - seen)
            if size <= 0:
                return
            page = self.jobs_page(filters, limit=size, cursor=cursor)
            for job in page.items:
                yield job
                seen += 1
            if page.next_cursor is None or not page.items:
                return
            cursor = page.next_cursor

    def job(self, job_id: uuid.UUID) -> JobDetail:
        return self._model(JobDetail, self.request("GET", f"/jobs/{job_id}"))

    def cancel(self, job_id: uuid.UUID) -> JobOut:
        response = self.request("POST", f"/jobs/{job_id}/cancel")
        if response.content and "id" in (response.json() or {}):
            return self._model(JobOut, response)
        return self.job(job_id)

    def output_bytes(
        self, job_id: uuid.UUID, *, stream: Stream = "output", max_bytes: int = 65536, task: int | None = None
    ) -> bytes:
        """The last ``max_bytes`` of the job's output (or error) file, as stored."""
        params = {"stream": stream, "max_bytes": max_bytes, "task": task}
        return self.request("GET", f"/jobs/{job_id}/output", params=params).content


def _segment(name: str) -> str:
    """A name as one URL path segment (a slash in it must not change the route)."""
    return quote(name, safe="")


def parse_job_id(text: str) -> uuid.UUID:
    """A job id as typed by a person; a clear exit-5 error otherwise."""
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        raise InvalidRequest(
            f"{text!r} is not a job id (a UUID as printed by `myriagate submit`)",
            fields=[FieldError(("job_id",), "not a UUID")],
        ) from None
