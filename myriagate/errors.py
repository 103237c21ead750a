"""One error tree for the whole gateway.

Every error carries a stable ``code``, an HTTP status, a CLI exit code and a ``transient``
flag, so the API, the pages and the CLI render the same failure the same way: ``report()``
gives any of them its normal form, an ``ErrorReport``. This module imports nothing of ours.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal


# --- messages a page can say in the reader's language ------------------------------------
@dataclass(frozen=True)
class Number:
    """A quantity for people: ``7635`` -> ``7,635`` here, ``7 635`` on a French page."""

    value: int | Decimal

    def __str__(self) -> str:
        return f"{self.value:,}"


def hours_of(seconds: int) -> Decimal:
    """Core- or GPU-seconds as hours: whole hours from 100 h up, else at most 2 decimals."""
    places = Decimal(1) if abs(seconds) >= 360_000 else Decimal("0.01")
    hours = (Decimal(seconds) / 3600).quantize(places, rounding=ROUND_HALF_EVEN)
    # 12.50 -> 12.5, 3.00 -> 3, never 1E+3
    return hours.quantize(Decimal(1)) if hours == hours.to_integral() else hours.normalize()


def hours_figure(seconds: int) -> Decimal:
    """Core- or GPU-seconds as a figure of hours for programs and reports (the API's
    ``core_hours``, the usage report's column): ``hours_of``, except that an amount that is
    not zero never becomes 0: below 0.005 h it keeps two significant digits (5 s -> 0.0014)."""
    hours = hours_of(seconds)
    if hours == 0 and seconds != 0:
        exact = Decimal(seconds) / 3600
        return exact.quantize(Decimal(1).scaleb(exact.adjusted() - 1), rounding=ROUND_HALF_EVEN).normalize()
    return hours


# The smallest amount of hours people are shown; below it an amount is said as "< 0.01".
SMALLEST_HOURS = Decimal("0.01")


def hours_said(seconds: int, number: Callable[[Decimal], str] = "{:,}".format) -> str:
    """Core- or GPU-seconds as hours for people, the figure written by ``number`` (the reader's
    locale): ``hours_of``'s rounding, except that an amount that is not zero never reads 0 (a
    5-second job's charge was "0 h CPU", issue #15): below 0.005 h it is "< 0.01"."""
    hours = hours_of(seconds)
    if hours == 0 and seconds != 0:
        # A no-break space: "<" never ends a line apart from its figure.
        return ("<\u00a0" if seconds > 0 else ">\u00a0-") + number(SMALLEST_HOURS)
    return number(hours)


@dataclass(frozen=True)
class Hours:
    """Core- or GPU-seconds said as hours (``27_486_000`` -> ``7,635``): never raw seconds."""

    seconds: int

    def __str__(self) -> str:
        return hours_said(self.seconds)


class Text(str):
    """A message in English that keeps its msgid and values, so pages can say it in French.

    It *is* the English text (every caller that joins, compares or prints it sees a plain
    string), and ``web.i18n.Translator`` renders ``msgid`` from the reader's catalog with the
    values formatted for the reader's language (``Number``, ``Hours``, nested ``Text``).
    """

    msgid: str
    values: Mapping[str, object]

    def __new__(cls, msgid: str, /, **values: object) -> Text:
        english = msgid % {k: str(v) for k, v in values.items()} if values else msgid
        made = super().__new__(cls, english)
        made.msgid = msgid
        made.values = values
        return made

    def __reduce__(self) -> tuple[object, ...]:
        return (_text, (self.msgid, dict(self.values)))


def _text(msgid: str, values: dict[str, object]) -> Text:
    return Text(msgid, **values)


def joined(messages: Sequence[str], separator: str = "; ") -> Text:
    """Several messages said one after the other (every problem of a form at once): a page
    says each ``Text`` among them in its language (the joint itself needs no translation)."""
    names = [f"m{i}" for i in range(len(messages))]
    msgid = separator.replace("%", "%%").join(f"%({name})s" for name in names)
    return Text(msgid, **dict(zip(names, messages, strict=True)))


@dataclass(frozen=True)
class FieldError:
    """One invalid field of a request: where it is and what is wrong with it."""

    loc: tuple[str | int, ...]
    message: str


class MyriagateError(Exception):
    """Base of every error the gateway raises on purpose."""

    code: str = "internal_error"
    title: str = "Internal error"
    http_status: int = 500
    exit_code: int = 1
    transient: bool = False
    # The RFC 9457 body, when the error came back from a gateway's API (myriagate.client).
    problem: Mapping[str, object] | None = None

    def __init__(
        self,
        detail: str,
        *,
        fields: Sequence[FieldError] = (),
        transient: bool | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields: tuple[FieldError, ...] = tuple(fields)
        # Extension members of the problem details (RFC 9457 section 3.2), JSON values only.
        self.extensions: dict[str, object] = {}
        if transient is not None:
            self.transient = transient

    def __str__(self) -> str:
        return f"{self.title}: {self.detail}"


# --- bad input: nothing changed -------------------------------------------------------
class InvalidRequest(MyriagateError):
    code = "invalid_request"
    title = "Invalid request"
    http_status = 422
    exit_code = 5


class JobSpecInvalid(InvalidRequest):
    code = "job_spec_invalid"
    title = "Invalid job request"


class ProfileViolation(InvalidRequest):
    code = "profile_violation"
    title = "Not allowed on this cluster"


class UnsafeValue(InvalidRequest):
    code = "unsafe_value"
    title = "Unsafe value"
    value: str | None = None  # the offending value or path, when the raiser knows it (audited)


# --- who you are -----------------------------------------------------------------------
class NotAuthenticated(MyriagateError):
    code = "not_authenticated"
    title = "Not authenticated"
    http_status = 401
    exit_code = 4


class PermissionDenied(MyriagateError):
    code = "permission_denied"
    title = "Permission denied"
    http_status = 403
    exit_code = 4


class CsrfRejected(PermissionDenied):
    """A state-changing request on a web session without the session's CSRF token."""

    code = "csrf_rejected"
    title = "CSRF check failed"


class NotFound(MyriagateError):
    code = "not_found"
    title = "Not found"
    http_status = 404
    exit_code = 3


# --- wrong state -----------------------------------------------------------------------
class Conflict(MyriagateError):
    code = "conflict"
    title = "Conflict"
    http_status = 409
    exit_code = 6


class JobNotCancellable(Conflict):
    code = "job_not_cancellable"
    title = "Job cannot be cancelled"


class AlreadyExists(Conflict):
    code = "already_exists"
    title = "Already exists"


class AmbiguousReference(Conflict):
    """An id prefix that names several of the things the caller may see; the problem's
    ``candidates`` member lists them."""

    def __init__(
        self,
        detail: str,
        *,
        candidates: Sequence[Mapping[str, object]] = (),
        fields: Sequence[FieldError] = (),
        transient: bool | None = None,
    ) -> None:
        super().__init__(detail, fields=fields, transient=transient)
        self.extensions = {"candidates": [dict(c) for c in candidates]}


class AmbiguousJob(AmbiguousReference):
    """A short id or Slurm id that names several of the jobs the caller may see; the
    ``candidates``: id, name, state, cluster, Slurm id, when submitted."""

    code = "ambiguous_job"
    title = "Ambiguous job id"


class AmbiguousDataset(AmbiguousReference):
    """A short dataset id that names several of the datasets the caller may see; the
    ``candidates``: id, name, owner, project, when created."""

    code = "ambiguous_dataset"
    title = "Ambiguous dataset id"


class MemberHasActiveJobs(Conflict):
    """Removing a project member whose jobs are still queued or running in that project, not
    confirmed: they would run on, charged to the project. The problem's ``jobs`` member lists
    them (id, short_id, slurm_job_id, name, state, submitted_at); ``confirm=true`` removes anyway."""

    code = "member_has_active_jobs"
    title = "Member has jobs queued or running"

    def __init__(
        self,
        detail: str,
        *,
        jobs: Sequence[Mapping[str, object]] = (),
        fields: Sequence[FieldError] = (),
        transient: bool | None = None,
    ) -> None:
        super().__init__(detail, fields=fields, transient=transient)
        self.extensions = {"jobs": [dict(j) for j in jobs]}


class ProjectSuspended(Conflict):
    """A submission for a project an admin suspended: refused before anything is written or sent
    (docs/allocations.md); the problem's ``reason`` and ``suspended_at`` say why and since when."""

    code = "project_suspended"
    title = "Project suspended"

    def __init__(self, detail: str, *, reason: str = "", suspended_at: str | None = None,
                 fields: Sequence[FieldError] = ()) -> None:  # fmt: skip
        super().__init__(detail, fields=fields)
        self.extensions = {"reason": reason, "suspended_at": suspended_at}


class InsufficientAllocation(MyriagateError):
    code = "insufficient_allocation"
    title = "Insufficient allocation"
    http_status = 403
    exit_code = 6


class ResidencyViolation(MyriagateError):
    code = "residency_violation"
    title = "Data residency violation"
    http_status = 403
    exit_code = 6


# --- too many requests -----------------------------------------------------------------
class RateLimited(MyriagateError):
    """The caller spent their request budget (per user, or per address for logins): the
    request was not run; ``retry_after_s`` says when the next one will be."""

    code = "rate_limited"
    title = "Too many requests"
    http_status = 429
    exit_code = 75  # sysexits EX_TEMPFAIL: nothing is wrong with the request, try again later
    transient = True

    def __init__(
        self,
        detail: str,
        *,
        retry_after_s: int = 1,
        fields: Sequence[FieldError] = (),
        transient: bool | None = None,
    ) -> None:
        super().__init__(detail, fields=fields, transient=transient)
        self.retry_after_s = max(1, retry_after_s)


# --- cluster or storage side -----------------------------------------------------------
class BackendError(MyriagateError):
    code = "backend_error"
    title = "Cluster error"
    http_status = 502
    exit_code = 7


class SchedulerRejected(BackendError):
    code = "scheduler_rejected"
    title = "Slurm refused the request"
    http_status = 502


class SchedulerUnavailable(BackendError):
    code = "scheduler_unavailable"
    title = "Cluster unavailable"
    http_status = 503
    transient = True


class SubmissionUncertain(SchedulerUnavailable):
    """sbatch may or may not have created the job: look its tag up before retrying."""

    code = "submission_uncertain"
    title = "Submission outcome unknown"


class NotDelivered(BackendError):
    """A test e-mail or webhook delivery the far side did not take (no cluster involved)."""

    code = "not_delivered"
    title = "Not delivered"


class StagingError(BackendError):
    code = "staging_error"
    title = "Data transfer failed"


class ChecksumMismatch(StagingError):
    code = "checksum_mismatch"
    title = "Checksum mismatch"


# --- configuration ---------------------------------------------------------------------
class ConfigError(MyriagateError):
    code = "config_error"
    title = "Configuration error"
    http_status = 500
    exit_code = 78


ALL_ERRORS: tuple[type[MyriagateError], ...] = (
    MyriagateError,
    InvalidRequest,
    JobSpecInvalid,
    ProfileViolation,
    UnsafeValue,
    NotAuthenticated,
    PermissionDenied,
    CsrfRejected,
    NotFound,
    Conflict,
    JobNotCancellable,
    AlreadyExists,
    AmbiguousJob,
    AmbiguousDataset,
    MemberHasActiveJobs,
    ProjectSuspended,
    InsufficientAllocation,
    ResidencyViolation,
    RateLimited,
    BackendError,
    SchedulerRejected,
    SchedulerUnavailable,
    SubmissionUncertain,
    StagingError,
    ChecksumMismatch,
    ConfigError,
)

__all__ = [cls.__name__ for cls in ALL_ERRORS] + [
    "ALL_ERRORS",
    "ErrorReport",
    "FieldError",
    "Hours",
    "Number",
    "Text",
    "hours_figure",
    "hours_of",
    "hours_said",
    "joined",
    "RETRY_TRANSIENT_AFTER_S",
    "report",
]


# How long a client should wait before retrying a transient failure that names no wait itself.
RETRY_TRANSIENT_AFTER_S = 30


@dataclass(frozen=True)
class ErrorReport:
    """One failure in the normal form every rendering starts from.

    The API's problem details, the HTML error page and the CLI's message all show these
    fields; ``headers`` are the HTTP headers the failure calls for (``Retry-After`` when the
    client may try again, ``WWW-Authenticate`` when it must authenticate).
    """

    status: int
    code: str
    title: str
    detail: str
    fields: tuple[FieldError, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    extensions: Mapping[str, object] = field(default_factory=dict)


def report(exc: MyriagateError) -> ErrorReport:
    """``exc`` in the normal form, with the headers its kind calls for."""
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after_s)  # when the budget will allow it
    elif exc.transient:
        headers["Retry-After"] = str(RETRY_TRANSIENT_AFTER_S)
    if isinstance(exc, NotAuthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="myriagate"'
    return ErrorReport(
        exc.http_status, exc.code, exc.title, exc.detail, exc.fields, headers, dict(exc.extensions)
    )
