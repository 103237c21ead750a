"""The HTTP layer under ``Client``: one httpx client, the token, errors mapped to ours.

Every call goes through ``request`` (JSON), ``send`` (a raw body, for uploads) or ``stream``
(a body read in chunks, for downloads), so a refusal, an unreachable gateway or an answer
that is not the myriagate API is reported the same way whichever route it came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from myriagate import __version__
from myriagate.client.errors import GatewayUnreachable, error_from_response
from myriagate.errors import BackendError, NotAuthenticated

API = "/api/v1"
M = TypeVar("M", bound=BaseModel)


class Transport:
    """Authenticated calls to one gateway. Pass ``http`` to reuse a client (tests pass the app's)."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        http: httpx.Client | None = None,
        timeout_s: float = 30.0,
        user_agent: str = f"myriagate-python/{__version__}",
        language: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.user_agent = user_agent
        # Sent as Accept-Language: the gateway says its refusals (problem details) in it.
        self.language = language
        self._owns_http = http is None
        # TLS settings matter only for https://. For a plain http:// gateway (a dev machine) the CA
        # bundle httpx would load into an SSL context it never uses costs ~25-50 ms per start.
        tls: dict[str, Any] = {} if self.base_url.startswith("https://") else {"verify": False}
        self._http = http or httpx.Client(timeout=timeout_s, follow_redirects=False, **tls)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _headers(self, accept: str, *, needs_token: bool = True) -> dict[str, str]:
        headers = {"User-Agent": self.user_agent, "Accept": accept}
        if self.language:
            headers["Accept-Language"] = self.language
        if needs_token:
            if not self.token:
                raise NotAuthenticated("not logged in: run `myriagate login` or set MYRIAGATE_TOKEN")
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _unreachable(self, exc: httpx.TransportError) -> GatewayUnreachable:
        if isinstance(exc, httpx.TimeoutException):
            return GatewayUnreachable(f"{self.base_url} did not answer in time ({type(exc).__name__})")
        return GatewayUnreachable(f"cannot reach {self.base_url}: {exc}")

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
    ) -> httpx.Response:
        """A JSON call to ``/api/v1{path}``; a non-2xx answer raises its MyriagateError."""
        headers = self._headers("application/json", needs_token=auth is None)
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(
                method,
                f"{self.base_url}{API}{path}",
                json=json,
                params=clean,
                headers=headers,
                auth=auth or httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.is_error:
            raise error_from_response(response)
        return response

    def send_body(
        self, method: str, path: str, *, content: Iterable[bytes] | bytes, headers: Mapping[str, str]
    ) -> httpx.Response:
        """A call with a raw body (an upload), errors mapped as for ``request``."""
        all_headers = {**self._headers("application/json"), **headers}
        try:
            response = self._http.request(
                method, f"{self.base_url}{API}{path}", content=content, headers=all_headers
            )
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.is_error:
            raise error_from_response(response)
        return response

    @contextmanager
    def stream(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[httpx.Response]:
        """A GET whose body is read in chunks (``response.iter_bytes``), errors mapped as usual.
        ``headers`` are added to the request's own (a ``Range`` to resume a download)."""
        all_headers = {**self._headers("*/*"), **(headers or {})}
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        url = f"{self.base_url}{API}{path}"
        try:
            with self._http.stream("GET", url, params=clean, headers=all_headers) as response:
                if response.is_error:
                    response.read()
                    raise error_from_response(response)
                yield response
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc

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
            # No pydantic dump of the answer for people (issue #15): what was expected, and why.
            raise BackendError(
                f"unexpected answer from {response.request.url.path}: not what this version of "
                "myriagate expects (is the gateway's URL right, and are both up to date?)"
            ) from exc
