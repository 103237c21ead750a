"""The HTTP side of the slurmrestd backend: one pooled httpx client per cluster, a token per
login, and every failure mapped onto the gateway's error tree.

slurmrestd 22.05 answers Slurm's own refusals with HTTP 500 and an ``errors`` list (an invalid
partition: 500, error 2000), and sometimes with 200 and errors (accounting refusing a token:
200, error 1007, no jobs), so the status code alone says little; the ``errors`` list is read on
every answer. What each case becomes:

- connection refused, connect timeout, a proxy's 5xx without Slurm's JSON, Slurm's own
  communication errors (slurmctld or slurmdbd unreachable) → ``SchedulerUnavailable``
  (transient: the caller retries later);
- the request sent but its answer lost (read timeout, connection dropped) → for a submission
  ``SubmissionUncertain`` (the caller looks the tag up before anything else), otherwise
  ``SchedulerUnavailable``;
- 401/403, or Slurm refusing the token (error 1007, ``Protocol authentication error``) →
  ``PermissionDenied``, logged: a forged, expired or mismatched token, or a key that is not the
  cluster's;
- everything else Slurm refuses → ``SchedulerRejected`` with Slurm's own text.

One answer is ambiguous: slurmrestd reports a token slurmctld refused as error -1
(``Unspecified error``) or 5005 (``Zero Bytes were transmitted or received``), which is also
what an unreachable or failing slurmctld can give. Accounting names a refused token plainly
(1007), so the same token is shown to ``/slurmdb/v0.0.38/user/<login>`` once to tell the two
apart (measured on the dev cluster: a token signed with another key, an expired one, and
``bob``'s token under ``alice``'s name all answered -1 or 5005 from the controller's
endpoints and 1007 from accounting's).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

import httpx
import structlog

from myriagate.domain import values
from myriagate.errors import (
    MyriagateError,
    PermissionDenied,
    SchedulerRejected,
    SchedulerUnavailable,
    SubmissionUncertain,
    Text,
)

log = structlog.get_logger(__name__)

Json = Mapping[str, Any]

AUTHENTICATION = 1007  # SLURM_PROTOCOL_AUTHENTICATION_ERROR
ACCESS_DENIED = 2002  # ESLURM_ACCESS_DENIED
# Slurm's errno values for "could not reach or hear from a daemon" (slurm_errno.h).
_UNREACHABLE = frozenset({1001, 1002, 1003, 1004, 1800, 1801, 1802, 1803, 1810, 5004, 7000})
# Of those, the ones where a request may have reached slurmctld before the answer was lost.
_MAYBE_DONE = frozenset({1003, 1802, 5004, 5005})
# A token slurmctld refused reads as one of these (measured: -1 from GET endpoints, 5005 "Zero
# Bytes were transmitted or received" from submit and cancel, for a forged, an expired and a
# borrowed token alike); accounting is then asked, see below.
_AMBIGUOUS = frozenset({-1, 5005})


def error_number(entry: Json) -> int | None:
    # slurmrestd 22.05 names it error_number, error_code or errno depending on the endpoint.
    number = entry.get("error_number", entry.get("error_code", entry.get("errno")))
    return number if isinstance(number, int) else None


def error_text(errors: Collection[Json]) -> str:
    """Slurm's own words: each entry's description (or error), without repeats."""
    said = [str(e.get("description") or e.get("error") or "") for e in errors]
    return "; ".join(dict.fromkeys(s for s in said if s)) or "slurmrestd refused the request"


def _refused(login: str) -> Text:
    return Text("the cluster refused the gateway's credentials for %(login)s", login=login)


def _ambiguous(errors: Collection[Json]) -> bool:
    """Only "unspecified" (-1) or "zero bytes" (5005) errors: what a refused token gives, and
    also what trouble reaching slurmctld can give. A -1 beside a parsing error (9001) is a
    plain refusal of the request, not this."""
    numbers = {error_number(e) for e in errors}
    return bool(numbers) and numbers <= _AMBIGUOUS


class SlurmRestClient:
    """Requests to one slurmrestd, each as a login with a token ``token_for(login)`` gives.

    The httpx client (its connection pool) is shared by every login of the cluster; a token is
    per request, in ``X-SLURM-USER-NAME`` / ``X-SLURM-USER-TOKEN``.
    """

    def __init__(
        self,
        base_url: str,
        token_for: Callable[[str], str],
        *,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._token_for = token_for
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            transport=transport,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
            follow_redirects=False,
            trust_env=False,  # no proxy or .netrc of the gateway's environment in the way
        )

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, login: str, *, params: Mapping[str, str] | None = None) -> Json:
        return self.call("GET", path, login, params=params)

    def call(
        self,
        method: str,
        path: str,
        login: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Json | None = None,
        submit: bool = False,
        tolerate: Collection[int] = (),
    ) -> Json:
        """The answer's JSON; raises the mapped error when Slurm reports any error other than
        those numbered in ``tolerate`` (a submission's answer with a job id never raises)."""
        answer = self._send(method, path, login, params=params, body=body, submit=submit)
        errors = [e for e in answer.get("errors") or [] if isinstance(e, Mapping)]
        if submit and isinstance(answer.get("job_id"), int):
            return answer  # e.g. "Job is in held state": information, not a refusal
        if not errors or all(error_number(e) in tolerate for e in errors):
            return answer
        raise self._refusal(errors, login, path, submit=submit)

    def _send(self, method: str, path: str, login: str, *, params: Any, body: Any, submit: bool) -> Json:
        headers = {"X-SLURM-USER-NAME": values.login(login), "X-SLURM-USER-TOKEN": self._token_for(login)}
        try:
            response = self._http.request(method, path, params=params, json=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise SchedulerUnavailable(f"slurmrestd cannot be reached: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:  # sent, but the answer was lost or late
            what = f"slurmrestd's answer was lost ({type(exc).__name__})"
            raise (SubmissionUncertain(what) if submit else SchedulerUnavailable(what)) from exc
        if response.status_code in (401, 403):
            log.warning("slurmrestd.auth_refused", login=login, path=path, status=response.status_code)
            raise PermissionDenied(_refused(login))
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, Mapping):
            what = f"slurmrestd answered HTTP {response.status_code} without Slurm's JSON"
            if response.status_code >= 500 and submit:
                raise SubmissionUncertain(what)
            raise SchedulerUnavailable(what) if response.status_code >= 500 else SchedulerRejected(what)
        return answer

    def _refusal(self, errors: list[Json], login: str, path: str, *, submit: bool) -> MyriagateError:
        numbers = {error_number(e) for e in errors}
        text = error_text(errors)
        if AUTHENTICATION in numbers or (_ambiguous(errors) and self._token_refused(login)):
            log.warning("slurmrestd.token_refused", login=login, path=path, detail=text)
            return PermissionDenied(_refused(login))
        if _ambiguous(errors) or numbers & _UNREACHABLE:
            if submit and numbers & _MAYBE_DONE:
                return SubmissionUncertain(f"slurmrestd: {text}")
            return SchedulerUnavailable(f"slurmrestd: {text}")
        if ACCESS_DENIED in numbers:
            return PermissionDenied(text)
        return SchedulerRejected(text)

    def _token_refused(self, login: str) -> bool:
        """Whether accounting refuses this login's token (see the module's note)."""
        try:
            answer = self._send(
                "GET", f"/slurmdb/v0.0.38/user/{login}", login, params=None, body=None, submit=False
            )
        except MyriagateError:
            return False
        return any(
            error_number(e) == AUTHENTICATION for e in answer.get("errors") or [] if isinstance(e, Mapping)
        )
